"""Helpers shared by the phase-2 test files (test_audits*.py)."""

from __future__ import annotations

import uuid

import yaml
from psycopg import sql

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.paths import params_dir
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from helpers import one  # noqa: F401 - re-exported for the phase-2 tests

PHASE = p2.PHASE
BUILD = p2.BUILD_STEPS


def write_params(tmp_path, **changes) -> str:
    data = yaml.safe_load((params_dir() / "local.yaml").read_text())
    data.update(changes)
    path = tmp_path / f"local-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def deploy_p1() -> None:
    with PhaseContext("01_foundation", env="local") as ctx:
        phases.deploy(ctx, p1.steps(ctx))


def deploy_p2(names=tuple(BUILD), params_file=None, **kw) -> list:
    with PhaseContext(PHASE, env="local", params_file=params_file, **kw) as ctx:
        return phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in names])


def validate_now(params_file=None) -> p2.Validation:
    with PhaseContext(PHASE, env="local", params_file=params_file) as ctx:
        return p2.validate(ctx.conn, p2.migratable(ctx))




def ident(name: str) -> sql.Identifier:
    return sql.Identifier("public", name)


def counts(conn, table: str) -> tuple[int, int, int]:
    legacy = one(conn, sql.SQL("SELECT count(*) FROM {}").format(ident(table)))
    migrated = one(conn, "SELECT count(*) FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL", (table,))
    quarantined = one(conn, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                      (PHASE, table))
    return legacy, migrated, quarantined


def exists(conn, relation: str) -> bool:
    return one(conn, "SELECT to_regclass(%s) IS NOT NULL", (relation,))


def columns(conn, relation: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position", (relation,)).fetchall()]


def dynamic_tables(conn) -> list[str]:
    """Tables named by a scorecard that exist, found with catalog SQL written here."""
    return [r[0] for r in conn.execute(
        "SELECT s.table_name FROM public.scorecards s JOIN pg_class c ON c.relname = s.table_name "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' AND c.relkind = 'r' "
        "ORDER BY 1").fetchall()]


def deploy_cutover() -> None:
    """Phases 01 and 02 built, phase 02 cut over (its reverse sync on, its flag on)."""
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)


def param_column(c, table: str = "chat_audit") -> str:
    """A parameter column of the table that its scorecard names (the first by field id)."""
    return one(c, "SELECT field_id FROM public.scorecard_perameters sp JOIN public.scorecards s ON s.id = sp.scorecard_id "
                  "WHERE s.table_name = %s AND coalesce(sp.is_active, true) AND EXISTS (SELECT 1 FROM "
                  "information_schema.columns WHERE table_name = %s AND column_name = sp.field_id) "
                  "ORDER BY sp.field_id LIMIT 1", (table, table))


def tamper(db, statement: str, params=()) -> int:
    """As the platform's superuser with triggers off: no sync, no version bump."""
    with db.admin(autocommit=True) as a:
        a.execute("SET session_replication_role = replica")
        return a.execute(statement, params).rowcount
