"""The phase contract. A phase is one folder (``phases/pNN_name/``) that defines one subclass of
:class:`Phase` and its SQL; the registry (``phases.PHASES``) lists one instance of each, in order,
and is what the runner, the rollback, the notebook generator, lint and the CLI read.

A phase declares:
  name, title            '02_audit_unification' (also its notebook's file name) and a title
  flag                   the feature flag its cutover turns on (None: none)
  requires               phases (name, steps) that must be applied first
  build, cutover         the names of its build steps and of its cutover steps, in order
  figures                the metrics the run summary shows
and implements:
  plan(ctx)              its steps, in order (Step objects; ordinals are assigned here)
  validate(ctx)          the validation the cutover gate reads (None: nothing to validate)
  before_revert / after_revert   what the rollback checks around reverting it
  verify(conn, limit, helper)    its comparisons for `cqms-migrate verify` (verify.py's engine)
  notebook()             the cells of its notebook (tools/build_notebooks.py writes them)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from ..errors import CheckFailed, CqmsError, PhaseOrderError
from ..steps import Executor, Step, StepOutcome

if TYPE_CHECKING:  # pragma: no cover
    from ..context import PhaseContext


class Phase:
    name: ClassVar[str]
    title: ClassVar[str]
    flag: ClassVar[str | None] = None
    requires: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    build: ClassVar[tuple[str, ...]] = ()
    cutover_steps: ClassVar[tuple[str, ...]] = ()
    figures: ClassVar[tuple[str, ...]] = ()
    # what the phase creates in public, by name: the advisor's checks, the inventory (a scorecard
    # naming one of them is no audit table) and preflight's collision check read these through
    # the registry (phases.created_tables/created_views), never a list of their own. Compat views
    # of tables found at run time are named <table>_compat, which those readers know.
    creates_tables: ClassVar[tuple[str, ...]] = ()
    creates_views: ClassVar[tuple[str, ...]] = ()
    # schemas it creates (beside public and the ledger's cqms_migration): the round-trip
    # snapshot and the exposure checks cover them
    creates_schemas: ClassVar[tuple[str, ...]] = ()
    # legacy tables of public it renames, as (legacy name, new name): the old name becomes a
    # writable compat view. Readers of a legacy table by its legacy name keep working through the
    # view; what needs the table itself (a foreign key, DDL) asks phases.table_now
    renames_tables: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the comment its batched backfill's statements open with (pg_stat_activity shows it): the
    # rehearsal aims its crash, timeout and terminate faults at a phase that has one
    backfill_marker: ClassVar[str | None] = None

    # -- the plan ----------------------------------------------------------------------------
    def plan(self, ctx: "PhaseContext") -> list[Step]:
        """The phase's steps, in order."""
        return []

    def steps(self, ctx: "PhaseContext") -> list[Step]:
        """The plan with ordinals 1..n (the ledger's and the plan table's order)."""
        steps = self.plan(ctx)
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise CqmsError(f"phase {self.name}: two steps share a name: {names}")
        missing = [n for n in (*self.build, *self.cutover_steps) if n not in names]
        if missing:
            raise CqmsError(f"phase {self.name}: build/cutover name steps it does not plan: {missing}")
        for i, s in enumerate(steps, start=1):
            s.ordinal = i
        return steps

    @property
    def directory(self) -> Path:
        import importlib
        return Path(importlib.import_module(type(self).__module__).__file__).resolve().parent

    # -- what the notebook calls (dry-run aware) ------------------------------------------------
    def require_applied(self, ctx: "PhaseContext") -> None:
        for phase_name, step_names in self.requires:
            ctx.require_phase(phase_name, list(step_names))

    def deploy_build(self, ctx: "PhaseContext") -> pd.DataFrame:
        self.require_applied(ctx)
        return deploy_selected(ctx, self.steps(ctx), self.build)

    def validate(self, ctx: "PhaseContext") -> Any:
        return None

    def validation(self, ctx: "PhaseContext") -> Any:
        if ctx.dry_run:
            ctx.log("dry run: nothing was built, so nothing to validate")
            return None
        return self.validate(ctx)

    def cutover(self, ctx: "PhaseContext", validation: Any) -> pd.DataFrame:
        """The cutover gate: raises if the validation failed (the flag stays off), otherwise
        deploys the cutover steps. ``validation`` is None in a dry run."""
        if validation is not None:
            try:
                validation.raise_if_failed()
            except CheckFailed as e:
                # a re-run after cutover: the flag an earlier run turned on is still on, and the
                # message must not say otherwise
                if self.flag and ctx.ledger.flag(self.flag):
                    raise CheckFailed(str(e).replace(
                        "the feature flag stays off",
                        f"{self.flag} is still on from an earlier run (the application stays on the unified path): "
                        f"fix the cause and re-run, or roll back {self.name}")) from None
                raise
        return deploy_selected(ctx, self.steps(ctx), self.cutover_steps)

    # -- verify ---------------------------------------------------------------------------------
    def verify(self, conn, limit: int = 20, helper=None) -> list:
        """Its comparisons of the unified tables with what the legacy rows say (verify.Comparison,
        through verify.compare), inside the caller's snapshot; [] when it has nothing built to
        compare. `cqms-migrate verify` calls every applied phase's, in the registry's order."""
        return []

    # -- rollback hooks ---------------------------------------------------------------------
    def before_revert(self, ctx: "PhaseContext") -> Any:
        return None

    def after_revert(self, ctx: "PhaseContext", state: Any) -> pd.DataFrame:
        return pd.DataFrame()

    # -- its notebook ------------------------------------------------------------------------
    def notebook(self) -> list:
        raise NotImplementedError(f"phase {self.name} has no notebook")


