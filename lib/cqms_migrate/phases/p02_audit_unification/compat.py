"""The compat views: one <table>_compat per dynamic table, exactly its legacy columns, names,
order and types, over audits (security_invoker), with the rights of the legacy table it stands
in for. Legacy readers use them; the reverse sync reads them (the one audits -> legacy mapping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from psycopg import sql

from ... import compat_views, convert
from ...db import end_read
from ...inventory import COMMON_COLUMNS, AuditTable
from ...steps import Rendered, Step, compose
from .mapping import LEGACY_TEXT, common_type, short_name, template, uuid_keyed



def compat_view_name(table: str) -> str:
    name = f"{table}_compat"
    return name if len(name.encode()) <= 63 else f"compat_{short_name(table)}"


Spell = Callable[[str, sql.Composable, sql.Composable], sql.Composable]


def spell_lookup(vocabulary: str, value: sql.Composable, fallback: sql.Composable) -> sql.Composable:
    """A unified value in its legacy table's own spelling, read from
    cqms_migration.p02_legacy_spellings (the reverse sync's p02_legacy_patch: it runs as the
    runbook, which may read the ledger)."""
    return sql.SQL("coalesce((SELECT sp.spelling FROM cqms_migration.p02_legacy_spellings sp WHERE sp.legacy_table = "
                   "a.legacy_table AND sp.vocabulary = {} AND sp.value = {}), {})").format(
        sql.Literal(vocabulary), value, fallback)


def spell_literals(spellings: dict[str, dict[str, str]]) -> Spell:
    """The same spellings as literals, for one table's compat view (it runs as its reader, who
    has no right on the ledger): rendered from the very rows p02_legacy_spellings holds."""
    def spell(vocabulary: str, value: sql.Composable, fallback: sql.Composable) -> sql.Composable:
        whens = sorted((spellings or {}).get(vocabulary, {}).items())
        if not whens:
            return fallback
        return sql.SQL("CASE {} {} ELSE {} END").format(value, sql.SQL(" ").join(
            sql.SQL("WHEN {} THEN {}").format(sql.Literal(k), sql.Literal(v)) for k, v in whens), fallback)
    return spell


def derived_expressions(spell: Spell = spell_lookup) -> dict[str, sql.Composable]:
    """The legacy value of each common column of an audit (aliases a: audits, s.same, emp, aud,
    ch): the one audits -> legacy mapping, read by the compat views and by the reverse sync
    (p02_legacy_patch). A constrained value changed through audits ('approved') is shown in its
    legacy table's own spelling ('Validated'; ``spell``: vocab.py, p02_legacy_spellings)."""
    lv = lambda c: sql.SQL("a.legacy_values ->> {}").format(sql.Literal(c))  # noqa: E731
    same_or = lambda c, derived: sql.SQL("CASE WHEN s.same THEN {} ELSE {} END").format(lv(c), derived)  # noqa: E731
    # a column of another type than audits holds keeps its legacy spelling in legacy_values
    # (mapping.kept_verbatim) in the tables that have it so; elsewhere the derived value
    kept = lambda c, derived: sql.SQL("CASE WHEN s.same AND a.legacy_values ? {} THEN {} ELSE ({})::text END").format(  # noqa: E731
        sql.Literal(c), lv(c), derived)
    status = lambda c: same_or(c, spell(c, sql.SQL("a.{}").format(sql.Identifier(c)),  # noqa: E731
                                        sql.SQL("a.{}").format(sql.Identifier(c))))
    derived = {
        "id": sql.SQL("coalesce(a.legacy_id, a.id::text)"),
        "employee_email": same_or("employee_email", sql.SQL("emp.email")),
        "employee_name": same_or("employee_name", sql.SQL("emp.name")),
        "auditor_email": same_or("auditor_email", sql.SQL("aud.email")),
        "auditor_name": same_or("auditor_name", sql.SQL("aud.name")),
        "interaction_id": kept("interaction_id", sql.SQL("a.interaction_id")),
        "interaction_date": kept("interaction_date", sql.SQL("a.interaction_date")),
        "channel": same_or("channel", spell("channel", sql.SQL("ch.code"), sql.SQL("nullif(ch.name, 'Unassigned')"))),
        "transcript": kept("transcript", sql.SQL("a.transcript")),
        "average_score": kept("average_score", sql.SQL("a.total_score")),
        "critical_errors": kept("critical_errors", sql.SQL("a.critical_errors_count")),
        "total_errors_count": kept("total_errors_count", sql.SQL("a.total_errors_count")),
        "passing_status": status("passing_status"),
        "validation_status": status("validation_status"),
        "acknowledgement_status": status("acknowledgement_status"),
        "audit_duration": kept("audit_duration", sql.SQL("a.audit_duration")),
        "submitted_at": kept("submitted_at", sql.SQL("a.submitted_at")),
        "audit_start_time": kept("audit_start_time", sql.SQL("a.audit_start_time")),
        "audit_end_time": kept("audit_end_time", sql.SQL("a.audit_end_time")),
        "reversal_requested_at": kept("reversal_requested_at", sql.SQL("a.reversal_requested_at")),
        "reversal_approved": kept("reversal_approved", sql.SQL("a.reversal_approved")),
        "created_at": kept("created_at", sql.SQL("a.created_at")),
        "updated_at": kept("updated_at", sql.SQL("a.updated_at")),
    }
    return derived


