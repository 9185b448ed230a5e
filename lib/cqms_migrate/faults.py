"""Fault injection for tests and rehearsals: off unless the environment variable CQMS_FAULTS
names a fault. Production code calls :func:`point` at the few places a fault can be injected;
with CQMS_FAULTS unset that is one dictionary lookup.

CQMS_FAULTS is a comma-separated list of ``name=N``:
  crash_after_batch=N          the process exits (status 137, as if killed) after its N-th batch
  crash_before_commit=N        the process exits inside its N-th batch's transaction, its writes
                               and checkpoint written but not committed
  timeout_batch=N              the N-th batch attempt of the process runs with a 1 ms statement_timeout
"""

from __future__ import annotations

import os

ENV = "CQMS_FAULTS"
CRASH_EXIT_CODE = 137


def _armed() -> dict[str, int]:
    spec = os.environ.get(ENV, "")
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, arg = item.partition("=")
        out[name.strip()] = int(arg or 1)
    return out


def point(name: str, count: int) -> bool:
    """True when fault ``name`` is armed for occurrence ``count`` (crash faults do not return)."""
    if ENV not in os.environ:
        return False
    armed = _armed().get(name)
    if armed is None or armed != count:
        return False
    if name.startswith("crash_"):
        os._exit(CRASH_EXIT_CODE)
    return True
