import psycopg
from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident
from audit_helpers import deploy_cutover as setup
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"


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
        score = lambda rid: one(c, "SELECT coalesce((parameter_scores ->> %s)::numeric, 0) FROM public.audits WHERE id = %s", (f, rid))
        # the count left A and reached B, in audits and in the legacy rows
        assert (score(a), int(legacy_val(c, a, f) or 0), score(b), int(legacy_val(c, b, f))) == (0, 0, n, n)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_error_row_with_zero_count(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        a, f, n = err_audit(c)
        c.execute("UPDATE public.audit_errors SET error_count = 0 WHERE audit_id = %s AND field_id = %s", (a, f))
        assert int(legacy_val(c, a, f) or 0) == 0
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


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
        audit = c.execute("SELECT legacy_table, scorecard_id FROM public.audits WHERE id = %s", (a,)).fetchall()
        in_old = one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(T)), (a,))
        in_new = one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(tbl)), (a,))
    if err is None:   # the audit moved, whole: to the other scorecard's table, out of the old one
        assert (audit, in_old, in_new) == ([(tbl, sc)], 0, 1)
    else:             # refused: the audit is where it was
        assert audit[0][0] == T and (in_old, in_new) == (1, 0), (err, audit)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_legacy_values_tamper_changes_compat_view(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        views = [r[0] for r in c.execute("SELECT viewname FROM pg_views WHERE schemaname = 'public' AND viewname LIKE %s", (T + "%",)).fetchall()]
        rid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL ORDER BY id LIMIT 1", (T,))
        tamper(legacy_db, "UPDATE public.audits SET legacy_values = legacy_values || '{\"employee_email\": \"someone.else@example.com\", \"passing_status\": \"Fail\"}' WHERE id = %s", (rid,))
        assert views
        for v in views:   # an unchanged row's compat view returns legacy_values verbatim
            assert c.execute(sql.SQL("SELECT employee_email, passing_status FROM public.{} WHERE id = %s").format(sql.Identifier(v)),
                             (rid,)).fetchall() == [("someone.else@example.com", "Fail")], v
        legacy = c.execute(sql.SQL("SELECT employee_email, passing_status FROM {} WHERE id = %s").format(ident(T)), (rid,)).fetchall()
        assert len(legacy) == 1 and legacy[0][0] != "someone.else@example.com"
    r = vresult(legacy_db.url)
    assert not r.ok   # verify, recomputing from the legacy row, sees the compat view lie
