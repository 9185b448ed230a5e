import psycopg
from audit_helpers import deploy_p1
from attack_helpers import *  # noqa: F403


def test_legacy_update_then_employees_update_same_txn(legacy_db):
    """people.designation updated (queued), then the same person's name through employees, one txn."""
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
        c.execute("UPDATE public.people SET designation = 'LEGACY-D' WHERE lower(btrim(email)) = %s", (x,))
        c.execute("UPDATE public.employees SET name = 'EMP-NAME' WHERE lower(btrim(email)) = %s", (x,))
        c.commit()
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        urow = c.execute("SELECT full_name FROM public.users WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    assert rows == [("EMP-NAME", "LEGACY-D")]
    assert emp == [("EMP-NAME", "LEGACY-D")]
    assert urow == [("EMP-NAME",)]
    assert p1_problems(legacy_db.url) == []
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_employees_update_then_legacy_update_same_txn(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
        c.execute("UPDATE public.employees SET name = 'EMP-NAME2' WHERE lower(btrim(email)) = %s", (x,))
        c.execute("UPDATE public.people SET designation = 'LEGACY-D2' WHERE lower(btrim(email)) = %s", (x,))
        c.commit()
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    assert rows == [("EMP-NAME2", "LEGACY-D2")] and emp == [("EMP-NAME2", "LEGACY-D2")]
    assert p1_problems(legacy_db.url) == []


def test_a_legacy_writer_and_an_employees_writer_of_one_person_deadlock_and_one_survives_whole(legacy_db):
    """T1 updates a people row (holds its row lock, flush queued); T2 updates the same employee
    (reverse sync takes the email lock then needs the people row); T1 commits (flush needs the email lock).
    README, known limits: this deadlocks and PostgreSQL aborts one of the two (40P01, the application
    retries); the other commits all it wrote, on both paths."""
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
        name0, designation0 = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s",
                                        (x,)).fetchone()
    assert (name0, designation0) != ("T2-NAME", "T1-D")
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    for t in (t1, t2):
        t.execute("SET statement_timeout = '30s'"); t.commit()
    t1.execute("UPDATE public.people SET designation = 'T1-D' WHERE lower(btrim(email)) = %s", (x,))
    th, out = bg(lambda: (t2.execute("UPDATE public.employees SET name = 'T2-NAME' WHERE lower(btrim(email)) = %s", (x,)), t2.commit()))
    with legacy_db.connect(autocommit=True) as mon:
        wait_until_waiting(mon, t2.info.backend_pid)   # T2 waits for T1's people row
    err1 = None
    try:
        t1.commit()
    except psycopg.Error as e:
        err1 = e
        t1.rollback()
    th.join(30)
    assert not th.is_alive()
    err2 = out.get("err")
    for cc in (t1, t2):
        try: cc.rollback()
        except Exception: pass
        cc.close()
    with legacy_db.connect() as c:
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    victims = [e for e in (err1, err2) if e is not None]
    assert len(victims) == 1 and isinstance(victims[0], psycopg.errors.DeadlockDetected), (err1, err2)
    survivor = (name0, "T1-D") if err2 is not None else ("T2-NAME", designation0)
    assert emp == [survivor] and rows == [survivor], (err1, err2)
    assert p1_problems(legacy_db.url) == []


def test_employees_writer_first_then_legacy_writer(legacy_db):
    """T2 updates employees (email lock + people row lock), T1 updates the people row (waits), T2 commits."""
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t2.execute("UPDATE public.employees SET name = 'T2-NAME' WHERE lower(btrim(email)) = %s", (x,))
    th, out = bg(lambda: (t1.execute("UPDATE public.people SET designation = 'T1-D' WHERE lower(btrim(email)) = %s", (x,)), t1.commit()))
    with legacy_db.connect(autocommit=True) as mon:
        wait_until_waiting(mon, t1.info.backend_pid)   # T1 waits for T2's people row
    t2.commit()
    th.join(30)
    with legacy_db.connect() as c:
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    t1.close(); t2.close()
    assert not th.is_alive() and "err" not in out, out.get("err")
    assert emp == [("T2-NAME", "T1-D")] and rows == [("T2-NAME", "T1-D")]


def test_set_constraints_immediate_and_savepoint(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        x, y = [r[0] for r in c.execute(BOTH).fetchall()[:2]]
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute("UPDATE public.people SET designation = 'IMM' WHERE lower(btrim(email)) = %s", (x,))
        mid = c.execute("SELECT designation FROM public.employees WHERE email ILIKE %s", (x,)).fetchone()
        c.execute("SAVEPOINT s1")
        c.execute("UPDATE public.people SET designation = 'SP-ROLLED' WHERE lower(btrim(email)) = %s", (y,))
        c.execute("ROLLBACK TO SAVEPOINT s1")
        c.execute("SET CONSTRAINTS ALL DEFERRED")
        c.execute("SAVEPOINT s2")
        c.execute("UPDATE public.people SET designation = 'SP2-ROLLED' WHERE lower(btrim(email)) = %s", (y,))
        c.execute("ROLLBACK TO SAVEPOINT s2")
        c.execute("SAVEPOINT s3")
        c.execute("UPDATE public.people SET designation = 'SP3-KEPT' WHERE lower(btrim(email)) = %s", (x,))
        c.execute("RELEASE SAVEPOINT s3")
        c.commit()
        ex = c.execute("SELECT designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchone()
        ey = c.execute("SELECT designation FROM public.employees WHERE lower(btrim(email)) = %s", (y,)).fetchone()
        pend = one(c, "SELECT count(*) FROM cqms_migration.p01_pending")
    assert mid == ("IMM",) and ex == ("SP3-KEPT",) and ey[0] not in ("SP-ROLLED", "SP2-ROLLED") and pend == 0
    assert p1_problems(legacy_db.url) == []


def test_access_level_written_through_employees_survives_a_login(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c:
        x, before = c.execute("SELECT e.email_ne, e.access_level FROM (SELECT lower(btrim(email)) AS email_ne, access_level "
                              "FROM public.employees WHERE deleted_at IS NULL) e WHERE e.email_ne = ANY(%s) "
                              "AND e.access_level IS DISTINCT FROM 'elevated' ORDER BY 1 LIMIT 1",
                              ([r[0] for r in c.execute(BOTH).fetchall()],)).fetchone()
        assert before != "elevated"
        c.execute("UPDATE public.employees SET access_level = 'elevated' WHERE lower(btrim(email)) = %s", (x,))
        r = vresult(legacy_db.url)
        assert r.ok, vsummary(r)
        c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 WHERE lower(btrim(email)) = %s", (x,))
        after = one(c, "SELECT access_level FROM public.employees WHERE lower(btrim(email)) = %s", (x,))
    assert after == "elevated"
