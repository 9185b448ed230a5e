"""The shape rules without a database: which legacy column the mapping reads for each meaning,
and which legacy types convert to the unified type how (convert.py, legacy_shape.py)."""

from __future__ import annotations

import pytest

from cqms_migrate import convert
from cqms_migrate.errors import LegacyShapeError
from cqms_migrate.legacy_shape import Column, shape_of


def cols(*spec):
    return [Column(n, t, i + 1) for i, (n, t) in enumerate(spec)]


def test_seed_names_first_then_variants_case_and_punctuation_ignored():
    s = shape_of("people", cols(("Email", "text"), ("full_name", "text"), ("name", "text"), ("Last-Login-At", "timestamp with time zone"),
                                ("active", "text"), ("pronouns", "text")))
    assert s.name("email") == "Email"
    assert s.name("name") == "name"               # the seed's own name wins over the variant
    assert s.name("last_login") == "Last-Login-At"
    assert s.name("is_active") == "active" and s.mapped["is_active"].kind == "checked"
    assert [c.name for c in s.carried()] == ["full_name", "pronouns"]
    assert s.name("team") is None                 # absent: read as NULL, never written
    assert s.write("team", None) is None


def test_a_variant_never_takes_a_column_another_meaning_owns():
    s = shape_of("users", cols(("id", "uuid"), ("email", "text"), ("login_count", "integer"), ("sign_in_count", "text")))
    assert s.name("sign_in_count") == "sign_in_count"
    assert "login_count" in [c.name for c in s.carried()]


def test_a_recognised_column_without_lossless_conversion_is_carried_and_reported():
    s = shape_of("users", cols(("id", "uuid"), ("email", "text"), ("sign_in_count", "jsonb")))
    assert s.name("sign_in_count") is None
    assert any("no lossless conversion to integer; carried" in f for f in s.findings())


@pytest.mark.parametrize("table,columns,message", [
    ("users", [("uid2", "uuid"), ("email", "text")], "public.users has no usable id column"),
    ("people", [("name", "text")], "public.people has no usable email column"),
    ("users", [("id", "jsonb"), ("email", "text")], "no usable id column"),
])
def test_without_a_key_there_is_no_mapping(table, columns, message):
    with pytest.raises(LegacyShapeError, match=message):
        shape_of(table, cols(*columns))


@pytest.mark.parametrize("legacy,target,kind", [
    ("integer", "integer", "same"), ("character varying(40)", "text", "widen"), ("citext", "text", "widen"),
    ("smallint", "integer", "widen"), ("bigint", "integer", "checked"), ("numeric(5,2)", "integer", "checked"),
    ("text", "integer", "checked"), ("jsonb", "integer", None), ("json", "jsonb", "widen"),
    ("timestamp without time zone", "timestamp with time zone", "widen"), ("text", "timestamp with time zone", "checked"),
    ("timestamp with time zone", "date", "zoned"), ("timestamp without time zone", "date", "zoned"), ("text", "boolean", "checked"), ("integer", "boolean", "checked"),
    ("text", "uuid", "checked"), ("bigint", "uuid", None), ("integer[]", "integer", None), ("numeric", "numeric", "same"),
])
def test_conversion_kinds(legacy, target, kind):
    assert convert.kind(legacy, target) == kind


@pytest.mark.parametrize("function,value,expected", [
    ("to_integer", " 7", 7), ("to_integer", "-12", -12), ("to_integer", "12.5", None), ("to_integer", "1e2", None),
    ("to_integer", "n/a", None), ("to_integer", "", None), ("to_integer", "9999999999", None),
    ("to_numeric", "85.0", "85.0"), ("to_numeric", "1e999999", None), ("to_integer", "2147483647", 2147483647), ("to_integer", "2147483648", None), ("to_numeric", "1e2", 100), ("to_numeric", "N/A", None),
    ("to_boolean", " Yes", True), ("to_boolean", "0", False), ("to_boolean", "maybe", None),
    ("to_uuid", "{6F9619FF-8B86-D011-B42D-00CF4FC964FF}", "6f9619ff-8b86-d011-b42d-00cf4fc964ff"), ("to_uuid", "42", None),
    ("to_date", "2024-02-29", "2024-02-29"), ("to_date", "2023-02-29", None), ("to_date", "2024-02-01 10:00", None), ("to_date", "2024-02-01 00:00:00", "2024-02-01"), ("to_timestamptz", "03/04/2024 10:00", None),
    ("to_timestamptz", "2024-02-01 10:00:00+00", "2024-02-01 10:00:00+00"), ("to_timestamptz", "yesterday", None),
    ("to_timestamptz", "soon", None), ("to_jsonb", '{"a": 1}', '{"a": 1}'), ("to_jsonb", "{a: 1}", None),
])
def test_the_conversion_functions_convert_only_what_denotes_one_value(empty_db, function, value, expected):
    from psycopg import sql

    from cqms_migrate import ledger
    with empty_db.connect() as c:
        c.execute("SET TimeZone = 'UTC'")
        ledger.install(c)
        got = c.execute(sql.SQL("SELECT cqms_migration.{}(%s)::text").format(sql.Identifier(function)), (value,)).fetchone()[0]
    assert got == (None if expected is None else str(expected).lower() if isinstance(expected, bool) else str(expected))
