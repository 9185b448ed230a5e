"""Where the project and its local state live."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = PACKAGE_DIR / "sql"


def project_root() -> Path:
    """The checkout root (holds notebooks/, params/, outputs/). CQMS_HOME overrides."""
    if os.environ.get("CQMS_HOME"):
        return Path(os.environ["CQMS_HOME"]).resolve()
    # editable install: lib/cqms_migrate -> project root two levels up
    candidate = PACKAGE_DIR.parents[1]
    if (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd()


def state_dir() -> Path:
    """Gitignored local state: the embedded cluster and its credentials. CQMS_STATE_DIR overrides."""
    if os.environ.get("CQMS_STATE_DIR"):
        return Path(os.environ["CQMS_STATE_DIR"]).resolve()
    return project_root() / ".cqms"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def params_dir() -> Path:
    return project_root() / "params"


def outputs_dir() -> Path:
    """<root>/outputs; CQMS_OUTPUTS overrides (a rehearsal gives the runs it starts a trail of
    their own, so they never fork the chain of the run that started them)."""
    if os.environ.get("CQMS_OUTPUTS"):
        return Path(os.environ["CQMS_OUTPUTS"]).resolve()
    return project_root() / "outputs"
