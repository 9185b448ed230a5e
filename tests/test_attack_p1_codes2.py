import psycopg
from audit_helpers import deploy_p1
from attack_helpers import *  # noqa: F403

INS = ("INSERT INTO public.people (email, name, role, department, channel, team, is_active, employee_id) "
       "SELECT %s, 'Hire', p.role, coalesce(%s, p.department), p.channel, p.team, true, %s FROM public.people p "
       "WHERE p.department IS NOT NULL AND p.channel IS NOT NULL AND p.team IS NOT NULL ORDER BY p.email LIMIT 1")


def race(legacy_db, first1, first2, second1, second2):
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    for t in (t1, t2):
        t.execute("SET statement_timeout = '8s'"); t.commit()
    t1.execute(INS, first1)
    t2.execute(INS, first2)
    th, out = bg(lambda: t1.execute(INS, second1))
    with legacy_db.connect(autocommit=True) as mon:   # T1's statement ran, or waits
        wait_until_waiting(mon, t1.info.backend_pid, unless=th)
    err2 = None
    try:
        t2.execute(INS, second2)
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
    return err1, err2


def test_two_hires_each_two_codes_opposite_order(legacy_db):
    """T1 hires a (code C1) then b (code C2); T2 hires c (code C2) then d (code C1): existing
    department/channel/team. On the legacy schema people has no key: these never conflict."""
    deploy_p1()
    e1, e2 = race(legacy_db, ("hire.a@example.com", None, "CODE-1"), ("hire.c@example.com", None, "CODE-2"),
                  ("hire.b@example.com", None, "CODE-2"), ("hire.d@example.com", None, "CODE-1"))
    assert e1 is None and e2 is None, (e1, e2)


def test_two_hires_each_two_new_departments_opposite_order(legacy_db):
    """No codes; T1 hires into new departments D1 then D2, T2 into D2 then D1."""
    deploy_p1()
    e1, e2 = race(legacy_db, ("hire.a@example.com", "Brand New Dept 1", None), ("hire.c@example.com", "Brand New Dept 2", None),
                  ("hire.b@example.com", "Brand New Dept 2", None), ("hire.d@example.com", "Brand New Dept 1", None))
    assert e1 is None and e2 is None, (e1, e2)


def test_a_hire_into_a_new_department_does_not_wait_for_an_open_hire_into_it(legacy_db):
    """The first hire into a new department is uncommitted; a second hire into it commits at once
    (within its 3 s statement timeout), as on the legacy schema."""
    deploy_p1()
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t2.execute("SET statement_timeout = '3s'"); t2.commit()
    t1.execute(INS, ("hire.a@example.com", "Brand New Dept 9", None))
    err = None
    try:
        t2.execute(INS, ("hire.z@example.com", "Brand New Dept 9", None)); t2.commit()
    except psycopg.Error as e:
        err = e
    t1.rollback(); t1.close(); t2.close()
    assert err is None, err
