"""The sync-trigger builder every live phase uses: a set of per-table scripts (a trigger
function and its trigger on one legacy table), each installed and removed in a transaction of
its own under the lock-retry helper.

CREATE TRIGGER takes SHARE ROW EXCLUSIVE on its table; one transaction that took it on every
legacy table in turn would queue the application's writers on the tables already held while it
waits for the next (`cqms-migrate lint` flags that shape). A re-run after a partial install
replaces what is there (CREATE OR REPLACE); a partial removal finishes (IF EXISTS).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ddl import LegacyTableDdl


@dataclass
class PerTableTriggers(LegacyTableDdl):
    """Subclasses say what to install and remove for each table (``install``/``remove``: one
    script per table, composed from templates), run as every DDL on a legacy table is
    (ddl.LegacyTableDdl: a transaction per script, many short lock attempts)."""
