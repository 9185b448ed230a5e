"""Keeping audits and the legacy tables in step: the forward sync (a trigger per legacy table:
every legacy write reaches audits or the quarantine in the writer's transaction) and, at
cutover, the reverse sync (a trigger on audits: every write reaches its legacy table as
p02_legacy_patch maps it, the compat views' expressions). Both survive the legacy schema moving
under them (docs/decisions.md 2.24). SQL in templates/: sync_body, sync_install, legacy_patch,
reverse_sync_*, provenance_body, trigger_function."""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg import sql

from ...db import end_read
from ...inventory import COMMON_COLUMNS, AuditTable
from ...steps import Rendered, SqlStep, compose
from ...triggers import PerTableTriggers
from .compat import derived_expressions
from .mapping import (AUDIT_COLUMNS, LEGACY_TEXT, PHASE, _audit_cols, audit_id, error_of, errors_insert, errors_insert_for, kept_verbatim, shape_columns, shaped_select, short_name,
                      parameter_map, template)


def sync_function_name(table: str) -> sql.Identifier:
    return sql.Identifier("cqms_migration", f"p02_sync_{short_name(table)}")


def trigger_name(table: str) -> sql.Identifier:
    return sql.Identifier(f"cqms_p02_sync_{short_name(table)}")


def trigger_function(name: sql.Identifier, body: sql.Composable, conn) -> sql.Composable:
    """CREATE OR REPLACE FUNCTION ... SECURITY DEFINER with the body as a quoted literal (never
    dollar-quoted: a hostile identifier in the body could contain the closing tag), then REVOKE."""
    return template("trigger_function").format(function=name, body=sql.Literal(body.as_string(conn)))


def shape_name(t: AuditTable) -> sql.Identifier:
    """The shape type of a table as it is now: its name carries a hash of the columns, so a table
    whose common columns changed gets a new type and no deploy ever drops one in use."""
    cols = shape_columns(t)
    digest = short_name(t.table_name + "|" + "|".join(f"{c}:{typ}" for c, typ in cols.items()))
    return sql.Identifier("cqms_migration", f"p02_shape_{digest}")


def sync_function(t: AuditTable, conn) -> sql.Composable:
    record = lambda c: sql.SQL("v_row.{}").format(sql.Identifier(c))  # noqa: E731
    errors = errors_insert(t, sql.SQL("(SELECT v_row.id AS id, v_row.interaction_date AS interaction_date, "
                                      "v_row.parameter_scores AS parameter_scores) n"))
    # the common columns through the shape type (a column dropped or renamed since reads as NULL,
    # never an error in the application's write); everything else from NEW as it is
    source = sql.SQL("(SELECT * FROM jsonb_populate_record(NULL::{}, to_jsonb(NEW)))").format(shape_name(t))
    body = template("sync_body").format(
        table_name=sql.Literal(t.table_name), phase=sql.Literal(PHASE),
        new_aid=audit_id(t, sql.SQL("NEW.id")), old_aid=audit_id(t, sql.SQL("OLD.id")),
        shaped=shaped_select(t, source, raw=sql.SQL("NEW")), columns=_audit_cols(),
        assignments=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), record(c)) for c in AUDIT_COLUMNS
                                       if c not in ("id", "legacy_values", "created_at")),
        values=sql.SQL(", ").join(record(c) for c in AUDIT_COLUMNS),
        errors=errors)
    return trigger_function(sync_function_name(t.table_name), body, conn)


def install_script(t: AuditTable, conn) -> sql.Composable:
    """One legacy table's forward sync, in one transaction: its shape type, its function, its
    trigger and its row in the registry of adopted tables."""
    cols = shape_columns(t)
    return template("sync_install").format(
        shape=shape_name(t), shape_text=sql.Literal(shape_name(t).as_string(conn)),
        table_regclass=sql.Literal(sql.Identifier("public", t.table_name).as_string(conn)),
        shape_columns=sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(typ)) for c, typ in cols.items()),
        function_sql=sync_function(t, conn),
        trigger=trigger_name(t.table_name), table=sql.Identifier("public", t.table_name),
        function=sync_function_name(t.table_name), table_name=sql.Literal(t.table_name),
        scorecard_id=sql.Literal(t.scorecard_id), columns=sql.Literal(json.dumps(t.columns)))


