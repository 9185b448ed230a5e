"""Rollback: revert a phase and every later one, newest first, each step in reverse order."""

from __future__ import annotations

import pandas as pd

from . import phases
from .phases import outcomes_frame

NOTEBOOK = "99_rollback.ipynb"


def phases_to_revert(target: str) -> list[phases.Phase]:
    first = phases.get(target)
    chosen = [first] + phases.later_phases(first.name)
    return list(reversed(chosen))


def plan(ctx, target: str) -> pd.DataFrame:
    rows = []
    for ph in phases_to_revert(target):
        applied = set(ctx.ledger.applied_steps(ph.name)) if ctx.has_ledger else set()
        for s in reversed(ph.steps(ctx)):
            rows.append({"phase": ph.name, "#": s.ordinal, "step": s.name, "applied": s.name in applied,
                         "will": "revert" if s.name in applied else "skip (not applied)"})
    return pd.DataFrame(rows)


def run(ctx, target: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Returns (step outcomes, per-phase post-revert checks such as legacy checksums)."""
    outcomes, checks = [], {}
    for ph in phases_to_revert(target):
        state = ph.before_revert(ctx)
        outcomes += phases.revert(ctx, ph.steps(ctx))
        if type(ph).after_revert is not phases.Phase.after_revert:   # the phase checks something after
            checks[ph.name] = ph.after_revert(ctx, state)
    return outcomes_frame(outcomes), checks


def key_figures(outcomes: pd.DataFrame, checks: dict[str, pd.DataFrame], remaining=None) -> dict:
    """Per phase reverted: steps reverted and seconds; the legacy comparison; what remains verified."""
    out = {}
    if not outcomes.empty:
        for phase_name, g in outcomes.groupby("phase", sort=False):
            done = int((g["status"] == "reverted").sum()) if "status" in g else len(g)
            out[f"rollback of {phase_name}"] = f"{done} of {len(g)} steps reverted in {g['seconds'].sum():.1f} s"
    if checks:
        out["legacy tables"] = ("identical to before the phase" if legacy_identical(checks)
                                else "differ from before the phase (the application's writes; see section 3)")
    if remaining is not None:
        from .verify import key_figures as verify_figures
        out["what remains, verified"] = verify_figures(remaining)["comparisons"] if remaining.comparisons \
            else "nothing left to verify"
    return out


def legacy_identical(checks: dict[str, pd.DataFrame]) -> bool:
    return all(df.empty or bool(df["identical"].all()) for df in checks.values())


def notebook() -> list:
    """The cells of notebooks/99_rollback.ipynb."""
    from .notebook_cells import PARAMS, code, md
    return [
        md("""
# 99 · Rollback — revert a phase and every later one
Reverts `target_phase` and every phase after it, newest first, each step in reverse order; each
revert and its ledger row commit together. Feature flags go off with their phase. For phases that
took legacy checksums, the legacy tables are compared with their state before the phase: without
application writes they are identical; after a live transition they differ exactly by the writes
the application made (through either path — the sync triggers carried them into the legacy tables).

Run with `cqms-migrate rollback --env ENV --phase NAME` (add `--dry-run` to see the plan)."""),
        code(PARAMS + '\ntarget_phase: str = "01_foundation"  # this phase and every later one are reverted', "parameters"),
        code("""
from cqms_migrate import notebook as nb, rollback
ctx = nb.open_phase(target_phase, env=env, params_file=params_file, run_id=run_id, confirm=confirm,
                    dry_run=dry_run, action="rollback")"""),
        md("## 1. Plan"),
        code("nb.show(rollback.plan(ctx, target_phase))"),
        md("## 2. Revert"),
        code("outcomes, checks = rollback.run(ctx, target_phase)\nnb.show(outcomes)"),
        md("## 3. Legacy tables compared with their checksums from before the phase"),
        md("Without concurrent application writes every table must say `identical`. A difference after a live "
           "rollback is the application's own writes to the legacy tables (phase 1 never writes to them)."),
        code("for phase_name, table in checks.items():\n    nb.show(table, f'{phase_name}: legacy tables now vs before the phase')\n"
             "nb.show_list([] if rollback.legacy_identical(checks) else ['a legacy table differs from its pre-phase checksum'], "
             "'legacy comparison', empty='every legacy table identical to before the phase')"),
        md("## 4. Verify what remains"),
        md("The phases still applied are verified as `cqms-migrate verify` does: every mapped column of their "
           "unified tables against what the legacy rows say now, in one snapshot (nothing left to verify when "
           "every phase was reverted)."),
        code("from cqms_migrate import verify\nremaining = verify.run(ctx.conn)\nnb.show(remaining.summary())\n"
             "nb.show(remaining.examples())\nnb.key_figures(rollback.key_figures(outcomes, checks, remaining))\n"
             "remaining.raise_if_failed()"),
        code("ctx.close('succeeded')"),
    ]
