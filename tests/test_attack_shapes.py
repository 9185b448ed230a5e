"""An independent attack on issue 12's shapes, kept as regression tests: legacy column types
an independently built database may have, through phases 01 and 02 (each failed before its fix:
a varchar(n) or smallint column stopped phase 01, upper-case text user ids failed validation,
'1e999999' crashed the backfill, 10-digit integers were refused, a timestamp interaction_date
lost its table, an integer flag failed writes through audits, a naive timestamp moved with the
writer's TimeZone, '03/04/2024' was read month first)."""

from __future__ import annotations

from psycopg import sql

from cqms_migrate import phases, verify
from cqms_migrate.context import PhaseContext
from cqms_migrate.params import load_params
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from helpers import one
from test_drift_dataset import columns, except_all, go_no_go


def deploy(phase):
    with PhaseContext(phase, env="local") as ctx:
        return phases.deploy(ctx, list(phases.get(phase).steps(ctx)))


def first_table(c):
    return one(c, "SELECT table_name FROM public.scorecards s WHERE to_regclass(format('public.%I', table_name)) IS NOT NULL "
                  "AND EXISTS (SELECT 1 FROM public.scorecard_perameters p WHERE p.scorecard_id = s.id) ORDER BY table_name LIMIT 1")


def p1_holds(db):
    deploy(p1.PHASE)
    with db.connect() as c:
        v = p1.validate(c)
        assert v.ok, v.checks[~v.checks["ok"]]
        for t in ("users", "people"):
            assert columns(c, f"public.{t}_compat") == columns(c, f"public.{t}")
            assert except_all(c, f"public.{t}_compat", f"public.{t}") == 0


def p2_holds(db):
    deploy(p2.PHASE)
    with PhaseContext(p2.PHASE, env="local") as ctx:
        v = p2.validate(ctx.conn, p2.migratable(ctx), p2._inventory(ctx).not_migrated())
        assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with db.connect() as c:
        r = verify.run(c)
        assert r.ok, r.summary()[~r.summary()["ok"]]


