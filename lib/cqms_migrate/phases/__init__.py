"""The phases, in order. Each phase folder holds its whole story: the Python module that
lists its steps, and deploy/ verify/ revert/ SQL named after each step."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import PhaseOrderError
from ..steps import Executor, Step, StepOutcome

if TYPE_CHECKING:  # pragma: no cover
    from ..context import PhaseContext

PHASES_DIR = Path(__file__).resolve().parent


@dataclass
class Phase:
    name: str          # '01_foundation' — also the notebook's file name
    title: str
    module: str        # python module under cqms_migrate.phases holding steps()
    flag: str | None = None
    figures: tuple[str, ...] = ()   # metrics (cqms_migration.metrics) the run summary shows

    def _mod(self):
        return importlib.import_module(f"cqms_migrate.phases.{self.module}")

    def steps(self, ctx: "PhaseContext") -> list[Step]:
        steps = self._mod().steps(ctx)
        for i, s in enumerate(steps, start=1):
            s.ordinal = i
        return steps

    @property
    def directory(self) -> Path:
        return PHASES_DIR / self.module


PHASES: list[Phase] = [
    Phase("00_preflight", "Preflight: inventory, data quality, go/no-go", "p00_preflight"),
    Phase("01_foundation", "Foundation: reference tables, employees, compat views", "p01_foundation",
          flag="USE_UNIFIED_EMPLOYEES_TABLE"),
    Phase("02_audit_unification", "Audit unification: one audits table, synced, reconciled, reversible",
          "p02_audit_unification", flag="USE_UNIFIED_AUDITS_TABLE", figures=("backfill_throughput",)),
]


def run_figures(conn, run_id: str, phase_name: str) -> dict:
    """The key figures a phase recorded in this run (the latest value of each), for the
    manifest and the run summary."""
    try:
        ph = get(phase_name)
    except PhaseOrderError:
        return {}
    if not ph.figures or not conn.execute("SELECT to_regclass('cqms_migration.metrics') IS NOT NULL").fetchone()[0]:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (name) name, value FROM cqms_migration.metrics WHERE run_id = %s AND phase = %s "
        "AND name = ANY(%s) ORDER BY name, id DESC", (run_id, ph.name, list(ph.figures))).fetchall()
    return {name: value for name, value in rows}


def summary_lines(figures: dict) -> list[str]:
    """One line per key figure, for the terminal summary of a run."""
    out = []
    bt = figures.get("backfill_throughput")
    if bt:
        line = f"backfill: {bt.get('rows', 0):,} rows at {bt.get('rows_per_s') or 0:,} rows/s"
        if bt.get("unbatched_rows_per_s"):
            line += (f"; the same work unbatched {bt['unbatched_rows_per_s']:,} rows/s "
                     f"(backfill/unbatched {bt.get('backfill_over_unbatched')})")
        if bt.get("raw_copy_rows_per_s"):
            line += f"; raw copy of the rows {bt['raw_copy_rows_per_s']:,} rows/s ({bt.get('raw_copy_factor')}x)"
        out.append(line)
        out.append(f"backfill batches: {bt.get('batches')}, median {bt.get('median_batch_rows_per_s')} rows/s, "
                   f"p5 {bt.get('p5_batch_rows_per_s')} rows/s, slow {bt.get('slow_batches')}, "
                   f"throttled {bt.get('throttled')}")
    return out


def get(name: str) -> Phase:
    for p in PHASES:
        if name in (p.name, p.name[:2], p.name[3:]):
            return p
    raise PhaseOrderError(f"unknown phase {name!r}: known phases are {', '.join(p.name for p in PHASES)}")


def later_phases(name: str) -> list[Phase]:
    idx = [p.name for p in PHASES].index(get(name).name)
    return PHASES[idx + 1:]


def plan_frame(ctx: "PhaseContext", steps: list[Step]) -> pd.DataFrame:
    applied = set(ctx.ledger.applied_steps(ctx.phase)) if ctx.has_ledger else set()
    return pd.DataFrame(
        [{"#": s.ordinal, "step": s.name, "applied": s.name in applied, "what it does": s.summary} for s in steps]
    ).set_index("#")


def outcomes_frame(outcomes: list[StepOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"step": o.step, "action": o.action, "status": o.status, "rows": o.rows, "seconds": round(o.seconds, 2),
          "lock attempts": o.attempts, "note": o.message if o.status != "planned" else "(SQL rendered)"}
         for o in outcomes]
    )


def deploy(ctx: "PhaseContext", steps: list[Step]) -> list[StepOutcome]:
    ex = Executor(ctx)
    return [ex.deploy(s) for s in steps]


def deploy_selected(ctx: "PhaseContext", steps: list[Step], names) -> pd.DataFrame:
    """Deploy the steps named in ``names`` (in the phase's order) and tabulate the outcomes."""
    return outcomes_frame(deploy(ctx, [s for s in steps if s.name in names]))


def cutover(ctx: "PhaseContext", validation, steps: list[Step], names) -> pd.DataFrame:
    """The cutover gate: raises if the phase's validation failed (the flag stays off), otherwise
    deploys the cutover steps. ``validation`` is None in a dry run."""
    if validation is not None:
        validation.raise_if_failed()
    return deploy_selected(ctx, steps, names)


def revert(ctx: "PhaseContext", steps: list[Step]) -> list[StepOutcome]:
    ex = Executor(ctx)
    return [ex.revert(s) for s in reversed(steps)]
