"""Small helpers the phase notebooks call, so the notebooks hold no logic."""

from __future__ import annotations

import pandas as pd

from .context import PhaseContext

# tables in the executed notebook and its HTML: every value whole (long findings wrap), wide
# tables scroll sideways instead of being cut at the page's edge
TABLE_CSS = (".cqms-table-wrap{overflow-x:auto;max-width:100%}"
             ".cqms-table{border-collapse:collapse;font-size:12px}"
             ".cqms-table-wrap .cqms-table th,.cqms-table-wrap .cqms-table td{text-align:left;vertical-align:top;"
             "padding:2px 8px;white-space:pre-wrap;overflow-wrap:break-word;max-width:60em;border-bottom:1px solid #ddd}")


def readable_tables() -> None:
    """pandas' own rendering (a frame left as a cell's last value) without cut values."""
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.width", 250)


def open_phase(phase: str, *, env: str, params_file: str = "", run_id: str = "", confirm: str = "",
               dry_run: bool = False, action: str = "deploy") -> PhaseContext:
    """Validate params and confirmation, connect, take the runbook lock, open a ledger run."""
    readable_tables()
    ctx = PhaseContext(phase, env=env, params_file=params_file or None, run_id=run_id or None,
                       confirm=confirm or None, dry_run=dry_run, action=action)
    show(ctx.describe(), f"{phase}: {ctx.action} on {ctx.target.description}")
    return ctx


HIGHLIGHT = "background:#fce8e6;color:#a50e0e;font-weight:600"


def table_html(df: pd.DataFrame, max_rows: int = 500, highlight=None) -> str:
    """A frame as HTML a reviewer can read: nothing cut, wrapped, scrolling when wide; the index
    shown only when it means something (a default 0..n-1 index is left out). ``highlight``: a
    boolean Series (aligned with the frame) marking the rows a reviewer must see."""
    plain_index = isinstance(df.index, pd.RangeIndex) and df.index.name is None
    more = len(df) - max_rows
    body = df.head(max_rows).to_html(index=not plain_index, na_rep="", border=0, classes="cqms-table",
                                     escape=True, notebook=False)
    if highlight is not None:
        # to_html writes one <tr> per row in order: mark the highlighted ones
        marks = list(pd.Series(highlight).reindex(df.index).fillna(False).astype(bool).head(max_rows))
        head, _, rest = body.partition("<tbody>")
        rows = rest.split("<tr>")
        rest = rows[0] + "".join((f'<tr style="{HIGHLIGHT}">' if mark else "<tr>") + r
                                 for mark, r in zip(marks, rows[1:]))
        body = head + "<tbody>" + rest
    tail = f"<p><em>{more:,} more rows not shown</em></p>" if more > 0 else ""
    return f'<style>{TABLE_CSS}</style><div class="cqms-table-wrap">{body}</div>{tail}'


def show(obj, title: str | None = None, highlight=None) -> None:
    """Display a table (or anything) with a title, in a notebook or a terminal; ``highlight``
    marks rows of a table (table_html)."""
    try:
        from IPython.display import display  # noqa: WPS433
    except ImportError:  # pragma: no cover - plain terminal
        display = None
    if display is None:
        if title:
            print(f"\n== {title}")
        print(obj)
        return
    if title:
        display({"text/markdown": f"**{title}**", "text/plain": title}, raw=True)
    if isinstance(obj, pd.DataFrame):
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", 250):
            plain = obj.to_string(max_rows=60)
        display({"text/html": table_html(obj, highlight=highlight), "text/plain": plain}, raw=True)
    else:
        display(obj)


def key_figures(figures: dict) -> None:
    """Show the notebook's key figures; the runner copies them into the banner, the manifest and
    index.html (review.KEY_FIGURES_MIME)."""
    from .review import KEY_FIGURES_MIME
    figures = {str(k): str(v) for k, v in (figures or {}).items()}
    if not figures:
        return
    frame = pd.DataFrame({"value": list(figures.values())}, index=pd.Index(list(figures), name="key figure"))
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print(frame)
        return
    display({KEY_FIGURES_MIME: figures, "text/html": table_html(frame), "text/plain": frame.to_string()}, raw=True)


def show_list(items: list[str], title: str, empty: str = "none") -> None:
    show(pd.DataFrame({title: items or [empty]}))



def show_code(text: str, title: str | None = None, language: str = "yaml") -> None:
    """A block of text to copy (a params stanza), as a code block."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print((f"\n== {title}\n" if title else "") + text)
        return
    if title:
        display({"text/markdown": f"**{title}**", "text/plain": title}, raw=True)
    display({"text/markdown": f"```{language}\n{text}\n```", "text/plain": text}, raw=True)
