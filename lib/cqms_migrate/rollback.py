"""Rollback: revert a phase and every later one, newest first, each step in reverse order."""

from __future__ import annotations

import pandas as pd

from . import phases
from .phases import outcomes_frame


def phases_to_revert(target: str) -> list[phases.Phase]:
    first = phases.get(target)
    chosen = [first] + phases.later_phases(first.name)
    return list(reversed(chosen))


def plan(ctx, target: str) -> pd.DataFrame:
    rows = []
    for ph in phases_to_revert(target):
        applied = set(ctx.ledger.applied_steps(ph.name)) if ctx.has_ledger else set()
        for s in reversed(ph.steps(ctx)):
            rows.append({"phase": ph.name, "step": s.name, "applied": s.name in applied,
                         "will": "revert" if s.name in applied else "skip (not applied)"})
    return pd.DataFrame(rows)


def run(ctx, target: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Returns (step outcomes, per-phase post-revert checks such as legacy checksums)."""
    outcomes, checks = [], {}
    for ph in phases_to_revert(target):
        mod = ph._mod()
        state = mod.before_revert(ctx) if hasattr(mod, "before_revert") else None
        outcomes += phases.revert(ctx, ph.steps(ctx))
        if hasattr(mod, "after_revert"):
            checks[ph.name] = mod.after_revert(ctx, state)
    return outcomes_frame(outcomes), checks


def legacy_identical(checks: dict[str, pd.DataFrame]) -> bool:
    return all(df.empty or bool(df["identical"].all()) for df in checks.values())
