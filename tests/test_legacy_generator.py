"""The synthetic legacy dataset: deterministic, refuses to overwrite, and as messy as promised.

Fixtures ``owner_conn`` (role postgres, owner of public) and ``admin_conn`` (supabase_admin)
point at a fresh, bootstrapped, empty database (see tests/conftest.py).
Every measure below is recomputed in SQL from the loaded rows, independently of the generator.
"""

from __future__ import annotations

import re

import pytest
from psycopg import sql

from cqms_migrate.errors import LegacyShapeError
from cqms_migrate.legacy.generator import seed_legacy

SMALL = dict(audits=3000, scorecards=6, people=120)
COMMON = {
    "id", "employee_email", "employee_name", "auditor_email", "auditor_name", "interaction_id",
    "interaction_date", "channel", "transcript", "average_score", "critical_errors",
    "total_errors_count", "passing_status", "validation_status", "acknowledgement_status",
    "audit_duration", "submitted_at", "audit_start_time", "audit_end_time",
    "reversal_requested_at", "reversal_approved", "created_at", "updated_at",
}
EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


def _one(conn, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def _audit_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT table_name FROM public.get_audit_tables()")]


def _columns(conn, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum", (f'public."{table}"',))]


def _digest(conn) -> dict[str, str]:
    """md5 over every legacy table's rows (in a stable order), plus the auth.users rows."""
    out = {}
    tables = ["users", "people", "scorecards", "scorecard_perameters", "audit_assignments",
              *_audit_tables(conn)]
    for t in tables:
        out[t] = _one(conn, sql.SQL(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '')) "
            "FROM {} t").format(sql.Identifier("public", t)))
    out["auth.users"] = _one(conn, "SELECT md5(string_agg(a::text, E'\\n' ORDER BY a.id)) "
                                   "FROM auth.users a WHERE a.id IN (SELECT id FROM public.users)")
    return out


def _drop_legacy(owner_conn, admin_conn) -> None:
    admin_conn.execute("DELETE FROM auth.users WHERE id IN (SELECT id FROM public.users)")
    admin_conn.commit() if not admin_conn.autocommit else None
    for t in _audit_tables(owner_conn):
        owner_conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("public", t)))
    owner_conn.execute("DROP TABLE public.audit_assignments, public.scorecard_perameters, "
                       "public.scorecards, public.people, public.users; "
                       "DROP FUNCTION public.get_audit_tables()")
    owner_conn.commit() if not owner_conn.autocommit else None


