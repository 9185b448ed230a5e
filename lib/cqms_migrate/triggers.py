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

from .steps import Rendered, Step


@dataclass
class PerTableTriggers(Step):
    """Subclasses say what to install and remove for each table (``install``/``remove``: one
    script per table, composed from templates)."""

    transactional: bool = False

    def install(self, ctx) -> list[str]:
        raise NotImplementedError

    def remove(self, ctx) -> list[str]:
        raise NotImplementedError

    def render_deploy(self, ctx) -> Rendered:
        return Rendered(self.install(ctx), separate=True)

    def render_revert(self, ctx) -> Rendered:
        return Rendered(self.remove(ctx), separate=True)

    # CREATE TRIGGER waits for the table's writers; DROP TRIGGER takes ACCESS EXCLUSIVE, so while
    # it waits every reader queues behind it: legacy tables get many short attempts
    # (params.legacy_lock_retries) rather than a few long ones

    def deploy(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_deploy(ctx), "table", ctx.params.legacy_lock_retries)

    def revert(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_revert(ctx), "table", ctx.params.legacy_lock_retries)