_AUDITS_COLUMN = {"average_score": "total_score", "critical_errors": "critical_errors_count"}


def _of_type(name: str, typ: str, tz: str = "UTC") -> sql.Composable | None:
    """A common column the table holds in another type than audits, when the shared expression
    would not give its type back: a time without zone (read as UTC, shown as UTC), a non-text
    column converted by check (a flag as 0/1), one with no conversion (its legacy text, always)."""
    if name not in COMMON_COLUMNS or name in LEGACY_TEXT or name == "id":
        return None
    target, col = common_type(name), sql.SQL("a.{}").format(sql.Identifier(_AUDITS_COLUMN.get(name, name)))
    lv = sql.SQL("a.legacy_values ->> {}").format(sql.Literal(name))
    k = convert.kind(typ, target)
    if k == "zoned":
        # a date written through audits into a time stamp column: its midnight in the business
        # time zone (read back, the same date)
        return sql.SQL("CASE WHEN s.same AND a.legacy_values ? {} THEN {} ELSE ({})::text || ' 00:00:00 ' || {} END").format(
            sql.Literal(name), lv, col, sql.Literal(tz))
    if k == "widen" and convert.base(typ) == "timestamp without time zone":
        return convert.write(col, target, typ)
    if k == "checked" and convert.base(typ) not in convert.TEXTUAL:
        return sql.SQL("CASE WHEN s.same AND a.legacy_values ? {} THEN {} ELSE ({})::text END").format(
            sql.Literal(name), lv, convert.write(col, target, typ))
    if k is None:
        return lv
    return None


def compat_view(t: AuditTable, spellings: dict[str, dict[str, str]] | None = None, tz: str = "UTC") -> sql.Composable:
    """templates/compat_view.sql with one expression per legacy column: a common column from
    derived_expressions (with the table's spellings as literals), any other from
    parameter_scores. A uuid-keyed table's id is the audit's own (an index probe for readers that
    filter on it); any other id is the legacy id in its type."""
    derived = derived_expressions(spell_literals(spellings or {}))
    if uuid_keyed(t):
        derived["id"] = sql.SQL("a.id")
    exprs = []
    for name, typ in t.columns.items():
        # a parameter column, or a column without parameter: from parameter_scores
        expr = _of_type(name, typ, tz) or derived.get(name) or sql.SQL("a.parameter_scores ->> {}").format(sql.Literal(name))
        exprs.append(sql.SQL("({})::{} AS {}").format(expr, sql.SQL(typ), sql.Identifier(name)))
    return template("compat_view").format(view=sql.Identifier("public", compat_view_name(t.table_name)),
                                          expressions=sql.SQL(",\n       ").join(exprs),
                                          table_name=sql.Literal(t.table_name))


