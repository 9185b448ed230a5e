import time
import psycopg
import pytest
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
    print("\npeople rows:", rows, "employee:", emp, "users:", urow)
    print("p1 problems:", p1_problems(legacy_db.url))
    print("verify:", vsummary(vresult(legacy_db.url)))
    assert len(rows) == 1
    assert emp == [("EMP-NAME", "LEGACY-D")]


def test_employees_update_then_legacy_update_same_txn(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
        c.execute("UPDATE public.employees SET name = 'EMP-NAME2' WHERE lower(btrim(email)) = %s", (x,))
        c.execute("UPDATE public.people SET designation = 'LEGACY-D2' WHERE lower(btrim(email)) = %s", (x,))
        c.commit()
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    print("\npeople rows:", rows, "employee:", emp)
    print("p1 problems:", p1_problems(legacy_db.url))
    assert len(rows) == 1 and emp == [("EMP-NAME2", "LEGACY-D2")]


@pytest.mark.xfail(reason="known limit (README): one person written through both paths while a legacy transaction "
                          "on them is open deadlocks; PostgreSQL aborts one and the application retries", strict=False)
def test_legacy_writer_and_employees_writer_concurrently(legacy_db):
    """T1 updates a people row (holds its row lock, flush queued); T2 updates the same employee
    (reverse sync takes the email lock then needs the people row); T1 commits (flush needs the email lock)."""
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t1.execute("UPDATE public.people SET designation = 'T1-D' WHERE lower(btrim(email)) = %s", (x,))
    th, out = bg(lambda: (t2.execute("UPDATE public.employees SET name = 'T2-NAME' WHERE lower(btrim(email)) = %s", (x,)), t2.commit()))
    time.sleep(0.7)
    err1 = None
    try:
        t1.commit()
    except psycopg.Error as e:
        err1 = e
        t1.rollback()
    th.join(15)
    err2 = out.get("err")
    for cc in (t1, t2):
        try: cc.rollback()
        except Exception: pass
        cc.close()
    with legacy_db.connect() as c:
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    print(f"\nT1 err: {err1!r}\nT2 err: {err2!r}\npeople {rows} employees {emp}")
    print("p1 problems:", p1_problems(legacy_db.url))
    assert err1 is None and err2 is None


def test_employees_writer_first_then_legacy_writer(legacy_db):
    """T2 updates employees (email lock + people row lock), T1 updates the people row (waits), T2 commits."""
    deploy_p1()
    with legacy_db.connect() as c:
        x = c.execute(BOTH).fetchall()[0][0]
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t2.execute("UPDATE public.employees SET name = 'T2-NAME' WHERE lower(btrim(email)) = %s", (x,))
    th, out = bg(lambda: (t1.execute("UPDATE public.people SET designation = 'T1-D' WHERE lower(btrim(email)) = %s", (x,)), t1.commit()))
    time.sleep(0.5)
    t2.commit()
    th.join(15)
    print("\nerr", out.get("err"))
    with legacy_db.connect() as c:
        rows = c.execute("SELECT name, designation FROM public.people WHERE lower(btrim(email)) = %s", (x,)).fetchall()
        emp = c.execute("SELECT name, designation FROM public.employees WHERE lower(btrim(email)) = %s", (x,)).fetchall()
    print(f"people {rows} employees {emp}")
    t1.close(); t2.close()
    assert "err" not in out and emp == [("T2-NAME", "T1-D")]


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
    print("\nmid", mid, "x", ex, "y", ey, "pending left", pend)
    assert mid == ("IMM",) and ex == ("SP3-KEPT",) and ey[0] not in ("SP-ROLLED", "SP2-ROLLED") and pend == 0
    assert p1_problems(legacy_db.url) == []


def test_prepare_transaction(legacy_db):
    deploy_p1()
    with legacy_db.admin(autocommit=True) as a:
        mpt = one(a, "SHOW max_prepared_transactions")
    print("\nmax_prepared_transactions", mpt)
    if mpt == "0":
        pytest.skip("no prepared transactions on this server")


def test_access_level_written_through_employees_survives_a_login(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c:
        x = c.execute(BOTH).fetchall()[0][0]
        before = one(c, "SELECT access_level FROM public.employees WHERE lower(btrim(email)) = %s", (x,))
        c.execute("UPDATE public.employees SET access_level = 'elevated' WHERE lower(btrim(email)) = %s", (x,))
        print("\nbefore", before, "verify after grant:", vsummary(vresult(legacy_db.url)))
        c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 WHERE lower(btrim(email)) = %s", (x,))
        after = one(c, "SELECT access_level FROM public.employees WHERE lower(btrim(email)) = %s", (x,))
    print("after legacy login:", after)
    assert after == "elevated"
