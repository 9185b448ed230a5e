"""Small helpers the phase notebooks call, so the notebooks hold no logic."""

from __future__ import annotations

import pandas as pd

from .context import PhaseContext


def open_phase(phase: str, *, env: str, params_file: str = "", run_id: str = "", confirm: str = "",
               dry_run: bool = False, action: str = "deploy") -> PhaseContext:
    """Validate params and confirmation, connect, take the runbook lock, open a ledger run."""
    ctx = PhaseContext(phase, env=env, params_file=params_file or None, run_id=run_id or None,
                       confirm=confirm or None, dry_run=dry_run, action=action)
    show(ctx.describe(), f"{phase}: {ctx.action} on {ctx.target.description}")
    return ctx


def show(obj, title: str | None = None) -> None:
    """Display a table (or anything) with a title, in a notebook or a terminal."""
    try:
        from IPython.display import Markdown, display  # noqa: WPS433
        if title:
            display(Markdown(f"**{title}**"))
        display(obj)
    except ImportError:  # pragma: no cover - plain terminal
        if title:
            print(f"\n== {title}")
        print(obj)


def show_list(items: list[str], title: str, empty: str = "none") -> None:
    show(pd.DataFrame({title: items or [empty]}))
