"""Keeping audits and the legacy tables in step: the forward sync (a trigger per legacy table:
every legacy write reaches audits or the quarantine in the writer's transaction) and, at
cutover, the reverse sync (a trigger on audits: every write reaches its legacy table, read back
through the compat view). SQL in templates/: sync_body, reverse_sync_*, provenance_body,
trigger_function, sync_trigger, drop_sync."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...inventory import AuditTable
from ...steps import Rendered, SqlStep, compose
from ...triggers import PerTableTriggers
from .compat import compat_view_name
from .mapping import AUDIT_COLUMNS, PHASE, _audit_cols, errors_insert, shaped_select, short_name, template


def sync_function_name(table: str) -> sql.Identifier:
    return sql.Identifier("cqms_migration", f"p02_sync_{short_name(table)}")


def trigger_name(table: str) -> sql.Identifier:
    return sql.Identifier(f"cqms_p02_sync_{short_name(table)}")


def trigger_function(name: sql.Identifier, body: sql.Composable, conn) -> sql.Composable:
    """CREATE OR REPLACE FUNCTION ... SECURITY DEFINER with the body as a quoted literal (never
    dollar-quoted: a hostile identifier in the body could contain the closing tag), then REVOKE."""
    return template("trigger_function").format(function=name, body=sql.Literal(body.as_string(conn)))


def sync_function(t: AuditTable, conn) -> sql.Composable:
    record = lambda c: sql.SQL("v_row.{}").format(sql.Identifier(c))  # noqa: E731
    errors = errors_insert(t, sql.SQL("(SELECT v_row.id AS id, v_row.interaction_date AS interaction_date, "
                                      "v_row.parameter_scores AS parameter_scores) n"))
    body = template("sync_body").format(
        table_name=sql.Literal(t.table_name), phase=sql.Literal(PHASE),
        shaped=shaped_select(t, sql.SQL("(SELECT NEW.*)")), columns=_audit_cols(),
        assignments=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), record(c)) for c in AUDIT_COLUMNS
                                       if c not in ("id", "legacy_values", "created_at")),
        values=sql.SQL(", ").join(record(c) for c in AUDIT_COLUMNS),
        errors=errors if errors is not None else sql.SQL("NULL"))  # NULL: a PL/pgSQL no-op
    return trigger_function(sync_function_name(t.table_name), body, conn)


def sync_trigger(t: AuditTable) -> sql.Composable:
    return template("sync_trigger").format(trigger=trigger_name(t.table_name),
                                           table=sql.Identifier("public", t.table_name),
                                           function=sync_function_name(t.table_name))


def drop_sync(t: AuditTable) -> sql.Composable:
    return template("drop_sync").format(trigger=trigger_name(t.table_name), table=sql.Identifier("public", t.table_name),
                                        function=sync_function_name(t.table_name))


@dataclass
class SyncTriggers(PerTableTriggers):
    """legacy -> audits: a trigger per dynamic table, one table per transaction."""

    def install(self, ctx) -> list[str]:
        from . import migratable
        return [compose(ctx.conn, sql.SQL(";\n").join([sync_function(t, ctx.conn), sync_trigger(t)]))
                for t in migratable(ctx)]

    def remove(self, ctx) -> list[str]:
        from . import migratable
        return [compose(ctx.conn, drop_sync(t)) for t in migratable(ctx)]

    def render_verify(self, ctx) -> Rendered:
        from . import migratable
        names = [trigger_name(t.table_name).as_string(ctx.conn).strip('"') for t in migratable(ctx)]
        return Rendered([compose(ctx.conn, template("verify_sync_triggers").format(
            names=sql.Literal(names), expected=sql.Literal(len(names))))])


def reverse_sync_function(tables: list[AuditTable], conn) -> sql.Composable:
    branches = []
    for t in tables:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in t.columns)
        branches.append(template("reverse_sync_branch").format(
            table_name=sql.Literal(t.table_name), table=sql.Identifier("public", t.table_name), columns=columns,
            view=sql.Identifier("public", compat_view_name(t.table_name)),
            updates=sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                                       for c in t.columns if c != "id")))
    body = template("reverse_sync_body").format(branches=sql.SQL("\n").join(branches))
    return trigger_function(sql.Identifier("cqms_migration", "p02_reverse_sync"), body, conn)


def provenance_function(tables: list[AuditTable], conn) -> sql.Composable:
    body = template("provenance_body").format(table_names=sql.Literal([t.table_name for t in tables]))
    return trigger_function(sql.Identifier("cqms_migration", "p02_audit_provenance"), body, conn)


@dataclass
class ReverseSync(SqlStep):
    """audits -> legacy, at cutover (and audit_errors -> the legacy parameter columns): after it,
    a rollback loses no write made through audits. Rendered from templates; its revert
    (revert/install_reverse_sync.sql) fences audits before dropping the write-back triggers."""

    # what the revert deliberately leaves until create_audits' revert drops the tables: the fence
    # and, behind it, the write-back triggers
    revert_leaves: tuple[str, ...] = ("cqms_p02_fence", "p02_fence", "cqms_p02_reverse_sync", "cqms_p02_provenance",
                                      "cqms_p02_errors_write_back", "p02_reverse_sync", "p02_audit_provenance",
                                      "p02_errors_write_back")

    def render_deploy(self, ctx) -> Rendered:
        from . import migratable
        tables = migratable(ctx)
        return Rendered([compose(ctx.conn, provenance_function(tables, ctx.conn)),
                         compose(ctx.conn, reverse_sync_function(tables, ctx.conn)),
                         compose(ctx.conn, trigger_function(sql.Identifier("cqms_migration", "p02_errors_write_back"),
                                                            template("errors_write_back_body"), ctx.conn)),
                         compose(ctx.conn, template("reverse_sync_triggers"))])
