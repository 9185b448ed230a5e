"""Building blocks of the phase notebooks (thin: markdown, a parameters cell, one library call
per cell). Each phase's notebook() returns its cells; tools/build_notebooks.py writes them and a
test checks the committed notebooks equal what this produces."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# Papermill infers each parameter from its line: `name: type = default  # help`. One line each, and
# no '=' in the help (a line with two is skipped: the parameter is unknown, and papermill warns
# 'Passed unknown parameter' when the runner passes it); tests/test_notebooks.py checks every notebook.
PARAMS = '''# Parameters (papermill injects the run's values below this cell). Defaults: the local env.
env: str = "local"          # local | staging | prod
params_file: str = ""       # default: params/<env>.yaml
run_id: str = ""            # default: a new id; the runner passes its own
confirm: str = ""           # prod (and guarded envs) run only when this equals the env name
dry_run: bool = False       # render and record the plan, change nothing'''


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str, *tags: str):
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def build(name: str, cells: list):
    """A notebook with stable cell ids (regenerating changes only what changed)."""
    for i, cell in enumerate(cells):
        cell["id"] = f"{Path(name).stem}-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def all_notebooks() -> dict[str, object]:
    """{file name: notebook} for every registered phase and the rollback notebook."""
    from . import phases, rehearsal, rollback, verify
    out = {f"{p.name}.ipynb": build(f"{p.name}.ipynb", p.notebook()) for p in phases.PHASES}
    out[rehearsal.NOTEBOOK] = build(rehearsal.NOTEBOOK, rehearsal.notebook())
    out[verify.NOTEBOOK] = build(verify.NOTEBOOK, verify.notebook())
    out[rollback.NOTEBOOK] = build(rollback.NOTEBOOK, rollback.notebook())
    return out


def write_all(nb_dir: Path) -> list[str]:
    written = []
    for name, nb in all_notebooks().items():
        nbformat.write(nb, nb_dir / name)
        written.append(name)
    return written
