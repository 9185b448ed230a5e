"""The registry of phases, in order: what the runner, the rollback, the notebook generator,
lint and the CLI read. Each phase folder (pNN_name/) holds its whole story; base.py holds the
contract it implements (see docs/design.md, "Adding a phase")."""

from __future__ import annotations

from .base import Phase, deploy, deploy_selected, outcomes_frame, plan_frame, revert, unknown  # noqa: F401
from .p00_preflight import Preflight
from .p01_foundation import Foundation
from .p02_audit_unification import AuditUnification
from .p03_relationships import Relationships

PHASES: list[Phase] = [Preflight(), Foundation(), AuditUnification(), Relationships()]

__all__ = ["PHASES", "Phase", "created_schemas", "created_tables", "created_views", "renamed_tables", "table_now", "deploy", "deploy_selected", "get", "later_phases", "names", "outcomes_frame",
           "plan_frame", "revert", "run_figures", "flag_state"]


def names() -> list[str]:
    return [p.name for p in PHASES]


def get(name: str) -> Phase:
    """'01_foundation', '01', '1', 'foundation' or '01_foundation.ipynb' -> the phase."""
    key = name.strip().removesuffix(".ipynb")
    for p in PHASES:
        num, _, short = p.name.partition("_")
        if key in (p.name, num, short) or (key.isdigit() and int(key) == int(num)):
            return p
    raise unknown(name, names())


def created_tables() -> list[str]:
    """The tables of public that the phases create, as they declare them (Phase.creates_tables)."""
    return [t for p in PHASES for t in p.creates_tables]


def created_schemas() -> list[str]:
    """The schemas the phases create besides public and the ledger's (Phase.creates_schemas)."""
    return [s for p in PHASES for s in p.creates_schemas]


def created_views() -> list[str]:
    """The views of public with fixed names that the phases create (Phase.creates_views)."""
    return [v for p in PHASES for v in p.creates_views]


def renamed_tables() -> list[tuple[str, str]]:
    """(legacy name, new name) of every legacy table a phase renames (Phase.renames_tables)."""
    return [r for p in PHASES for r in p.renames_tables]


def table_now(conn, legacy_name: str) -> str:
    """The name the legacy table ``legacy_name`` has now: its new name once a phase renamed it
    (the legacy name is then a view), else the legacy name. For what needs the table itself: a
    foreign key, DDL, the catalog's columns."""
    from ..db import end_read
    new = dict(renamed_tables()).get(legacy_name)
    if new is None:
        return legacy_name
    kinds = dict(conn.execute(
        "SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname IN (%s, %s)", (legacy_name, new)).fetchall())
    end_read(conn)
    return new if kinds.get(legacy_name) not in ("r", "p") and kinds.get(new) in ("r", "p") else legacy_name


def later_phases(name: str) -> list[Phase]:
    idx = names().index(get(name).name)
    return PHASES[idx + 1:]


def run_figures(conn, run_id: str, phase_name: str) -> dict:
    """The key figures a phase recorded in this run (the latest value of each), for the
    manifest and the run summary."""
    try:
        ph = get(phase_name)
    except Exception:  # noqa: BLE001 - not a phase (the rollback notebook)
        return {}
    if not ph.figures or not conn.execute("SELECT to_regclass('cqms_migration.metrics') IS NOT NULL").fetchone()[0]:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (name) name, value FROM cqms_migration.metrics WHERE run_id = %s AND phase = %s "
        "AND name = ANY(%s) ORDER BY name, id DESC", (run_id, ph.name, list(ph.figures))).fetchall()
    return {name: value for name, value in rows}


def flag_state(conn, phase_name: str) -> dict | None:
    """{name, enabled} of the phase's feature flag as the ledger says now (None: no flag)."""
    try:
        ph = get(phase_name)
    except Exception:  # noqa: BLE001 - not a phase
        return None
    if not ph.flag or not conn.execute("SELECT to_regclass('cqms_migration.feature_flags') IS NOT NULL").fetchone()[0]:
        return None
    row = conn.execute("SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (ph.flag,)).fetchone()
    return {"name": ph.flag, "enabled": bool(row and row[0])}