def test_varchar_and_smallint_columns_keep_their_types_in_the_compat_views(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        c.execute("ALTER TABLE public.people ALTER COLUMN name TYPE varchar(60), ALTER COLUMN email TYPE varchar(120), "
                  "ALTER COLUMN is_active TYPE smallint USING is_active::int")
        c.execute("ALTER TABLE public.users ALTER COLUMN full_name TYPE varchar(200)")
    p1_holds(legacy_db)
    with legacy_db.connect(autocommit=True) as c:
        eid = one(c, "SELECT id FROM public.employees WHERE legacy_snapshot ? 'people' AND deleted_at IS NULL ORDER BY email LIMIT 1")
        c.execute("UPDATE public.employees SET is_active = false WHERE id = %s", (eid,))
        assert one(c, "SELECT p.is_active FROM public.people p JOIN public.employees e ON lower(btrim(e.email)) = "
                      "lower(btrim(p.email)) WHERE e.id = %s", (eid,)) == 0


def test_upper_case_text_user_ids_validate(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        c.execute("ALTER TABLE public.users DROP CONSTRAINT users_id_fkey")
        c.execute("ALTER TABLE public.users ALTER COLUMN id TYPE text USING upper(id::text)")
    p1_holds(legacy_db)


def test_numbers_convert_only_where_lossless_and_never_crash(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        t = sql.Identifier("public", first_table(c))
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN average_score TYPE text, ALTER COLUMN critical_errors TYPE bigint").format(t))
        ids = [r[0] for r in c.execute(sql.SQL("SELECT id FROM {} ORDER BY id LIMIT 3").format(t)).fetchall()]
        c.execute(sql.SQL("UPDATE {} SET average_score = '1e999999' WHERE id = %s").format(t), (ids[0],))
        c.execute(sql.SQL("UPDATE {} SET critical_errors = 2147483647 WHERE id = %s").format(t), (ids[1],))
        c.execute(sql.SQL("UPDATE {} SET critical_errors = 2147483648 WHERE id = %s").format(t), (ids[2],))
    deploy(p1.PHASE)
    p2_holds(legacy_db)
    with legacy_db.connect() as c:
        reasons = dict(c.execute("SELECT source_key, reason FROM cqms_migration.quarantine WHERE source_key = ANY(%s)",
                                 ([str(i) for i in ids],)).fetchall())
        assert reasons == {str(ids[0]): "unconvertible_value", str(ids[2]): "unconvertible_value"}
        assert one(c, "SELECT critical_errors_count FROM public.audits WHERE id = %s", (ids[1],)) == 2147483647


def test_an_integer_flag_is_written_back_as_an_integer(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        name = first_table(c)
        t = sql.Identifier("public", name)
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN reversal_approved TYPE integer USING reversal_approved::int").format(t))
    deploy(p1.PHASE)
    p2_holds(legacy_db)
    with PhaseContext(p2.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in p2.CUTOVER_STEPS])
    with legacy_db.connect(autocommit=True) as c:
        aid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s ORDER BY id LIMIT 1", (name,))
        c.execute("UPDATE public.audits SET reversal_approved = true, total_score = 12 WHERE id = %s", (aid,))
        assert c.execute(sql.SQL("SELECT reversal_approved, average_score FROM {} WHERE id = %s").format(t),
                         (aid,)).fetchone() == (1, 12)
        view = sql.Identifier("public", f"{name}_compat")
        assert one(c, sql.SQL("SELECT count(*) FROM (SELECT * FROM {} WHERE id = %s EXCEPT SELECT * FROM {}) x").format(
            t, view), (aid,)) == 0


def test_a_time_without_zone_means_utc_whatever_the_writers_timezone(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        c.execute("ALTER TABLE public.people ALTER COLUMN last_login TYPE timestamp USING last_login AT TIME ZONE 'UTC'")
        name = first_table(c)
        t = sql.Identifier("public", name)
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN submitted_at TYPE timestamp USING submitted_at AT TIME ZONE 'UTC'").format(t))
    p1_holds(legacy_db)
    deploy(p2.PHASE)
    with legacy_db.connect(autocommit=True) as c:
        email, before = c.execute("SELECT p.email, e.last_login_at FROM public.people p JOIN public.employees e ON "
                                  "lower(btrim(e.email)) = lower(btrim(p.email)) WHERE p.last_login IS NOT NULL "
                                  "ORDER BY p.email LIMIT 1").fetchone()
        rid, submitted = c.execute(sql.SQL("SELECT id, submitted_at FROM {} WHERE submitted_at IS NOT NULL ORDER BY id LIMIT 1")
                                   .format(t)).fetchone()
        c.execute("SET TimeZone = 'America/New_York'")
        c.execute("UPDATE public.people SET last_login = last_login WHERE email = %s", (email,))
        assert one(c, "SELECT last_login_at FROM public.employees WHERE lower(btrim(email)) = lower(btrim(%s))", (email,)) == before
        c.execute(sql.SQL("UPDATE {} SET submitted_at = submitted_at WHERE id = %s").format(t), (rid,))
        assert one(c, "SELECT submitted_at AT TIME ZONE 'UTC' FROM public.audits WHERE id = %s", (rid,)) == submitted
        assert one(c, sql.SQL("SELECT submitted_at FROM public.{} WHERE id = %s").format(
            sql.Identifier(f"{name}_compat")), (rid,)) == submitted


def test_an_ambiguous_text_date_is_not_guessed(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        t = sql.Identifier("public", first_table(c))
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN submitted_at TYPE text").format(t))
        rid, ok = [r[0] for r in c.execute(sql.SQL("SELECT id FROM {} ORDER BY id LIMIT 2").format(t)).fetchall()]
        c.execute(sql.SQL("UPDATE {} SET submitted_at = '03/04/2024 10:00' WHERE id = %s").format(t), (rid,))
        c.execute(sql.SQL("UPDATE {} SET submitted_at = '2024-03-04T10:00:00Z' WHERE id = %s").format(t), (ok,))
    deploy(p1.PHASE)
    p2_holds(legacy_db)
    with legacy_db.connect() as c:
        assert one(c, "SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)) == "unconvertible_value"
        assert str(one(c, "SELECT submitted_at AT TIME ZONE 'UTC' FROM public.audits WHERE id = %s", (ok,))) == "2024-03-04 10:00:00"


def test_preflight_counts_the_users_and_people_values_that_do_not_convert(legacy_db_drift):
    with legacy_db_drift.connect() as c:
        warnings = go_no_go(c, load_params("local", legacy_db_drift.params_file)).warnings
    assert any(w.startswith("users.sign_in_count: 2 value(s) do not convert to integer") for w in warnings), warnings  # (its blank is no value)
