"""Writes notebooks/*.ipynb from the phase registry: each phase's notebook() cells and the
rollback notebook (thin: markdown, a parameters cell, one library call per cell).

Edit the cells in lib/cqms_migrate/phases/pNN_*/notebook.py (or rollback.py), run
`python tools/build_notebooks.py`, commit both; tests/test_notebooks.py checks they agree.
Outputs are never committed."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from cqms_migrate.notebook_cells import write_all  # noqa: E402

if __name__ == "__main__":
    written = write_all(ROOT / "notebooks")
    print(f"notebooks written to {ROOT / 'notebooks'}: {', '.join(written)}")
