import pytest
from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident, param_column
from audit_helpers import deploy_cutover as setup
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"


def migrated_id(c, n=1):
    return [r[0] for r in c.execute("SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                                    "ORDER BY id LIMIT %s", (T, n)).fetchall()]


def audit_like(c, rid):
    """column list + values of an existing legacy row, to insert a copy with a new id"""
    return c.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(ident(T)), (rid,)).fetchone()


def email_change_then_audit_for_new_email_same_txn(legacy_db):
    """One legacy transaction renames a person in people and inserts an audit for the new email."""
    setup()
    with legacy_db.connect() as c:
        x = c.execute(PEOPLE_ONLY).fetchall()[0][0]
        auditor = one(c, "SELECT email FROM public.employees WHERE deleted_at IS NULL AND lower(email) <> %s ORDER BY email LIMIT 1", (x,))
        new = "renamed." + x
        c.execute("UPDATE public.people SET email = %s WHERE lower(btrim(email)) = %s", (new, x))
        nid = one(c, sql.SQL("INSERT INTO {} (employee_email, auditor_email, interaction_date, channel, average_score, passing_status) "
                             "VALUES (%s, %s, current_date, 'Chat', 80, 'Pass') RETURNING id").format(ident(T)), (new, auditor))
        c.commit()
    return nid, new


def test_email_change_then_audit_for_new_email_same_txn(legacy_db):
    nid, new = email_change_then_audit_for_new_email_same_txn(legacy_db)
    with legacy_db.connect() as c:
        q = c.execute("SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(nid),)).fetchall()
        a = c.execute("SELECT legacy_table, employee_id, deleted_at FROM public.audits WHERE id = %s", (nid,)).fetchall()
        emp = c.execute("SELECT id FROM public.employees WHERE lower(email) = %s AND deleted_at IS NULL", (new,)).fetchall()
    assert q == []
    # the new audit reached audits, live, and names the employee of the new email
    assert len(emp) == 1 and a == [(T, emp[0][0], None)], (emp, a)


@pytest.mark.xfail(strict=True, reason="issue 25 finding: the old email's employee stays live and keeps the legacy code; "
                                       "verify expects the renamed person's employee to hold it (employee_id differs)")
def test_email_change_then_audit_for_new_email_same_txn_verifies(legacy_db):
    email_change_then_audit_for_new_email_same_txn(legacy_db)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_new_hire_insert_then_audit_same_txn(legacy_db):
    setup()
    with legacy_db.connect() as c:
        auditor = one(c, "SELECT email FROM public.employees WHERE deleted_at IS NULL ORDER BY email LIMIT 1")
        c.execute("INSERT INTO public.people (email, name, role, department, channel, team, is_active) "
                  "VALUES ('new.hire.x@example.com', 'NH', 'Agent', 'Support', 'Chat', 'Day Team', true)")
        nid = one(c, sql.SQL("INSERT INTO {} (employee_email, auditor_email, interaction_date, channel, average_score, passing_status) "
                             "VALUES ('new.hire.x@example.com', %s, current_date, 'Chat', 80, 'Pass') RETURNING id").format(ident(T)), (auditor,))
        c.commit()
        q = c.execute("SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(nid),)).fetchall()
        a = c.execute("SELECT lower(e.email), a.deleted_at FROM public.audits a JOIN public.employees e ON e.id = a.employee_id "
                      "WHERE a.id = %s", (nid,)).fetchall()
    assert q == []
    assert a == [("new.hire.x@example.com", None)]


def only_the_penalties_of(r, rid):
    """verify finds one difference: the error rows of audit rid, whose penalty_points the
    application wrote and the legacy count cannot give back (count x the parameter's penalty)."""
    bad = [(c.name, c.missing, c.extra, {k: v for k, v in c.per_column.items() if v}, [e["key"] for e in c.examples])
           for c in r.comparisons if not c.ok]
    return bad == [(f"audits <- {T}", 0, 0, {"errors": 1}, [str(rid)])]


def test_audit_errors_two_rows_same_param_one_statement(legacy_db):
    setup()
    with legacy_db.connect() as c:
        f = param_column(c)
        rid = one(c, sql.SQL("SELECT a.id FROM public.audits a WHERE a.legacy_table = %s AND a.deleted_at IS NULL "
                             "AND coalesce((a.parameter_scores ->> %s)::numeric, 0) = 0 ORDER BY a.id LIMIT 1"), (T, f))
        sp = c.execute("SELECT sp.id, sp.parameter_type, sp.penalty_points FROM public.scorecard_perameters sp JOIN public.scorecards s "
                       "ON s.id = sp.scorecard_id WHERE s.table_name = %s AND sp.field_id = %s LIMIT 1", (T, f)).fetchone()
        c.execute("INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id, parameter_type, "
                  "error_count, penalty_points) SELECT %s, a.interaction_date, %s, %s, %s, v, 1 FROM public.audits a, "
                  "(VALUES (2), (3)) x(v) WHERE a.id = %s", (rid, sp[0], f, sp[1], rid))
        c.commit()
        errs = c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s AND field_id = %s", (rid, f)).fetchall()
        score = one(c, "SELECT parameter_scores -> %s FROM public.audits WHERE id = %s", (f, rid))
        leg = one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(sql.Identifier(f), ident(T)), (rid,))
    assert len(errs) == 1 and errs[0][1] == int(score) == int(leg), (errs, score, leg)
    r = vresult(legacy_db.url)
    assert only_the_penalties_of(r, rid), vsummary(r)


def test_audit_errors_update_moves_field(legacy_db):
    """UPDATE audit_errors SET error_count for all rows of an audit at once."""
    setup()
    with legacy_db.connect() as c:
        rid = one(c, "SELECT audit_id FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id WHERE a.legacy_table = %s "
                     "GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1 LIMIT 1", (T,))
        c.execute("UPDATE public.audit_errors SET error_count = error_count + 1 WHERE audit_id = %s", (rid,))
        c.commit()
        errs = dict(c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s", (rid,)).fetchall())
        scores = one(c, "SELECT parameter_scores FROM public.audits WHERE id = %s", (rid,))
    assert errs and all(int(scores[k]) == v for k, v in errs.items()), (errs, scores)
    r = vresult(legacy_db.url)
    assert only_the_penalties_of(r, rid), vsummary(r)


def test_whitespace_in_text_parameter_column(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        f = param_column(c)
        rid = migrated_id(c)[0]
        rid2 = migrated_id(c, 2)[1]
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text").format(ident(T), sql.Identifier(f)))
        r = vresult(legacy_db.url)
        assert r.ok, vsummary(r)
        c.execute(sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(ident(T), sql.Identifier(f)), ("\t2", rid))
        # a text column takes any value on the legacy schema: the sync must not refuse it
        c.execute(sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(ident(T), sql.Identifier(f)), ("\u00a02", rid2))
        errs = dict(c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s", (rid,)).fetchall())
    assert errs.get(f) == 2, errs
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_a_row_made_unmappable_live_is_quarantined_and_verify_agrees(legacy_db):
    """audit_duration retyped to text and given a value no integer reads: the legacy write commits,
    the row leaves audits for the quarantine (unmappable_row, naming the value), and verify,
    which recomputes from the legacy rows, expects exactly that."""
    setup()
    with legacy_db.connect(autocommit=True) as c:
        rid = migrated_id(c)[0]
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN audit_duration TYPE text").format(ident(T)))
        c.execute(sql.SQL("UPDATE {} SET audit_duration = 'abc' WHERE id = %s").format(ident(T)), (rid,))
        q = c.execute("SELECT reason, detail FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)).fetchall()
        assert len(q) == 1 and q[0][0] == "unmappable_row" and '"abc"' in q[0][1], q
        assert one(c, "SELECT count(*) FROM public.audits WHERE id = %s", (rid,)) == 0
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)