def _measure(conn) -> dict:
    """The data-quality measures, from the database alone."""
    conn.execute("""
        CREATE TEMP TABLE known AS
        SELECT DISTINCT email AS exact, lower(btrim(email)) AS norm
        FROM (SELECT email FROM public.users UNION ALL SELECT email FROM public.people) s
        WHERE email IS NOT NULL
    """)
    conn.execute("CREATE TEMP TABLE known_norm AS SELECT DISTINCT norm FROM known")
    tables = _audit_tables(conn)
    audit_refs = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {t} AS tbl, id, employee_email AS e, auditor_email AS a FROM {q}").format(
            t=sql.Literal(t), q=sql.Identifier("public", t)) for t in tables)
    conn.execute(sql.SQL("CREATE TEMP TABLE audit_refs AS {}").format(audit_refs))
    conn.execute("""
        CREATE TEMP TABLE refs AS
          SELECT 'audit' AS src, e AS ref FROM audit_refs UNION ALL
          SELECT 'audit', a FROM audit_refs UNION ALL
          SELECT 'assignment', employee_email FROM public.audit_assignments UNION ALL
          SELECT 'assignment', auditor_email FROM public.audit_assignments UNION ALL
          SELECT 'people', team_supervisor FROM public.people UNION ALL
          SELECT 'people', quality_mentor FROM public.people
    """)
    orphan = "NOT EXISTS (SELECT 1 FROM known_norm k WHERE k.norm = lower(btrim({c})))"
    m = {}
    m["audit_rows"] = _one(conn, "SELECT count(*) FROM audit_refs")
    m["orphan_audit_rows"] = _one(conn, "SELECT count(*) FROM audit_refs WHERE "
                                  + orphan.format(c="e") + " OR " + orphan.format(c="a"))
    m["orphan_assignments"] = _one(conn, "SELECT count(*) FROM public.audit_assignments WHERE "
                                   + orphan.format(c="employee_email") + " OR "
                                   + orphan.format(c="auditor_email"))
    m["refs"], m["exact_refs"], m["variant_refs"] = conn.execute("""
        SELECT count(*),
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM known k WHERE k.exact = r.ref)),
               count(*) FILTER (WHERE src <> 'people'
                                AND NOT EXISTS (SELECT 1 FROM known k WHERE k.exact = r.ref)
                                AND EXISTS (SELECT 1 FROM known_norm k WHERE k.norm = lower(btrim(r.ref))))
        FROM refs r WHERE nullif(btrim(ref), '') IS NOT NULL
    """).fetchone()
    m["people_rows"] = _one(conn, "SELECT count(*) FROM public.people")
    m["duplicate_people_rows"] = _one(
        conn, "SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.people")
    m["users_without_people"] = _one(conn, """
        SELECT count(*) FROM public.users u WHERE NOT EXISTS
          (SELECT 1 FROM public.people p WHERE lower(btrim(p.email)) = lower(btrim(u.email)))""")
    m["people_without_users"] = _one(conn, """
        SELECT count(DISTINCT lower(btrim(p.email))) FROM public.people p WHERE NOT EXISTS
          (SELECT 1 FROM public.users u WHERE lower(btrim(u.email)) = lower(btrim(p.email)))""")
    m["invalid_emails"] = _one(conn, """
        SELECT count(*) FROM (SELECT email FROM public.people UNION ALL SELECT email FROM public.users) s
        WHERE btrim(email) !~ %s""", (EMAIL_RE,))
    m["self_audits"] = _one(conn, "SELECT count(*) FROM audit_refs WHERE e = a")
    per_table = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT average_score, passing_status, interaction_date FROM {}").format(
            sql.Identifier("public", t)) for t in tables)
    m["over_100_scores"], m["unmapped_passing_status"], m["null_interaction_dates"] = conn.execute(
        sql.SQL("SELECT count(*) FILTER (WHERE average_score > 100), "
                "count(*) FILTER (WHERE passing_status = 'Borderline'), "
                "count(*) FILTER (WHERE interaction_date IS NULL) FROM ({}) s").format(per_table)
    ).fetchone()
    m["empty_audit_tables"] = sum(
        1 for t in tables
        if _one(conn, sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier("public", t))))
    quoted = cols_wo_param = params_wo_col = missing_common = 0
    for table_name, card_id in conn.execute("SELECT table_name, id FROM public.scorecards").fetchall():
        cols = _columns(conn, table_name)
        fields = {r[0] for r in conn.execute(
            "SELECT field_id FROM public.scorecard_perameters WHERE scorecard_id = %s AND is_active",
            (card_id,))}
        quoted += sum(1 for c in cols if not re.fullmatch(r"[a-z_][a-z0-9_]*", c))
        cols_wo_param += sum(1 for c in cols if c not in COMMON and c not in fields)
        params_wo_col += sum(1 for f in fields if f not in cols)
        missing_common += bool(COMMON - set(cols))
    m["quoted_parameter_columns"] = quoted
    m["columns_without_parameter"] = cols_wo_param
    m["parameters_without_column"] = params_wo_col
    m["tables_missing_common_columns"] = missing_common
    return m


# -- tests ----------------------------------------------------------------------------------------

def test_same_seed_same_data_different_seed_different_data(owner_conn, admin_conn):
    report1 = seed_legacy(owner_conn, admin_conn, seed=7, **SMALL)
    first = _digest(owner_conn)
    _drop_legacy(owner_conn, admin_conn)
    report2 = seed_legacy(owner_conn, admin_conn, seed=7, **SMALL)
    assert _digest(owner_conn) == first
    assert report2 == report1
    _drop_legacy(owner_conn, admin_conn)
    seed_legacy(owner_conn, admin_conn, seed=8, **SMALL)
    other = _digest(owner_conn)
    assert all(other[t] != first[t] for t in ("people", "users", "audit_assignments"))


def test_refuses_to_seed_over_existing_tables(owner_conn, admin_conn):
    owner_conn.execute("CREATE TABLE public.people (email text)")
    owner_conn.commit() if not owner_conn.autocommit else None
    with pytest.raises(LegacyShapeError, match="public.people already exists"):
        seed_legacy(owner_conn, admin_conn, audits=100, scorecards=3, people=30)
    # nothing was written anywhere
    assert _one(owner_conn, "SELECT to_regclass('public.scorecards')") is None
    assert _one(admin_conn, "SELECT count(*) FROM auth.users") == 0
    owner_conn.execute("DROP TABLE public.people")
    owner_conn.commit() if not owner_conn.autocommit else None
    seed_legacy(owner_conn, admin_conn, audits=100, scorecards=3, people=30)
    with pytest.raises(LegacyShapeError, match="already exists"):
        seed_legacy(owner_conn, admin_conn, audits=100, scorecards=3, people=30)


