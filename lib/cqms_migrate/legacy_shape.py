"""users and people as the catalog has them, never as our generator made them.

The columns the phase-1 mapping reads by meaning are recognised by the seed's name or a
plausible variant (case and punctuation ignored: "Email", "full-name"); each is read through the
lossless conversion rule of convert.py. Every other column is carried: the snapshot keeps it
(to_jsonb of the row) and the compat views return it with its name, type and position.

A recognised column whose type has no lossless conversion is carried too, and reported. Without
users.id and an email column in each table there is no mapping: LegacyShapeError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from . import convert
from .errors import LegacyShapeError

# canonical name -> (the unified type it is read as, variants after the seed's own name)
CANONICAL: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "users": {
        "id": ("uuid", ("user_id", "auth_user_id", "uid")),
        "email": ("text", ("email_address", "user_email", "mail")),
        "full_name": ("text", ("name", "display_name", "fullname", "user_name")),
        "avatar_url": ("text", ("avatar", "picture", "photo_url", "image_url")),
        "provider": ("text", ("auth_provider", "sign_in_provider")),
        "last_sign_in_at": ("timestamp with time zone", ("last_signin_at", "last_login_at", "last_login")),
        "sign_in_count": ("integer", ("signin_count", "login_count", "logins")),
        "device_info": ("jsonb", ("device",)),
        "notification_preferences": ("jsonb", ("notification_prefs", "notifications")),
        "created_at": ("timestamp with time zone", ("created", "inserted_at")),
        "updated_at": ("timestamp with time zone", ("updated", "modified_at")),
    },
    "people": {
        "email": ("text", ("email_address", "work_email", "mail")),
        "name": ("text", ("full_name", "display_name", "person_name")),
        "role": ("text", ("role_name", "user_role", "position")),
        "department": ("text", ("dept", "department_name")),
        "designation": ("text", ("title", "job_title")),
        "employee_id": ("text", ("employee_code", "emp_id", "employee_number", "staff_id")),
        "channel": ("text", ("channel_name",)),
        "team": ("text", ("team_name",)),
        "team_supervisor": ("text", ("supervisor", "supervisor_email", "team_lead")),
        "quality_mentor": ("text", ("mentor", "mentor_email", "qa_mentor")),
        "country": ("text", ("country_code", "country_name")),
        "is_active": ("boolean", ("active", "enabled", "is_enabled")),
        "last_login": ("timestamp with time zone", ("last_login_at", "last_sign_in_at", "last_seen_at")),
        "login_count": ("integer", ("sign_in_count", "logins")),
        "avatar_url": ("text", ("avatar", "picture", "photo_url")),
        "intercom_admin_alias": ("text", ("intercom_alias",)),
    },
    # phase 03 (seed 1.1 "audit_assignments"): the legacy assignment columns by meaning
    "audit_assignments": {
        "id": ("uuid", ("assignment_id", "uuid")),
        "employee_email": ("text", ("agent_email", "employee", "assignee_email", "email")),
        "employee_name": ("text", ("agent_name", "assignee_name")),
        "auditor_email": ("text", ("auditor", "qa_email", "reviewer_email")),
        "scorecard_id": ("uuid", ("scorecard",)),
        "status": ("text", ("assignment_status", "state")),
        "scheduled_date": ("date", ("scheduled_for", "scheduled_on", "schedule_date", "due_on")),
        "week": ("integer", ("week_number", "week_no")),
        "completed_at": ("timestamp with time zone", ("completed", "completed_on", "finished_at")),
        "audit_id": ("uuid", ("audit", "audit_uuid")),
        "conversation_id": ("text", ("conversation", "ticket_id")),
        "intercom_alias": ("text", ("intercom_admin_alias",)),
        "source_type": ("text", ("source", "assignment_source")),
        "assigned_by": ("text", ("assigner_email", "assigned_by_email", "assigner", "created_by")),
        "created_at": ("timestamp with time zone", ("created", "inserted_at", "assigned_at")),
    },
}
REQUIRED = {"users": ("id", "email"), "people": ("email",), "audit_assignments": ("id", "employee_email", "auditor_email")}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Column:
    name: str
    type: str
    position: int


@dataclass
class Mapped:
    canonical: str
    target: str                 # the unified type
    column: Column | None       # None: the table has no such column (reads as NULL)
    kind: str | None = None     # convert.kind of the column's type, when present

    @property
    def usable(self) -> bool:
        return self.column is not None and self.kind is not None


@dataclass
class TableShape:
    table: str
    columns: list[Column]
    mapped: dict[str, Mapped] = field(default_factory=dict)

    # -- what the mapping reads ----------------------------------------------------------------
    def name(self, canonical: str) -> str | None:
        m = self.mapped[canonical]
        return m.column.name if m.usable else None

    def ident(self, canonical: str, alias: str) -> sql.Composable:
        """alias.<column> as the unified type (NULL where the table has no usable column)."""
        m = self.mapped[canonical]
        if not m.usable:
            return sql.SQL("NULL::{}").format(sql.SQL(m.target))
        return convert.read(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(m.column.name)),
                            m.column.type, m.target)

    def raw(self, canonical: str, alias: str) -> sql.Composable:
        """alias.<column> as it is (for a value compared as text, like an email)."""
        m = self.mapped[canonical]
        if not m.usable:
            return sql.SQL("NULL::text")
        return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(m.column.name))

    def json(self, canonical: str, row: sql.Composable) -> sql.Composable:
        """The column in a row held as jsonb (the snapshot, to_jsonb(row)) as the unified type."""
        m = self.mapped[canonical]
        if not m.usable:
            return sql.SQL("NULL::{}").format(sql.SQL(m.target))
        return convert.read_json(row, m.column.name, m.column.type, m.target)

    def key(self, canonical: str) -> sql.Composable:
        """The snapshot key of a column (its legacy name); a key no row has when absent."""
        m = self.mapped[canonical]
        return sql.Literal(m.column.name if m.usable else f"(no {canonical} column)")

    def write(self, canonical: str, value: sql.Composable) -> tuple[sql.Composable, sql.Composable] | None:
        """(column identifier, value in its legacy type), or None when there is nowhere to write."""
        m = self.mapped[canonical]
        if not m.usable:
            return None
        return sql.Identifier(m.column.name), convert.write(value, m.target, m.column.type)

    def carried(self) -> list[Column]:
        """Columns returned from the snapshot only: not mapped, or mapped without a lossless conversion."""
        used = {m.column.name for m in self.mapped.values() if m.usable}
        return [c for c in self.columns if c.name not in used]

    def unconvertible(self, canonical: str, alias: str) -> sql.Composable:
        m = self.mapped[canonical]
        if not m.usable:
            return sql.SQL("false")
        return convert.unconvertible(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(m.column.name)),
                                     m.column.type, m.target)

    def findings(self) -> list[str]:
        """What differs from the seed's shape, one line each (preflight and the phase-1 notebook)."""
        out = []
        for m in self.mapped.values():
            if m.column is None:
                out.append(f"{self.table}: no {m.canonical} column (read as NULL)")
            elif m.kind is None:
                out.append(f"{self.table}.{m.column.name} ({m.column.type}): no lossless conversion to {m.target}; "
                           "carried as it is, not mapped")
            else:
                if m.column.name != m.canonical:
                    out.append(f"{self.table}.{m.column.name} read as {m.canonical}")
                if m.kind == "checked":
                    out.append(f"{self.table}.{m.column.name} ({m.column.type}) converted to {m.target} "
                               "where the value allows it; other values are reported")
        for c in self.carried():
            if c.name not in {m.column.name for m in self.mapped.values() if m.column}:
                out.append(f"{self.table}.{c.name} ({c.type}): carried verbatim by {self.table}_compat")
        return out


