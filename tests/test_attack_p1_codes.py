import psycopg
from audit_helpers import deploy_p1
from attack_helpers import *  # noqa: F403

INS = ("INSERT INTO public.people (email, name, role, department, channel, team, is_active, employee_id) "
       "VALUES (%s, 'Hire', 'Agent', 'Support', 'Chat', 'Day Team', true, %s)")


def test_two_hires_each_two_codes_opposite_order(legacy_db):
    """T1 hires a (code C1) then b (code C2); T2 hires c (code C2) then d (code C1). On the legacy
    schema people has no key: these never conflict."""
    deploy_p1()
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    for t in (t1, t2):
        t.execute("SET statement_timeout = '6s'"); t.commit()
    t1.execute(INS, ("hire.a@example.com", "CODE-1"))
    t2.execute(INS, ("hire.c@example.com", "CODE-2"))
    th, out = bg(lambda: t1.execute(INS, ("hire.b@example.com", "CODE-2")))
    with legacy_db.connect(autocommit=True) as mon:   # T1's statement ran, or waits
        wait_until_waiting(mon, t1.info.backend_pid, unless=th)
    err2 = None
    try:
        t2.execute(INS, ("hire.d@example.com", "CODE-1"))
        t2.commit()
    except psycopg.Error as e:
        err2 = e
        t2.rollback()
    th.join(15)
    err1 = out.get("err")
    try:
        t1.commit() if err1 is None else t1.rollback()
    except psycopg.Error as e:
        err1 = err1 or e
    t1.close(); t2.close()
    assert err1 is None and err2 is None, (err1, err2)


def test_hire_with_code_while_holder_updated_in_open_txn(legacy_db):
    """T1 updates the people row of an employee holding code X (pending until commit); T2 hires a new
    person with code X and commits first; then T1 commits."""
    deploy_p1()
    with legacy_db.connect() as c:
        ne, code = c.execute("SELECT lower(btrim(email)), employee_id FROM public.employees WHERE employee_id IS NOT NULL "
                             "AND legacy_snapshot ? 'people' AND deleted_at IS NULL ORDER BY email LIMIT 1").fetchone()
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    for t in (t1, t2):   # a regression that makes T2 wait for T1 fails here instead of hanging
        t.execute("SET statement_timeout = '20s'"); t.commit()
    t1.execute("UPDATE public.people SET designation = 'X' WHERE lower(btrim(email)) = %s", (ne,))
    t2.execute(INS, ("code.thief@example.com", code)); t2.commit()
    t1.commit()
    with legacy_db.connect() as c:
        held = c.execute("SELECT email, employee_id FROM public.employees WHERE employee_id = %s OR email IN (%s, 'code.thief@example.com')",
                         (code, ne)).fetchall()
    assert (ne, code) in [(e.lower(), k) for e, k in held], held
    assert p1_problems(legacy_db.url) == []
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)