def to_adopt(ctx) -> tuple[list[AuditTable], list[AuditTable]]:
    """(to install, to re-register). To install: the migratable tables whose forward sync is
    missing or was built for other common columns (a new scorecard table, a common column added,
    dropped or retyped). To re-register: tables whose other columns changed (a parameter column
    added or dropped: the sync already follows them; the registry records the shape adopted).
    Read from the registry and the catalog."""
    from . import migratable
    tables = migratable(ctx)
    if not ctx.conn.execute("SELECT to_regclass('cqms_migration.p02_legacy_tables') IS NOT NULL").fetchone()[0]:
        end_read(ctx.conn)
        return tables, []
    have = {r[0]: (r[1] or {}, r[2]) for r in ctx.conn.execute(
        "SELECT r.legacy_table, r.columns, EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = r.relid "
        "AND g.tgname LIKE 'cqms\\_p02\\_sync\\_%') FROM cqms_migration.p02_legacy_tables r").fetchall()}
    end_read(ctx.conn)
    install, register = [], []
    for t in tables:
        got = have.get(t.table_name)
        if got is None or not got[1] or {c: v for c, v in got[0].items() if c in COMMON_COLUMNS} != shape_columns(t):
            install.append(t)
        elif got[0] != t.columns:
            register.append(t)
    return install, register


def _registered(ctx) -> set[str]:
    if not ctx.conn.execute("SELECT to_regclass('cqms_migration.p02_legacy_tables') IS NOT NULL").fetchone()[0]:
        end_read(ctx.conn)
        return set()
    names = {r[0] for r in ctx.conn.execute("SELECT legacy_table FROM cqms_migration.p02_legacy_tables").fetchall()}
    end_read(ctx.conn)
    return names


def refresh_kept(t: AuditTable) -> sql.Composable:
    """The legacy spelling of t's common columns of another type, into its audits' legacy_values
    (under the 'refresh:adopt' marker: no version bump, no write back)."""
    kept = [c for c in kept_verbatim(t) if c not in LEGACY_TEXT]
    others = [c for c in COMMON_COLUMNS if c not in LEGACY_TEXT]
    pairs = (sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
        sql.SQL("{}, t.{}::text").format(sql.Literal(c), sql.Identifier(c)) for c in kept))
        if kept else sql.SQL("'{{}}'::jsonb"))
    return sql.SQL("SET LOCAL cqms.sync_echo = 'refresh:adopt';\n"
                   "UPDATE public.audits a SET legacy_values = (a.legacy_values - {others}::text[]) || {pairs}\n"
                   "FROM public.{table} t WHERE a.legacy_table = {name} AND a.id = {aid}").format(
        others=sql.Literal(others), pairs=pairs, table=sql.Identifier(t.table_name), name=sql.Literal(t.table_name),
        aid=audit_id(t, sql.SQL("t.id")))


@dataclass
class SyncTriggers(PerTableTriggers):
    """legacy -> audits: a trigger per dynamic table, one table per transaction. A re-run after
    the legacy shape changed (a new scorecard table, a changed common column) installs what is
    missing or stale, and only that. The revert removes what the catalog holds (by trigger and
    function name prefix), so a renamed table's trigger goes too."""

    def install(self, ctx) -> list[str]:
        install, register = to_adopt(ctx)
        out = [compose(ctx.conn, install_script(t, ctx.conn)) for t in install]
        # a table re-adopted with other common column types: its migrated audits keep the legacy
        # spelling of the columns now kept verbatim (mapping.kept_verbatim), so the compat view
        # returns the legacy rows exactly (a value ' 7' read as 7 is shown as ' 7')
        readopted = [t for t in install if t.table_name in _registered(ctx)]
        out += [compose(ctx.conn, refresh_kept(t)) for t in readopted]
        out += [compose(ctx.conn, template("sync_register").format(table_name=sql.Literal(t.table_name),
                                                                   columns=sql.Literal(json.dumps(t.columns))))
                for t in register]
        return out

    def stale(self, ctx) -> str | None:
        install, register = to_adopt(ctx)
        names = [t.table_name for t in install + register]
        return f"legacy tables to (re)adopt: {', '.join(names)}" if names else None

    def remove(self, ctx) -> list[str]:
        triggers = ctx.conn.execute(
            "SELECT g.tgrelid::regclass::text, g.tgname FROM pg_trigger g "
            "WHERE g.tgname LIKE 'cqms\\_p02\\_sync\\_%' ORDER BY 1, 2").fetchall()
        functions = [r[0] for r in ctx.conn.execute(
            "SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'cqms_migration' AND p.proname LIKE 'p02\\_sync\\_%' ORDER BY 1").fetchall()]
        types = [r[0] for r in ctx.conn.execute(
            "SELECT format('%I.%I', n.nspname, t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'cqms_migration' AND t.typname LIKE 'p02\\_shape\\_%' ORDER BY 1").fetchall()]
        end_read(ctx.conn)
        by_table: dict[str, list[str]] = {}
        for table, name in triggers:
            by_table.setdefault(table, []).append(name)
        out = [compose(ctx.conn, sql.SQL(";\n").join(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(n), sql.SQL(table)) for n in names))
            for table, names in by_table.items()]
        tail = [sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.SQL(f)) for f in functions]
        tail += [sql.SQL("DROP TYPE IF EXISTS {}").format(sql.SQL(t)) for t in types]
        tail.append(sql.SQL("DELETE FROM cqms_migration.p02_legacy_tables"))
        out.append(compose(ctx.conn, sql.SQL(";\n").join(tail)))
        return out

    def render_verify(self, ctx) -> Rendered:
        from . import migratable
        return Rendered([compose(ctx.conn, template("verify_sync_triggers").format(
            names=sql.Literal([t.table_name for t in migratable(ctx)])))])


