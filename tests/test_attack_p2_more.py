import psycopg
from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"


def setup():
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)


def err_audit(c):
    return c.execute("SELECT e.audit_id, e.field_id, e.error_count FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id "
                     "WHERE a.legacy_table = %s ORDER BY 1, 2 LIMIT 1", (T,)).fetchone()


def legacy_val(c, rid, f):
    return one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(sql.Identifier(f), ident(T)), (rid,))


def test_move_error_row_to_another_audit(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        a, f, n = err_audit(c)
        b = one(c, "SELECT id FROM public.audits x WHERE legacy_table = %s AND deleted_at IS NULL AND id <> %s AND NOT EXISTS "
                   "(SELECT 1 FROM public.audit_errors e WHERE e.audit_id = x.id AND e.field_id = %s) ORDER BY id LIMIT 1", (T, a, f))
        c.execute("UPDATE public.audit_errors SET audit_id = %s WHERE audit_id = %s AND field_id = %s", (b, a, f))
        print(f"\nA score {one(c, 'SELECT parameter_scores -> %s FROM public.audits WHERE id = %s', (f, a))} legacy A {legacy_val(c, a, f)}; "
              f"B score {one(c, 'SELECT parameter_scores -> %s FROM public.audits WHERE id = %s', (f, b))} legacy B {legacy_val(c, b, f)}")
    r = vresult(legacy_db.url)
    print("verify:", vsummary(r))
    assert r.ok


def test_error_row_with_zero_count(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        a, f, n = err_audit(c)
        c.execute("UPDATE public.audit_errors SET error_count = 0 WHERE audit_id = %s AND field_id = %s", (a, f))
        print("\nrows", c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s", (a,)).fetchall(),
              "legacy", legacy_val(c, a, f))
    r = vresult(legacy_db.url)
    print("verify:", vsummary(r))
    assert r.ok


def test_scorecard_change_through_audits(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        a, f, n = err_audit(c)
        sc, tbl = c.execute("SELECT s.id, s.table_name FROM public.scorecards s WHERE s.table_name <> %s AND to_regclass('public.' || quote_ident(s.table_name)) IS NOT NULL "
                            "ORDER BY 2 LIMIT 1", (T,)).fetchone()
        err = None
        try:
            c.execute("UPDATE public.audits SET scorecard_id = %s WHERE id = %s", (sc, a))
        except psycopg.Error as e:
            err = e
        print(f"\nerror {err!r}")
        print("audit", c.execute("SELECT legacy_table, scorecard_id FROM public.audits WHERE id = %s", (a,)).fetchall(),
              "in old table", one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(T)), (a,)),
              "in new table", one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(tbl)), (a,)))
    r = vresult(legacy_db.url)
    print("verify:", vsummary(r))
    assert err is not None or r.ok


def test_legacy_values_tamper_changes_compat_view(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        views = [r[0] for r in c.execute("SELECT viewname FROM pg_views WHERE schemaname = 'public' AND viewname LIKE %s", (T + "%",)).fetchall()]
        rid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL ORDER BY id LIMIT 1", (T,))
        tamper(legacy_db, "UPDATE public.audits SET legacy_values = legacy_values || '{\"employee_email\": \"someone.else@example.com\", \"passing_status\": \"Fail\"}' WHERE id = %s", (rid,))
        for v in views:
            print("\n", v, c.execute(sql.SQL("SELECT employee_email, passing_status FROM public.{} WHERE id = %s").format(sql.Identifier(v)), (rid,)).fetchall())
        print("legacy", c.execute(sql.SQL("SELECT employee_email, passing_status FROM {} WHERE id = %s").format(ident(T)), (rid,)).fetchall())
    r = vresult(legacy_db.url)
    print("verify ok:", r.ok)
    assert not r.ok