def record_validation(ctx: "PhaseContext", phase: str, v: Any) -> None:
    """A validation's figures in the ledger, for the run summary and the review page: its outcome
    (when gated), reconciliation, quarantine by reason and checks."""
    if getattr(v, "outcome", None) is not None:
        ctx.ledger.record_metric(phase, "outcome", v.outcome.record())
    ctx.ledger.record_metric(phase, "reconciliation", v.reconciliation.reset_index().to_dict("records"))
    ctx.ledger.record_metric(phase, "quarantine", v.quarantine.to_dict("records"))
    ctx.ledger.record_metric(phase, "checks", v.checks.to_dict("records"))


# -- executing steps ---------------------------------------------------------------------------
def outcomes_frame(outcomes: list[StepOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"phase": o.phase, "step": o.step, "action": o.action, "status": o.status, "rows": o.rows, "seconds": round(o.seconds, 2),
          "lock attempts": o.attempts, "note": o.message if o.status != "planned" else "(SQL rendered)"}
         for o in outcomes]
    )


def deploy(ctx: "PhaseContext", steps: list[Step]) -> list[StepOutcome]:
    ex = Executor(ctx)
    return [ex.deploy(s) for s in steps]


def deploy_selected(ctx: "PhaseContext", steps: list[Step], names) -> pd.DataFrame:
    """Deploy the steps named in ``names`` (in the phase's order) and tabulate the outcomes."""
    return outcomes_frame(deploy(ctx, [s for s in steps if s.name in names]))


def revert(ctx: "PhaseContext", steps: list[Step]) -> list[StepOutcome]:
    ex = Executor(ctx)
    return [ex.revert(s) for s in reversed(steps)]


def plan_frame(ctx: "PhaseContext", steps: list[Step]) -> pd.DataFrame:
    applied = set(ctx.ledger.applied_steps(ctx.phase)) if ctx.has_ledger else set()
    return pd.DataFrame(
        [{"#": s.ordinal, "step": s.name, "applied": s.name in applied, "what it does": s.summary} for s in steps]
    ).set_index("#")


def unknown(name: str, known: list[str]) -> PhaseOrderError:
    return PhaseOrderError(f"unknown phase {name!r}: known phases are {', '.join(known)}")