def test_shape_and_rates(owner_conn, admin_conn):
    report = seed_legacy(owner_conn, admin_conn, seed=42, **SMALL)
    tables = _audit_tables(owner_conn)
    names = [r[0] for r in owner_conn.execute("SELECT table_name FROM public.scorecards ORDER BY 1")]
    assert tables == sorted(names, key=lambda s: s.encode()) and len(tables) == SMALL["scorecards"]
    assert sum(report["tables"][t] for t in tables) == SMALL["audits"]
    for t, n in report["tables"].items():
        q = sql.Identifier(*t.split(".")) if "." in t else sql.Identifier("public", t)
        assert _one(owner_conn, sql.SQL("SELECT count(*) FROM {}").format(q)) == n, t
    # legacy tables are owned by the non-superuser role, and keep their loose shape
    assert _one(owner_conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                            "AND tableowner <> 'postgres'") == 0
    assert _one(owner_conn, "SELECT count(*) FROM pg_constraint "
                            "WHERE conrelid = 'public.people'::regclass") == 0
    quoted = [c for t in tables for c in _columns(owner_conn, t) if c == "Proper Greeting?"]
    assert quoted == ["Proper Greeting?"]

    m = _measure(owner_conn)
    assert 0.05 <= m["orphan_audit_rows"] / m["audit_rows"] <= 0.10
    assert 0.02 <= m["duplicate_people_rows"] / m["people_rows"] <= 0.03
    assert 0.80 <= m["exact_refs"] / m["refs"] <= 0.90
    assert m["empty_audit_tables"] == 1
    assert m["quoted_parameter_columns"] == 1
    assert m["columns_without_parameter"] == 1
    assert m["parameters_without_column"] == 1
    assert m["tables_missing_common_columns"] == 1
    # the report counts what the database shows
    a = report["anomalies"]
    for key in ("orphan_audit_rows", "orphan_assignments", "duplicate_people_rows",
                "users_without_people", "people_without_users", "invalid_emails", "self_audits",
                "over_100_scores", "unmapped_passing_status", "null_interaction_dates",
                "empty_audit_tables", "quoted_parameter_columns", "columns_without_parameter",
                "parameters_without_column", "tables_missing_common_columns"):
        assert a[key] == m[key], key
    assert a["case_or_whitespace_variant_refs"] == m["variant_refs"]
    assert abs(report["rates"]["referential_integrity"] - m["exact_refs"] / m["refs"]) < 1e-3
    for key in ("self_audits", "over_100_scores", "unmapped_passing_status", "null_interaction_dates",
                "invalid_emails", "users_without_people", "people_without_users"):
        assert a[key] > 0, key
    spellings = report["passing_status_spellings"]
    assert {"Passed", "pass", "PASS", "Not Passed", "FAIL", "Failed", "fail", "Borderline", "NULL"} <= set(spellings)
    assert sum(spellings.values()) == SMALL["audits"]


def test_audit_rows_are_internally_consistent(owner_conn, admin_conn):
    report = seed_legacy(owner_conn, admin_conn, seed=3, audits=2000, scorecards=4, people=60)
    over_cards = owner_conn.execute(
        "SELECT table_name, max_bonus_points FROM public.scorecards WHERE allow_over_100").fetchall()
    assert len(over_cards) == 2 and all(10 <= b <= 20 for _, b in over_cards)
    bad_end = 0
    for t in _audit_tables(owner_conn):
        q = sql.Identifier("public", t)
        lo, hi = owner_conn.execute(sql.SQL("SELECT min(average_score), max(average_score) FROM {}").format(q)).fetchone()
        bonus = dict(over_cards).get(t)
        if lo is not None:
            assert lo >= 40 and hi <= 100 + (bonus or 0), t
        bad_end += _one(owner_conn, sql.SQL("SELECT count(*) FROM {} WHERE audit_end_time < audit_start_time").format(q))
        assert _one(owner_conn, sql.SQL(
            "SELECT count(*) FROM {} WHERE audit_end_time >= audit_start_time AND "
            "audit_duration <> extract(epoch FROM audit_end_time - audit_start_time)").format(q)) == 0
        assert _one(owner_conn, sql.SQL(
            "SELECT count(*) FROM {} WHERE interaction_date NOT BETWEEN '2023-01-01' AND '2025-12-31'").format(q)) == 0
    assert bad_end == report["anomalies"]["audit_end_before_start"]
    # every linked assignment points at a real row of its scorecard's table
    linked = owner_conn.execute(
        "SELECT s.table_name, a.audit_id FROM public.audit_assignments a "
        "JOIN public.scorecards s ON s.id = a.scorecard_id WHERE a.audit_id IS NOT NULL").fetchall()
    n_assign = report["tables"]["audit_assignments"]
    assert n_assign >= 50 and 0.5 <= len(linked) / n_assign <= 0.7
    for table, audit_id in linked[:200]:
        assert _one(owner_conn, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(
            sql.Identifier("public", table)), (audit_id,)) == 1
