"""Progress bars that suit where they run.

In a Jupyter kernel (JupyterLab, or papermill executing a phase notebook) a bar is one display
output updated in place (``display_id``): it moves while the kernel runs, and the saved notebook
keeps only its final state, one clean line per bar, on stdout's side of the notebook (nothing
on stderr, which a reader takes for an error). On a terminal it is a tqdm bar on stderr. Piped
(a log file, a CI job) it prints one line when the bar closes.
"""

from __future__ import annotations

import html
import sys
import time


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _rate(done: int, seconds: float) -> str:
    return f"{done / seconds:,.0f}" if seconds > 0 else "-"


class Bar:
    """``Bar(total, desc, unit)``; ``update(n)``; ``close()``. ``enabled=False`` shows nothing."""

    def __init__(self, total: int, desc: str, *, unit: str = "rows", initial: int = 0, enabled: bool = True,
                 min_interval: float = 1.0):
        self.total, self.desc, self.unit = max(int(total or 0), 0), desc, unit
        self.initial = self.done = min(int(initial or 0), self.total) if self.total else int(initial or 0)
        self.enabled, self.min_interval = enabled, min_interval
        self.t0 = self._last = time.monotonic()
        self._handle = self._tqdm = None
        self._closed = False
        if not enabled:
            self.mode = "off"
        elif in_kernel():
            self.mode = "kernel"
            from IPython.display import display
            self._handle = display(self._bundle(), raw=True, display_id=True)
        elif sys.stderr.isatty():
            self.mode = "tty"
            from tqdm import tqdm
            self._tqdm = tqdm(total=self.total, initial=self.initial, desc=desc, unit=unit, mininterval=min_interval)
        else:
            self.mode = "line"

    # -- what it shows ---------------------------------------------------------------------------
    def line(self, final: bool = False) -> str:
        secs = time.monotonic() - self.t0
        moved = self.done - self.initial
        parts = [f"{self.desc}: {self.done:,}/{self.total:,} {self.unit}"]
        if self.initial:
            parts.append(f"(resumed at {self.initial:,})")
        parts.append(f"in {secs:.1f} s, {_rate(moved, secs)} {self.unit}/s")
        if not final and self.total and moved > 0 and self.done < self.total:
            parts.append(f"~{(self.total - self.done) * secs / moved:.0f} s left")
        return " ".join(parts)

    def _bundle(self, final: bool = False) -> dict:
        text = self.line(final)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        bar = (f'<progress value="{self.done}" max="{max(self.total, 1)}" style="width:16em;vertical-align:middle">'
               f'</progress> ' if not final else "")
        return {"text/plain": text,
                "text/html": f'<div class="cqms-progress">{bar}<code>{html.escape(text)}</code>'
                             f'{"" if final else f" ({pct:.0f}%)"}</div>'}

    # -- driving it ------------------------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        if self._closed:   # the final line stays final
            return
        self.done += int(n)
        if self.mode == "tty":
            self._tqdm.update(n)
        elif self.mode == "kernel":
            now = time.monotonic()
            if now - self._last >= self.min_interval:
                self._last = now
                self._handle.update(self._bundle(), raw=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.mode == "tty":
            self._tqdm.close()
        elif self.mode == "kernel":
            self._handle.update(self._bundle(final=True), raw=True)
        elif self.mode == "line":
            print(self.line(final=True), flush=True)

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iterate(items, desc: str, *, unit: str = "items", enabled: bool = True):
    """A progress bar over a list (e.g. the statements of a DDL plan)."""
    items = list(items)
    with Bar(len(items), desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)
