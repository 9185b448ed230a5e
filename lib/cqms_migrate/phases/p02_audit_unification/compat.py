"""The compat views: one <table>_compat per dynamic table, exactly its legacy columns, names,
order and types, over audits (security_invoker), with the rights of the legacy table it stands
in for. Legacy readers use them; the reverse sync reads them (the one audits -> legacy mapping)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...db import end_read
from ...inventory import AuditTable
from ...steps import Rendered, Step, compose
from .mapping import short_name, template

API_ROLES = ("anon", "authenticated", "service_role")


def compat_view_name(table: str) -> str:
    name = f"{table}_compat"
    return name if len(name.encode()) <= 63 else f"compat_{short_name(table)}"


def _legacy_status(spelling: dict[str, str]) -> sql.Composable:
    """A status set through audits ('pass') in the legacy spelling from params ('Passed')."""
    if not spelling:
        return sql.SQL("a.passing_status")
    whens = sql.SQL(" ").join(sql.SQL("WHEN {} THEN {}").format(sql.Literal(k), sql.Literal(v))
                              for k, v in sorted(spelling.items()))
    return sql.SQL("CASE a.passing_status {} ELSE a.passing_status END").format(whens)


def compat_view(t: AuditTable, legacy_spelling: dict[str, str] | None = None) -> sql.Composable:
    """templates/compat_view.sql with one expression per legacy column. A row changed through
    audits shows its passing_status in the legacy spelling from params (which the
    passing_status_map reads back), so legacy readers and the reverse sync see 'Passed', not 'pass'."""
    lv = lambda c: sql.SQL("a.legacy_values ->> {}").format(sql.Literal(c))  # noqa: E731
    same_or = lambda c, derived: sql.SQL("CASE WHEN s.same THEN {} ELSE {} END").format(lv(c), derived)  # noqa: E731
    derived = {
        "id": sql.SQL("a.id"),
        "employee_email": same_or("employee_email", sql.SQL("emp.email")),
        "employee_name": same_or("employee_name", sql.SQL("emp.name")),
        "auditor_email": same_or("auditor_email", sql.SQL("aud.email")),
        "auditor_name": same_or("auditor_name", sql.SQL("aud.name")),
        "interaction_id": sql.SQL("a.interaction_id"),
        "interaction_date": sql.SQL("a.interaction_date"),
        "channel": same_or("channel", sql.SQL("nullif(ch.name, 'Unassigned')")),
        "transcript": sql.SQL("a.transcript"),
        "average_score": sql.SQL("a.total_score"),
        "critical_errors": sql.SQL("a.critical_errors_count"),
        "total_errors_count": sql.SQL("a.total_errors_count"),
        "passing_status": same_or("passing_status", _legacy_status(legacy_spelling or {})),
        "validation_status": sql.SQL("a.validation_status"),
        "acknowledgement_status": sql.SQL("a.acknowledgement_status"),
        "audit_duration": sql.SQL("a.audit_duration"),
        "submitted_at": sql.SQL("a.submitted_at"),
        "audit_start_time": sql.SQL("a.audit_start_time"),
        "audit_end_time": sql.SQL("a.audit_end_time"),
        "reversal_requested_at": sql.SQL("a.reversal_requested_at"),
        "reversal_approved": sql.SQL("a.reversal_approved"),
        "created_at": sql.SQL("a.created_at"),
        "updated_at": sql.SQL("a.updated_at"),
    }
    exprs = []
    for name, typ in t.columns.items():
        # a parameter column, or a column without parameter: from parameter_scores
        expr = derived.get(name) or sql.SQL("a.parameter_scores ->> {}").format(sql.Literal(name))
        exprs.append(sql.SQL("({})::{} AS {}").format(expr, sql.SQL(typ), sql.Identifier(name)))
    return template("compat_view").format(view=sql.Identifier("public", compat_view_name(t.table_name)),
                                          expressions=sql.SQL(",\n       ").join(exprs),
                                          table_name=sql.Literal(t.table_name))


@dataclass
class CompatViews(Step):
    def render_deploy(self, ctx) -> Rendered:
        from . import migratable
        out = []
        for t in migratable(ctx):
            view = sql.Identifier("public", compat_view_name(t.table_name))
            out.append(compose(ctx.conn, compat_view(t, ctx.params.passing_status_legacy_spelling)))
            out.append(compose(ctx.conn, template("compat_rights").format(view=view)))
            readers = [r[0] for r in ctx.conn.execute(
                "SELECT r FROM unnest(%s::text[]) r WHERE has_table_privilege(r, %s::regclass, 'SELECT')",
                (list(API_ROLES), sql.Identifier("public", t.table_name).as_string(ctx.conn))).fetchall()]
            if readers:
                out.append(compose(ctx.conn, template("compat_grant").format(
                    view=view, roles=sql.SQL(", ").join(sql.Identifier(r) for r in readers))))
        end_read(ctx.conn)
        return Rendered(out)

    def render_revert(self, ctx) -> Rendered:
        from . import migratable
        return Rendered([compose(ctx.conn, template("drop_view").format(
            view=sql.Identifier("public", compat_view_name(t.table_name)))) for t in migratable(ctx)])

    def render_verify(self, ctx) -> Rendered:
        from . import migratable
        return Rendered([compose(ctx.conn, template("verify_compat_view").format(
            legacy=sql.Literal(sql.Identifier("public", t.table_name).as_string(ctx.conn)),
            view=sql.Literal(sql.Identifier("public", compat_view_name(t.table_name)).as_string(ctx.conn)),
            table_name=sql.Literal(t.table_name))) for t in migratable(ctx)])
