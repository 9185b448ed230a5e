import psycopg
from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"


def setup():
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)


def param_column(c, table=T):
    return one(c, "SELECT field_id FROM public.scorecard_perameters sp JOIN public.scorecards s ON s.id = sp.scorecard_id "
                  "WHERE s.table_name = %s AND coalesce(sp.is_active, true) AND EXISTS (SELECT 1 FROM "
                  "information_schema.columns WHERE table_name = %s AND column_name = sp.field_id) "
                  "ORDER BY sp.field_id LIMIT 1", (table, table))


def migrated_id(c, n=1):
    return [r[0] for r in c.execute("SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                                    "ORDER BY id LIMIT %s", (T, n)).fetchall()]


def audit_like(c, rid):
    """column list + values of an existing legacy row, to insert a copy with a new id"""
    return c.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(ident(T)), (rid,)).fetchone()


def test_email_change_then_audit_for_new_email_same_txn(legacy_db):
    setup()
    with legacy_db.connect() as c:
        x = c.execute(PEOPLE_ONLY).fetchall()[0][0]
        auditor = one(c, "SELECT email FROM public.employees WHERE deleted_at IS NULL AND lower(email) <> %s ORDER BY email LIMIT 1", (x,))
        rid = migrated_id(c)[0]
        new = "renamed." + x
        c.execute("UPDATE public.people SET email = %s WHERE lower(btrim(email)) = %s", (new, x))
        nid = one(c, sql.SQL("INSERT INTO {} (employee_email, auditor_email, interaction_date, channel, average_score, passing_status) "
                             "VALUES (%s, %s, current_date, 'Chat', 80, 'Pass') RETURNING id").format(ident(T)), (new, auditor))
        c.commit()
        q = c.execute("SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(nid),)).fetchall()
        a = c.execute("SELECT employee_id, deleted_at FROM public.audits WHERE id = %s", (nid,)).fetchall()
        emp = c.execute("SELECT id, email FROM public.employees WHERE lower(email) IN (%s, %s)", (x, new)).fetchall()
    print(f"\nquarantine {q} audits {a} employees {emp}")
    print("verify:", vsummary(vresult(legacy_db.url)))
    assert q == [] and len(a) == 1


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
    print("\nquarantine", q)
    assert q == []


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
    print(f"\nerrors {errs} score {score} legacy {leg}")
    print("verify:", vsummary(vresult(legacy_db.url)))
    assert len(errs) == 1 and errs[0][1] == int(score)


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
    print("\nerrors", errs, "scores", {k: scores.get(k) for k in errs})
    print("verify:", vsummary(vresult(legacy_db.url)))
    assert all(int(scores[k]) == v for k, v in errs.items())


def test_whitespace_in_text_parameter_column(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        f = param_column(c)
        rid = migrated_id(c)[0]
        rid2 = migrated_id(c, 2)[1]
        print("\ncolumn type:", one(c, "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s", (T, f)))
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text").format(ident(T), sql.Identifier(f)))
        print("after retype, verify ok:", vresult(legacy_db.url).ok)
        c.execute(sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(ident(T), sql.Identifier(f)), ("\t2", rid))
        print("NBSP regex:", one(c, r"SELECT (E'\u00a02' ~ '^\s*[0-9]{1,9}\s*$')"))
        try:
            c.execute(sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(ident(T), sql.Identifier(f)), ("\u00a02", rid2))
            print("NBSP write ok")
        except psycopg.Error as e:
            print("NBSP write failed:", e)
        errs = c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s", (rid,)).fetchall()
    r = vresult(legacy_db.url)
    print("errors", errs, "verify:", vsummary(r))
    assert r.ok


def test_unmappable_row_then_verify(legacy_db):
    setup()
    with legacy_db.connect(autocommit=True) as c:
        rid = migrated_id(c)[0]
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN audit_duration TYPE text").format(ident(T)))
        c.execute(sql.SQL("UPDATE {} SET audit_duration = 'abc' WHERE id = %s").format(ident(T)), (rid,))
        print("\nquarantine:", c.execute("SELECT reason, detail FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)).fetchall())
    try:
        r = vresult(legacy_db.url)
        print("verify:", vsummary(r))
    except Exception as e:
        print("verify raised:", type(e).__name__, str(e)[:300])
        raise
