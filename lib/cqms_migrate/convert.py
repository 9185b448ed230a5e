"""Which legacy column types the runbook converts to the unified type, and how, losslessly.

A legacy column the mapping reads may hold its values in another type than the unified column
(sign_in_count as text, an id as bigint, a flag as 'yes'/'no'). The rule, one for users, people
and the dynamic audit tables:

  same      the type the unified column has: read as it is;
  widen     every value has exactly one value of the unified type (smallint -> integer,
            varchar -> text, json -> jsonb, timestamp -> timestamptz): cast;
  checked   some values convert, some do not (text -> integer): each value through a
            cqms_migration.to_<type>(text) function (sql/ledger.sql) that returns NULL unless the
            text denotes exactly one value of the type. A value that does not convert is reported
            (the row is quarantined, or counted as unconvertible) and stays in the legacy row;
  zoned     a time stamp read as a date (interaction_date, the one date column): a timestamp's own
            date, a timestamptz's date in params' business_time_zone; the time of day is dropped
            (preflight counts it) and stays in the legacy row and the compat view;
  None      no lossless conversion exists (jsonb as an integer): the column is not mapped; it is
            carried as it is and reported.

Writes back to the legacy type (reverse sync, compat views) cast the unified value to the legacy
type; a value the legacy type cannot hold raises (the write fails) rather than being truncated.
"""

from __future__ import annotations

import re

from psycopg import sql

TEXTUAL = ("text", "character varying", "character", "citext", "name", "bpchar", "varchar")
INTEGERS = ("smallint", "integer", "bigint")
FLOATS = ("real", "double precision")

CHECKED_FUNCTION = {"integer": "to_integer", "numeric": "to_numeric", "boolean": "to_boolean", "uuid": "to_uuid",
                    "timestamp with time zone": "to_timestamptz", "date": "to_date", "jsonb": "to_jsonb"}

_ALIASES = {"timestamptz": "timestamp with time zone", "int": "integer", "int4": "integer", "int8": "bigint",
            "int2": "smallint", "bool": "boolean", "varchar": "character varying", "timestamp": "timestamp without time zone",
            "float8": "double precision", "float4": "real"}


def base(type_name: str) -> str:
    """A format_type() name without its modifier: 'character varying(40)' -> 'character varying'."""
    t = re.sub(r"\(.*?\)", "", type_name or "").strip().lower()
    return _ALIASES.get(t, t)


def kind(legacy_type: str, target: str) -> str | None:
    """'same', 'widen', 'checked' or None (see the module's docstring)."""
    lt, tt = base(legacy_type), base(target)
    if lt == tt:
        return "same"
    if lt.endswith("[]") or tt.endswith("[]"):
        return None
    if tt == "text":
        return "widen"  # every value has a text form, and it reads back the same
    if tt == "integer":
        return "widen" if lt == "smallint" else "checked" if lt in ("bigint", "numeric", *FLOATS, *TEXTUAL) else None
    if tt == "numeric":
        return "widen" if lt in (*INTEGERS, *FLOATS) else "checked" if lt in TEXTUAL else None
    if tt == "timestamp with time zone":
        return "widen" if lt in ("timestamp without time zone", "date") else "checked" if lt in TEXTUAL else None
    if tt == "date":
        # a time stamp is read as its date: a timestamp's own, a timestamptz's in params'
        # business_time_zone ('zoned': the time of day is dropped, counted by preflight, and stays
        # in the legacy row); text only when it denotes a date (ISO, or a midnight)
        if lt in ("timestamp without time zone", "timestamp with time zone"):
            return "zoned"
        return "checked" if lt in TEXTUAL else None
    if tt == "boolean":
        return "checked" if lt in (*TEXTUAL, *INTEGERS) else None
    if tt == "jsonb":
        return "widen" if lt == "json" else "checked" if lt in TEXTUAL else None
    if tt == "uuid":
        return "checked" if lt in TEXTUAL else None
    return None


def _utc(expr: sql.Composable, legacy_type: str) -> sql.Composable | None:
    """A time without zone read as UTC, whatever the session's TimeZone (the writer's, in a
    trigger): None when the legacy type is not one."""
    lt = base(legacy_type)
    if lt == "timestamp without time zone":
        return sql.SQL("(({}) AT TIME ZONE 'UTC')").format(expr)
    if lt == "date":
        return sql.SQL("(({})::timestamp AT TIME ZONE 'UTC')").format(expr)
    return None


