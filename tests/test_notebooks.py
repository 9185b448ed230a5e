"""The committed notebooks are exactly what the phase registry generates (tools/build_notebooks.py):
an edit to a notebook by hand, or to a phase's cells without regenerating, fails here."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from cqms_migrate import phases
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
