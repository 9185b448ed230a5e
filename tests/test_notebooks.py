"""The committed notebooks are exactly what the phase registry generates (tools/build_notebooks.py):
an edit to a notebook by hand, or to a phase's cells without regenerating, fails here. And papermill
reads every parameters cell as written: each parameter inferred with its type and help, and none
the runner passes unknown."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from cqms_migrate import phases, runner
from cqms_migrate.notebook_cells import all_notebooks

ROOT = Path(__file__).resolve().parents[1]





@pytest.mark.parametrize("name", list(all_notebooks()))
def test_committed_notebook_equals_the_generated_one(name):
    generated = all_notebooks()[name]
    committed = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    assert [(c.cell_type, c.source, c.get("metadata", {}).get("tags")) for c in committed.cells] == \
        [(c.cell_type, c.source, c.get("metadata", {}).get("tags")) for c in generated.cells], \
        f"notebooks/{name} differs from what the registry generates: run python tools/build_notebooks.py"
    assert [c.get("id") for c in committed.cells] == [c.get("id") for c in generated.cells]
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code")


def test_every_registered_phase_has_a_notebook_and_distinct_ordered_ordinals():
    files = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {f"{p.name}.ipynb" for p in phases.PHASES} | {"91_rehearsal.ipynb", "98_verify.ipynb", "99_rollback.ipynb"} == files
    assert phases.names() == sorted(phases.names())


def _assigned(source: str) -> dict[str, object]:
    """{name: default} of every assignment in a parameters cell, as Python reads it."""
    out = {}
    for node in ast.parse(source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        out[target.id] = ast.literal_eval(node.value)
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_papermill_infers_every_parameter_with_its_type_and_help(name, caplog, tmp_path):
    path = ROOT / "notebooks" / name
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    declared = _assigned(cell.source)
    with caplog.at_level(logging.DEBUG, logger="papermill"):
        inferred = pm.inspect_notebook(str(path))
        # what the runner passes to every notebook, and every declared parameter (its default)
        passed = {**runner.notebook_parameters("local", "", "a-run-id", None, False), **declared}
        pm.execute_notebook(str(path), str(tmp_path / name), parameters=passed, prepare_only=True, progress_bar=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [], f"{name}: {warnings}"
    assert list(inferred) == list(declared), f"{name}: papermill does not see {set(declared) - set(inferred)}"
    for p in inferred.values():
        assert p["inferred_type_name"] == type(declared[p["name"]]).__name__, (name, p)
        assert p["help"], (name, p)
