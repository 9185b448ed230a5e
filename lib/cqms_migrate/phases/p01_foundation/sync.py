"""The live sync both ways: users + people -> employees (install_sync_triggers) and, before
cutover, employees -> users + people (install_reverse_sync, legacy_writes.py composes it)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ... import legacy_shape
from ...steps import Rendered, compose
from ...triggers import PerTableTriggers
from . import legacy_writes
from .shaped import HERE, ShapedSqlStep, shapes, template

@dataclass
class SyncTriggers(PerTableTriggers):
    """users + people -> employees, live: the mapping functions (templates/sync_functions.sql),
    then the statement-level triggers, one legacy table per transaction. Revert: the triggers,
    one table per transaction, then the functions and whatever the triggers wrote."""

    def install(self, ctx) -> list[str]:
        functions = compose(ctx.conn, legacy_shape.fill((HERE / "templates" / "sync_functions.sql").read_text(),
                                                        shapes(ctx))).strip().rstrip(";")
        return [functions + ";\n" + self._each(ctx, "sync_triggers", "users"),
                self._each(ctx, "sync_triggers", "people")]

    def remove(self, ctx) -> list[str]:
        return [self._each(ctx, "drop_sync_triggers", "people"), self._each(ctx, "drop_sync_triggers", "users"),
                (HERE / "templates" / "drop_sync_functions.sql").read_text()]

    def render_verify(self, ctx) -> Rendered:
        return Rendered([(HERE / "templates" / "verify_sync_triggers.sql").read_text()])

    @staticmethod
    def _each(ctx, name: str, table: str) -> str:
        return compose(ctx.conn, template(name).format(table=sql.Identifier("public", table)))


@dataclass
class ReverseSync(ShapedSqlStep):
    """employees -> users + people, installed before cutover (deploy/install_reverse_sync.sql).
    Its revert fences employees (the trigger stays behind the fence); create_employees' revert
    drops both with the table."""

    def statements(self, found):
        return legacy_writes.placeholders(found)

    revert_leaves: tuple[str, ...] = ("cqms_p01_fence", "p01_fence", "cqms_p01_reverse_sync", "p01_reverse_sync",
                                      "cqms_p01_access_follows_role", "p01_access_follows_role", "p01_access_grants")
