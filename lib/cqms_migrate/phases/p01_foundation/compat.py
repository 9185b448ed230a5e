"""users_compat and people_compat for the shape the catalog has (legacy_shape): every legacy
column, in its position, with its name and type. A mapped column returns the legacy value while
the employee is unchanged since its snapshot, else the value derived from employees in the legacy
type; every other column (not mapped, or with no lossless conversion) returns the snapshot's
value. The snapshot is read through a composite type of the runbook's own
(cqms_migration.p01_<table>_shape), never the legacy table's row type: the views hold no
dependency on users or people, so the application can still alter them."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ... import convert
from ...legacy_shape import TableShape
from .shaped import ShapedSqlStep

DERIVED = {
    "users": {"id": "e.auth_user_id", "email": "e.email", "full_name": "e.name", "avatar_url": "e.avatar_url",
              "last_sign_in_at": "e.last_login_at", "sign_in_count": "e.login_count", "device_info": "e.device_info",
              "notification_preferences": "e.notification_preferences", "created_at": "e.created_at",
              "updated_at": "e.updated_at"},
    "people": {"email": "e.email", "name": "e.name", "role": "r.name", "department": "nullif(d.name, 'Unassigned')",
               "designation": "e.designation", "employee_id": "e.employee_id", "channel": "nullif(c.name, 'Unassigned')",
               "team": "nullif(t.name, 'Unassigned')", "team_supervisor": "sup.email", "quality_mentor": "qm.email",
               "country": "nullif(e.country_code, 'ZZ')", "is_active": "e.is_active", "last_login": "e.last_login_at",
               "login_count": "e.login_count", "avatar_url": "e.avatar_url",
               "intercom_admin_alias": "e.intercom_admin_alias"},
}

FROM = {
    "users": """FROM public.employees e
CROSS JOIN LATERAL (
  SELECT jsonb_populate_record(NULL::{shape}, e.legacy_snapshot -> 'users') AS r,
         (e.legacy_snapshot ? 'users') AND e.version = (e.legacy_snapshot ->> 'version')::integer AS same
) s
WHERE e.auth_user_id IS NOT NULL AND e.deleted_at IS NULL""",
    "people": """FROM public.employees e
CROSS JOIN LATERAL (
  SELECT jsonb_populate_record(NULL::{shape}, e.legacy_snapshot -> 'people') AS r,
         (e.legacy_snapshot ? 'people') AND e.version = (e.legacy_snapshot ->> 'version')::integer AS same
) s
LEFT JOIN public.roles r ON r.id = e.role_id
LEFT JOIN public.departments d ON d.id = e.department_id
LEFT JOIN public.channels c ON c.id = e.channel_id
LEFT JOIN public.teams t ON t.id = e.team_id
LEFT JOIN public.employees sup ON sup.id = e.supervisor_id
LEFT JOIN public.employees qm ON qm.id = e.quality_mentor_id
-- users-only accounts were never people; employees created after cutover are
WHERE e.deleted_at IS NULL AND (e.legacy_snapshot ? 'people' OR e.legacy_snapshot IS NULL)""",
}


def shape_type(table: str) -> sql.Identifier:
    return sql.Identifier("cqms_migration", f"p01_{table}_shape")


def create_shape_type(shape: TableShape) -> sql.Composable:
    return sql.SQL("CREATE TYPE {} AS ({})").format(shape_type(shape.table), sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in shape.columns))


def view(shape: TableShape) -> sql.Composable:
    derived = DERIVED[shape.table]
    by_column = {m.column.name: m for m in shape.mapped.values() if m.usable}
    cols = []
    for c in shape.columns:
        snap = sql.SQL("(s.r).{}").format(sql.Identifier(c.name))
        m = by_column.get(c.name)
        if m is not None and m.canonical in derived:
            value = convert.write(sql.SQL(derived[m.canonical]), m.target, c.type, exact=True)
            # in the legacy type exactly (a varchar(60) stays varchar(60))
            expr = sql.SQL("(CASE WHEN s.same THEN {} ELSE {} END)::{}").format(snap, value, sql.SQL(c.type))
        else:
            expr = snap  # carried: the legacy row's value, whatever the employee became
        cols.append(sql.SQL("  {} AS {}").format(expr, sql.Identifier(c.name)))
    return sql.SQL("CREATE VIEW public.{name} WITH (security_invoker = true) AS\nSELECT\n{cols}\n{src}").format(
        name=sql.Identifier(f"{shape.table}_compat"), cols=sql.SQL(",\n").join(cols),
        src=sql.SQL(FROM[shape.table]).format(shape=shape_type(shape.table)))


def placeholders(shapes: dict[str, TableShape]) -> dict[str, sql.Composable]:
    return {"compat_views": sql.SQL(";\n\n").join(
        [create_shape_type(shapes["users"]), create_shape_type(shapes["people"]), view(shapes["users"]),
         view(shapes["people"])])}


@dataclass
class CompatViews(ShapedSqlStep):
    """users_compat / people_compat composed for the discovered shape (compat.py)."""

    def statements(self, found):
        return placeholders(found)