COMMENT_PREFIX = "cqms-migrate compat view of "


def _out_of_date(ctx, tables: list[AuditTable]) -> list[AuditTable]:
    """The tables whose compat view is missing or no longer has exactly the legacy columns
    (names, order, types): a new scorecard table, a column added, dropped or retyped since."""
    out = []
    for t in tables:
        legacy = sql.Identifier("public", t.table_name).as_string(ctx.conn)
        view = sql.Identifier("public", compat_view_name(t.table_name)).as_string(ctx.conn)
        differs = ctx.conn.execute(
            "WITH l AS (SELECT row_number() OVER (ORDER BY attnum) AS n, attname, format_type(atttypid, atttypmod) AS typ"
            "           FROM pg_attribute WHERE attrelid = %(l)s::regclass AND attnum > 0 AND NOT attisdropped),"
            "     v AS (SELECT row_number() OVER (ORDER BY attnum) AS n, attname, format_type(atttypid, atttypmod) AS typ"
            "           FROM pg_attribute WHERE attrelid = to_regclass(%(v)s) AND attnum > 0 AND NOT attisdropped)"
            "SELECT to_regclass(%(v)s) IS NULL OR EXISTS ((SELECT * FROM l EXCEPT SELECT * FROM v)"
            "                                            UNION ALL (SELECT * FROM v EXCEPT SELECT * FROM l))",
            {"v": view, "l": legacy}).fetchone()[0]
        if differs:
            out.append(t)
    end_read(ctx.conn)
    return out


@dataclass
class CompatViews(Step):
    """A compat view per migratable table. A re-run after the legacy shape changed re-creates the
    views that no longer match their table (drop and create in one transaction: readers of the
    view wait for that moment only). The revert drops every view the runbook made (by its
    comment), so a view whose table was renamed since goes too."""

    def render_deploy(self, ctx) -> Rendered:
        from . import migratable, values
        out = []
        for t in _out_of_date(ctx, migratable(ctx)):
            view = sql.Identifier("public", compat_view_name(t.table_name))
            if ctx.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (view.as_string(ctx.conn),)).fetchone()[0]:
                out.append(compose(ctx.conn, template("recreate_view").format(view=view)))
            found = values.spellings(ctx.conn, t, ctx.params)
            out += values.spelling_statements(ctx.conn, t, found)
            out.append(compose(ctx.conn, compat_view(t, found, ctx.params.time_zone)))
            # the read rights of the legacy table it stands in for, never more than RLS on audits
            # allows (security_invoker); Supabase's default grants revoked in the same transaction
            out += compat_views.rights_statements(
                ctx.conn, compat_view_name(t.table_name), t.table_name,
                COMMENT_PREFIX + sql.Identifier("public", t.table_name).as_string(ctx.conn))
        end_read(ctx.conn)
        return Rendered(out)

    def stale(self, ctx) -> str | None:
        from . import migratable
        names = [t.table_name for t in _out_of_date(ctx, migratable(ctx))]
        return f"compat views to (re)create: {', '.join(names)}" if names else None

    def render_revert(self, ctx) -> Rendered:
        views = [r[0] for r in ctx.conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') LIKE %s ORDER BY 1",
            (COMMENT_PREFIX + "%",)).fetchall()]
        end_read(ctx.conn)
        return Rendered([compose(ctx.conn, template("drop_view").format(view=sql.SQL(v))) for v in views]
                        + [compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_legacy_spellings"))])

    def render_verify(self, ctx) -> Rendered:
        from . import migratable
        return Rendered([compose(ctx.conn, template("verify_compat_view").format(
            legacy=sql.Literal(sql.Identifier("public", t.table_name).as_string(ctx.conn)),
            view=sql.Literal(sql.Identifier("public", compat_view_name(t.table_name)).as_string(ctx.conn)),
            table_name=sql.Literal(t.table_name))) for t in migratable(ctx)])
