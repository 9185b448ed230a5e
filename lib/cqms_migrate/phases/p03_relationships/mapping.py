"""Legacy audit_assignments row -> assignments row: the one mapping (templates/shaped_assignment.sql),
the function that applies it (p03_apply: the sync, the backfill and the retries all write
through it), and the vocabularies of the constrained columns.

The legacy table is read as the catalog has it (legacy_shape, "audit_assignments"): columns by
the seed's name or a variant, each through convert's lossless rule."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from ... import legacy_shape, vocab
from ...db import end_read

PHASE = "03_relationships"
TABLE = "audit_assignments"
HERE = Path(__file__).resolve().parent

# the constrained columns' vocabularies: each value's own spelling, plus these legacy spellings
# (decision 3.4); a spelling none knows quarantines its row as unmapped_<column>
VOCABULARIES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "assignment_status": (("pending", "in_progress", "completed", "cancelled", "on_hold"), {
        "assigned": "pending", "scheduled": "pending", "open": "pending", "todo": "pending", "to do": "pending",
        "in progress": "in_progress", "started": "in_progress", "ongoing": "in_progress",
        "complete": "completed", "done": "completed", "finished": "completed",
        "canceled": "cancelled", "cancel": "cancelled", "on hold": "on_hold", "paused": "on_hold"}),
    "source_type": (("manual", "automated", "import", "api"), {
        "auto": "automated", "automatic": "automated", "ai suggested": "automated", "scheduled": "automated",
        "system": "automated", "bulk upload": "import", "bulk": "import", "csv": "import", "upload": "import"}),
}

# what the batch statements open with (pg_stat_activity shows it; the rehearsal's faults aim there)
BACKFILL_MARKER = "Backfill, statement"


def template(name: str) -> sql.SQL:
    return sql.SQL((HERE / "templates" / f"{name}.sql").read_text())


def value_map() -> dict[str, dict[str, str]]:
    """vocabulary -> {legacy key: value}."""
    out = {}
    for name, (values, extra) in VOCABULARIES.items():
        m = {vocab.key(v): v for v in values}
        m.update({vocab.key(k): v for k, v in extra.items()})
        out[name] = m
    return out


def shape(conn: psycopg.Connection) -> legacy_shape.TableShape:
    """audit_assignments as the catalog has it (LegacyShapeError without id and both emails)."""
    from ...errors import LegacyShapeError
    cols = legacy_shape.table_columns(conn, TABLE)
    end_read(conn)
    if not cols:
        raise LegacyShapeError(f"legacy table public.{TABLE} not found: is this the CQMS database?")
    return legacy_shape.shape_of(TABLE, cols)


def findings(s: legacy_shape.TableShape) -> list[str]:
    """What differs from the seed's shape, one line each (the notebook's section 1)."""
    return [f.replace(f"carried verbatim by {TABLE}_compat", "not read by the mapping (the legacy row keeps it)")
            for f in s.findings()]


def _unconvertible(s: legacy_shape.TableShape, alias: str) -> tuple[sql.Composable, sql.Composable]:
    """(any mapped value does not convert, which one), over the columns read through a check."""
    checks = [(c, s.unconvertible(c, alias)) for c in s.mapped if s.mapped[c].usable and s.mapped[c].kind == "checked"]
    if not checks:
        return sql.SQL("false"), sql.SQL("NULL::text")
    cond = sql.SQL(" OR ").join(x for _, x in checks)
    detail = sql.SQL("CASE {} END").format(sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {} || ' ' || quote_literal(left(({})::text, 200)) || ' is no ' || {}").format(
            x, sql.Literal(s.name(c)), s.raw(c, alias), sql.Literal(s.mapped[c].target)) for c, x in checks))
    return cond, detail


def shaped(s: legacy_shape.TableShape, source: sql.Composable) -> sql.Composed:
    """The shaped SELECT over ``source`` (a FROM item aliased t)."""
    a = "t"
    bad, bad_detail = _unconvertible(s, a)
    fill = {c: s.ident(c, a) for c in s.mapped}
    fill.update(
        id_column=sql.Identifier(s.name("id")), source=source, unconvertible=bad, unconvertible_detail=bad_detail,
        status_key=vocab.key_sql(s.raw("status", a)), source_key=vocab.key_sql(s.raw("source_type", a)),
        status=sql.SQL("({})::text").format(s.raw("status", a)),
        source_type=sql.SQL("({})::text").format(s.raw("source_type", a)))
    # emails are compared as text, as they are
    for c in ("employee_email", "auditor_email", "assigned_by"):
        fill[c] = sql.SQL("({})::text").format(s.raw(c, a))
    return template("shaped_assignment").format(**fill)


def id_type(s: legacy_shape.TableShape) -> sql.SQL:
    return sql.SQL(s.mapped["id"].column.type)


def by_keys(s: legacy_shape.TableShape) -> sql.Composed:
    """The legacy rows whose ids are p_keys (the apply function's argument), by the id's own type
    (an index probe on the legacy primary key)."""
    return sql.SQL("(SELECT * FROM public.{table} x WHERE x.{id} = ANY (p_keys::{typ}[])) t").format(
        table=sql.Identifier(TABLE), id=sql.Identifier(s.name("id")), typ=id_type(s))


COLUMNS = ("id", "employee_id", "auditor_id", "assigner_id", "scorecard_id", "status", "priority", "scheduled_date",
           "week", "quarter", "conversation_id", "intercom_alias", "source_type", "completed_at", "audit_id",
           "created_at", "updated_at")
# what a legacy write does not overwrite: written only through the unified path
NOT_FROM_LEGACY = ("id", "priority")


def columns(partitioned: bool) -> tuple[str, ...]:
    return COLUMNS + (("audit_interaction_date",) if partitioned else ())


def apply_function(s: legacy_shape.TableShape, partitioned: bool) -> sql.Composed:
    cols = columns(partitioned)
    values = [sql.SQL("good.created_at") if c == "updated_at" else sql.SQL("good.{}").format(sql.Identifier(c))
              for c in cols]
    updates = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in cols
               if c not in NOT_FROM_LEGACY and c != "updated_at"]
    updates.append(sql.SQL("updated_at = CASE WHEN ({}) IS DISTINCT FROM ({}) THEN now() ELSE a.updated_at END").format(
        sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c)) for c in cols
                           if c not in NOT_FROM_LEGACY and c != "updated_at"),
        sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in cols
                           if c not in NOT_FROM_LEGACY and c != "updated_at")))
    body = template("apply_body").format(
        shaped=shaped(s, by_keys(s)), phase=sql.Literal(PHASE), table_name=sql.Literal(TABLE),
        columns=sql.SQL(", ").join(map(sql.Identifier, cols)), values=sql.SQL(", ").join(values),
        updates=sql.SQL(", ").join(updates))
    return body


def _body_literal(conn, body: sql.Composable) -> sql.Literal:
    # a function body is a quoted literal, never dollar-quoted (a hostile identifier could close the tag)
    return sql.Literal(body.as_string(conn))


def apply_function_sql(conn, s: legacy_shape.TableShape, partitioned: bool) -> sql.Composed:
    return template("apply_function").format(body=_body_literal(conn, apply_function(s, partitioned)))


def sync_body(s: legacy_shape.TableShape) -> sql.Composed:
    return template("sync_body").format(
        table_name=sql.Literal(TABLE), phase=sql.Literal(PHASE), id_column=sql.Identifier(s.name("id")),
        id_name=sql.Literal(s.name("id")))


def retry_body(s: legacy_shape.TableShape) -> sql.Composed:
    return template("retry_body").format(table=sql.Identifier(TABLE), id_column=sql.Identifier(s.name("id")),
                                         id_type=id_type(s))


def tid(page: int) -> sql.Literal:
    return sql.Literal(f"({int(page)},0)")


def backfill_statements(s: legacy_shape.TableShape, from_page: int, to_page: int) -> list[sql.Composed]:
    """One batch: the pages' rows without an id to the quarantine, then the rows no trigger has
    claimed are claimed and applied (read, written, quarantined)."""
    rng = sql.SQL("t.ctid >= {}::tid AND t.ctid < {}::tid").format(tid(from_page), tid(to_page))
    ident, id_col = sql.Identifier("public", TABLE), sql.Identifier(s.name("id"))
    null_ids = sql.SQL(
        "-- Backfill, statement 1 (rows without an id)\n"
        "INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id) "
        "SELECT {phase}, {table_name}, 'null-id:' || md5(t::text), 'null_id', 'the legacy row has no id', to_jsonb(t), "
        "'backfill' FROM {ident} t WHERE {rng} AND t.{id} IS NULL "
        "ON CONFLICT (phase, source_table, source_key) DO NOTHING").format(
        phase=sql.Literal(PHASE), table_name=sql.Literal(TABLE), ident=ident, rng=rng, id=id_col)
    move = sql.SQL(
        "-- Backfill, statement 2 (claim, then apply)\n"
        "WITH r AS (SELECT t.{id}::text AS key FROM {ident} t WHERE {rng}), "
        "c AS (INSERT INTO cqms_migration.p03_claims (assignment_key) SELECT DISTINCT key FROM r WHERE key IS NOT NULL "
        "ON CONFLICT (assignment_key) DO NOTHING RETURNING assignment_key) "
        "SELECT (SELECT count(*) FROM r), z.o[1], z.o[2] FROM "
        "(SELECT cqms_migration.p03_apply(array_agg(assignment_key), 'backfill') AS o FROM c) z").format(
        id=id_col, ident=ident, rng=rng)
    return [null_ids, move]