def table_columns(conn: psycopg.Connection, table: str) -> list[Column]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnum FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind IN ('r', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (table,)).fetchall()
    return [Column(*r) for r in rows]


def shape_of(table: str, columns: list[Column]) -> TableShape:
    shape = TableShape(table, columns)
    by_norm: dict[str, Column] = {}
    for c in columns:
        by_norm.setdefault(_norm(c.name), c)
    taken: set[str] = set()
    spec = CANONICAL[table]
    # the seed's own names first, so a variant never takes a column another canonical name owns
    for canonical in spec:
        c = by_norm.get(_norm(canonical))
        if c is not None:
            shape.mapped[canonical] = Mapped(canonical, spec[canonical][0], c)
            taken.add(c.name)
    for canonical, (target, variants) in spec.items():
        if canonical in shape.mapped:
            continue
        found = next((by_norm[_norm(v)] for v in variants if _norm(v) in by_norm and by_norm[_norm(v)].name not in taken), None)
        shape.mapped[canonical] = Mapped(canonical, target, found)
        if found is not None:
            taken.add(found.name)
    shape.mapped = {k: shape.mapped[k] for k in spec}
    for m in shape.mapped.values():
        if m.column is not None:
            m.kind = convert.kind(m.column.type, m.target)
    missing = [c for c in REQUIRED[table] if not shape.mapped[c].usable]
    if missing:
        raise LegacyShapeError(
            f"legacy table public.{table} has no usable {' or '.join(missing)} column "
            f"(looked for {', '.join(c + ' or ' + '/'.join(spec[c][1]) for c in missing)}; "
            f"it has {', '.join(c.name + ' ' + c.type for c in columns) or 'no columns'})")
    return shape