# a column whose text has a reading of its own: a duration written 'mm:ss' or 'hh:mm:ss' (or
# seconds) is a number of seconds (cqms_migration.to_seconds); the column's name decides
CHECKED_BY_COLUMN = {"audit_duration": "to_seconds"}


def _checked_function(legacy_type: str, target: str, column: str | None) -> str:
    if column in CHECKED_BY_COLUMN and base(legacy_type) in TEXTUAL:
        return CHECKED_BY_COLUMN[column]
    return CHECKED_FUNCTION[base(target)]


def read(expr: sql.Composable, legacy_type: str, target: str, column: str | None = None) -> sql.Composable:
    """``expr`` (a value of the legacy type) as the target type; NULL where it does not convert
    (``column``: the common column it is, when its text has a reading of its own)."""
    k = kind(legacy_type, target)
    if k == "same":
        return expr
    if k == "widen":
        if base(target) == "timestamp with time zone":
            return _utc(expr, legacy_type)
        return sql.SQL("({})::{}").format(expr, sql.SQL(target))
    if k == "checked":
        return sql.SQL("cqms_migration.{}(({})::text)").format(
            sql.Identifier(_checked_function(legacy_type, target, column)), expr)
    if k == "zoned":
        if base(legacy_type) == "timestamp with time zone":
            return sql.SQL("cqms_migration.business_date({})").format(expr)
        return sql.SQL("({})::date").format(expr)
    return sql.SQL("NULL::{}").format(sql.SQL(target))


def read_json(row: sql.Composable, column: str, legacy_type: str, target: str) -> sql.Composable:
    """The column of a legacy row held as jsonb (to_jsonb(row)) as the target type."""
    key = sql.Literal(column)
    k = kind(legacy_type, target)
    if base(target) == "jsonb" and k in ("same", "widen"):
        return sql.SQL("nullif(({}) -> {}, 'null'::jsonb)").format(row, key)
    if k == "widen" and base(target) == "timestamp with time zone":
        return _utc(sql.SQL("(({}) ->> {})::{}").format(row, key, sql.SQL(legacy_type)), legacy_type)
    if k in ("same", "widen"):
        return sql.SQL("(({}) ->> {})::{}").format(row, key, sql.SQL(target))
    if k == "checked":
        return sql.SQL("cqms_migration.{}(({}) ->> {})").format(
            sql.Identifier(CHECKED_FUNCTION[base(target)]), row, key)
    return sql.SQL("NULL::{}").format(sql.SQL(target))


def unconvertible(expr: sql.Composable, legacy_type: str, target: str, column: str | None = None) -> sql.Composable:
    """A condition: ``expr`` holds a value that does not convert (only 'checked' columns can). A
    blank value (empty or only spaces, a draft's score) is no value: it reads NULL, never
    'unconvertible', and the legacy row keeps its spelling."""
    if kind(legacy_type, target) != "checked":
        return sql.SQL("false")
    return sql.SQL("(nullif(btrim(({0})::text), '') IS NOT NULL AND {1} IS NULL)").format(
        expr, read(expr, legacy_type, target, column))


def write(expr: sql.Composable, target: str, legacy_type: str, exact: bool = False) -> sql.Composable:
    """A unified value back in the legacy column's type. For an assignment (``exact`` False)
    textual legacy types get text and leave the length check to the assignment (an explicit cast
    to varchar(n) would truncate); ``exact``: the legacy type itself, modifier included (a compat
    view's column, which holds only values the legacy column holds)."""
    lt, tt = base(legacy_type), base(target)
    if kind(legacy_type, target) == "same":
        return sql.SQL("({})::{}").format(expr, sql.SQL(legacy_type)) if exact and legacy_type != target else expr
    if lt in TEXTUAL and not exact:
        return sql.SQL("({})::text").format(expr)
    if lt == "timestamp without time zone" and tt == "timestamp with time zone":
        return sql.SQL("(({}) AT TIME ZONE 'UTC')").format(expr)
    if lt in INTEGERS and tt == "boolean":
        return sql.SQL("({})::integer::{}").format(expr, sql.SQL(legacy_type))
    return sql.SQL("({})::{}").format(expr, sql.SQL(legacy_type))