def legacy_patch_function(conn) -> sql.Composable:
    """cqms_migration.p02_legacy_patch(audits): the legacy row of an audit as JSON — the compat
    views' expressions (compat.derived_expressions, one definition) over the parameter scores.
    The reverse sync populates the legacy table's current row type from it: columns the table no
    longer has are ignored, a parameter column added since comes from parameter_scores."""
    pairs = sql.SQL(",\n    ").join(sql.SQL("{}, {}").format(sql.Literal(c), e)
                                    for c, e in derived_expressions().items())
    body = template("legacy_patch_body").format(pairs=pairs)
    return template("legacy_patch").format(body=sql.Literal(body.as_string(conn)))


@dataclass
class ReverseSync(SqlStep):
    """audits -> legacy, at cutover (and audit_errors -> the legacy parameter columns): after it,
    a rollback loses no write made through audits. One generic function (templates/
    reverse_sync_body.sql): the legacy table by OID from the registry (a rename does not lose it),
    the row from p02_legacy_patch, the columns the table has now. Its revert
    (revert/install_reverse_sync.sql) fences audits; the triggers go with the tables."""

    # what the revert deliberately leaves until create_audits' revert drops the tables: the fence
    # and, behind it, the write-back triggers
    revert_leaves: tuple[str, ...] = ("cqms_p02_fence", "p02_fence", "cqms_p02_reverse_sync", "cqms_p02_provenance",
                                      "cqms_p02_errors_write_back", "p02_reverse_sync", "p02_audit_provenance",
                                      "p02_errors_write_back", "p02_legacy_patch")

    def render_deploy(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, legacy_patch_function(ctx.conn)),
                         compose(ctx.conn, trigger_function(sql.Identifier("cqms_migration", "p02_audit_provenance"),
                                                            template("provenance_body"), ctx.conn)),
                         compose(ctx.conn, trigger_function(sql.Identifier("cqms_migration", "p02_reverse_sync"),
                                                            template("reverse_sync_body").format(
                                                                legacy_text=sql.Literal(LEGACY_TEXT),
                                                                rebuild_errors=errors_insert_for(
                                                                    sql.SQL("rec.legacy_table"), sql.SQL("rec.scorecard_id"),
                                                                    sql.SQL("(SELECT rec.id AS id, rec.interaction_date AS "
                                                                            "interaction_date, rec.parameter_scores AS "
                                                                            "parameter_scores) n"))), ctx.conn)),
                         compose(ctx.conn, trigger_function(sql.Identifier("cqms_migration", "p02_errors_write_back"),
                                                            template("errors_write_back_body").format(
                                                                parameter_map=parameter_map(sql.SQL("a.legacy_table"),
                                                                                            sql.SQL("a.scorecard_id")),
                                                                error_of=error_of()), ctx.conn)),
                         compose(ctx.conn, template("reverse_sync_triggers"))])