def discover(conn: psycopg.Connection) -> dict[str, TableShape]:
    out = {}
    for table in ("users", "people"):
        cols = table_columns(conn, table)
        if not cols:
            raise LegacyShapeError(f"legacy table public.{table} not found: is this the CQMS database?")
        out[table] = shape_of(table, cols)
    return out


# where the phase-1 SQL templates read users and people: row aliases (a row of the table) and
# rows held as jsonb (the snapshot, the quarantine's copy)
ROW_ALIASES = {"people": ("p", "n", "o"), "users": ("u", "n", "o")}
JSON_ROWS = {
    "people": {"pr": "per.pr", "snapshot": "legacy_snapshot -> 'people'", "e": "e.legacy_snapshot -> 'people'",
               "excluded": "EXCLUDED.legacy_snapshot -> 'people'", "q": "q.original_row",
               "old": "OLD.legacy_snapshot -> 'people'", "snap": "v_snapshot -> 'people'",
               "r_snapshot": "r.legacy_snapshot -> 'people'", "src": "src.pr"},
    "users": {"uj": "per.u", "q": "q.original_row", "old": "OLD.legacy_snapshot -> 'users'"},
}


# columns a login writes: the mapping reads them only for the employee's activity (and the
# duplicate precedence), so a write changing nothing else takes p01_apply's fast path (p01_touch)
ACTIVITY = {"people": ("last_login", "login_count"), "users": ("last_sign_in_at", "sign_in_count", "updated_at")}


def placeholders(shapes: dict[str, TableShape]) -> dict[str, sql.Composable]:
    """Every {table.alias.column} a phase-1 template may name, for psycopg.sql.format:
    {people.p.email} the column of row p as the unified type, {users.u.id.raw} as it is,
    {people.pr.name} read from a row held as jsonb, {users.key.id} the snapshot key;
    {people.activity} the legacy names of its activity columns (a text[])."""
    out: dict[str, sql.Composable] = {}
    for table, shape in shapes.items():
        names = [shape.name(c) for c in ACTIVITY[table] if shape.name(c)]
        out[f"{table}.activity"] = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(map(sql.Literal, names)))
        for canonical in shape.mapped:
            out[f"{table}.key.{canonical}"] = shape.key(canonical)
            for alias in ROW_ALIASES[table]:
                out[f"{table}.{alias}.{canonical}"] = shape.ident(canonical, alias)
                out[f"{table}.{alias}.{canonical}.raw"] = shape.raw(canonical, alias)
            for alias, row in JSON_ROWS[table].items():
                out[f"{table}.{alias}.{canonical}"] = shape.json(canonical, sql.SQL(row))
    return out


def fill(template: str, shapes: dict[str, TableShape], **extra: sql.Composable) -> sql.Composed:
    """A phase-1 template (literal braces doubled) with every placeholder it names filled."""
    import string
    values = placeholders(shapes) | extra
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    return sql.SQL(template).format(**{n: values[n] for n in names})
