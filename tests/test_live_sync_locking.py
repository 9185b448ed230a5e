"""Phase 1 live sync under concurrent legacy writers (issue 10, found by an independent attack):
transactions that never conflicted on the legacy schema must not deadlock once the sync is in;
new hires sharing a legacy code; a bulk statement; a supervisor's email change through
employees; a new employee with no department, channel or team."""

from __future__ import annotations

import threading

import psycopg

from audit_helpers import deploy_p1
from attack_helpers import bg as in_background
from helpers import one, wait_until_waiting
from test_live_sync_employees import assert_valid

BOTH = ("SELECT lower(btrim(u.email)) FROM public.users u JOIN public.people p ON lower(btrim(p.email)) = lower(btrim(u.email)) "
        "WHERE (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(u.email))) = 1 "
        "ORDER BY 1 LIMIT 2")


def finish(*conns) -> None:
    for c in conns:
        try:
            c.commit()
        except psycopg.Error:
            c.rollback()
        c.close()


def named(e) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def test_users_and_people_writers_in_opposite_order_do_not_deadlock(legacy_db):
    """T1 updates the users rows of x1 then x2, T2 the people rows of x2 then x1: different tables,
    no conflict on the legacy schema. The per-email apply runs at commit, so it cannot sit between
    two of a writer's row locks."""
    deploy_p1()
    with legacy_db.connect() as c:
        x1, x2 = [r[0] for r in c.execute(BOTH).fetchall()]
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t1.execute("UPDATE public.users SET full_name = 'T1 a' WHERE lower(btrim(email)) = %s", (x1,))
    t2.execute("UPDATE public.people SET designation = 'T2 a' WHERE lower(btrim(email)) = %s", (x2,))
    th, out = in_background(lambda: t1.execute("UPDATE public.users SET full_name = 'T1 b' WHERE lower(btrim(email)) = %s", (x2,)))
    with legacy_db.connect(autocommit=True) as mon:   # T1's second statement ran, or waits
        wait_until_waiting(mon, t1.info.backend_pid, unless=th)
    errors = []
    try:
        t2.execute("UPDATE public.people SET designation = 'T2 b' WHERE lower(btrim(email)) = %s", (x1,))
    except psycopg.Error as e:
        errors.append(named(e))
    th.join(10)
    errors += [named(out["err"])] if "err" in out else []
    finish(t1, t2)
    print(f"\nopposite-order users/people writers: errors {errors}")
    assert errors == []
    with legacy_db.connect() as c:
        assert {r[0] for r in c.execute("SELECT designation FROM public.employees WHERE lower(btrim(email)) IN (%s, %s)",
                                        (x1, x2)).fetchall()} == {"T2 b", "T2 a"}
        assert {r[0] for r in c.execute("SELECT name FROM public.employees WHERE lower(btrim(email)) IN (%s, %s)",
                                        (x1, x2)).fetchall()} <= {"T1 a", "T1 b"} | {
            r[0] for r in c.execute("SELECT name FROM public.people WHERE lower(btrim(email)) IN (%s, %s)", (x1, x2)).fetchall()}
    assert_valid(legacy_db.url)


def test_a_bulk_people_update_next_to_a_login_does_not_deadlock(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        emails = [r[0] for r in c.execute("SELECT lower(btrim(u.email)) FROM public.users u JOIN public.people p "
                                          "ON lower(btrim(p.email)) = lower(btrim(u.email)) ORDER BY 1").fetchall()]
    lo, hi = emails[0], emails[-1]
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    t1.execute("UPDATE public.users SET sign_in_count = coalesce(sign_in_count, 0) + 1 WHERE lower(btrim(email)) = %s", (hi,))
    th, out = in_background(lambda: t2.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1"))
    with legacy_db.connect(autocommit=True) as mon:   # the bulk update ran, or waits for the login's row
        wait_until_waiting(mon, t2.info.backend_pid, unless=th, timeout=30)
    errors = []
    try:
        t1.execute("UPDATE public.users SET sign_in_count = coalesce(sign_in_count, 0) + 1 WHERE lower(btrim(email)) = %s", (lo,))
    except psycopg.Error as e:
        errors.append(named(e))
    finish(t1)
    th.join(30)
    errors += [named(out["err"])] if "err" in out else []
    finish(t2)
    print(f"\nbulk people update next to a login: errors {errors}")
    assert errors == []
    assert_valid(legacy_db.url)


def test_two_new_hires_given_one_legacy_code_both_commit(legacy_db):
    """people.employee_id has no constraint on the legacy schema; employees.employee_id is UNIQUE.
    Two sessions hiring two people under one code both commit, neither waiting for the other
    before its commit; the first to commit keeps the code (here the second hire)."""
    deploy_p1()
    t1, t2 = legacy_db.connect(), legacy_db.connect()
    ins = ("INSERT INTO public.people (email, name, role, department, channel, team, is_active, employee_id) "
           "VALUES (%s, 'Hire', 'Agent', 'Support', 'Chat', 'Day Team', true, 'EMP-SHARED-1')")
    t1.execute(ins, ("hire.one@example.com",))
    th, out = in_background(lambda: (t2.execute(ins, ("hire.two@example.com",)), t2.commit()))
    with legacy_db.connect(autocommit=True) as mon:   # T2 committed, or waits
        wait_until_waiting(mon, t2.info.backend_pid, unless=th)
    t1.commit()
    th.join(10)
    finish(t1, t2)
    assert "err" not in out, named(out["err"])
    with legacy_db.connect() as c:
        held = c.execute("SELECT email, employee_id FROM public.employees WHERE email LIKE 'hire.%%@example.com' "
                         "ORDER BY email").fetchall()
    print(f"\nnew hires sharing a code: {held}")
    assert held == [("hire.one@example.com", None), ("hire.two@example.com", "EMP-SHARED-1")]
    assert_valid(legacy_db.url)


def test_a_supervisor_email_change_through_employees_keeps_the_reports_linked(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c:
        sid, n = c.execute("SELECT supervisor_id, count(*) FROM public.employees WHERE supervisor_id IS NOT NULL "
                           "AND deleted_at IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        c.execute("UPDATE public.employees SET email = 'new.boss.address@example.com' WHERE id = %s", (sid,))
        assert one(c, "SELECT count(*) FROM public.people WHERE team_supervisor = 'new.boss.address@example.com'") >= n
        report = one(c, "SELECT email FROM public.employees WHERE supervisor_id = %s AND legacy_snapshot ? 'people' "
                        "ORDER BY email LIMIT 1", (sid,))
        c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 "
                  "WHERE lower(btrim(email)) = lower(btrim(%s))", (report,))  # a later legacy login
        assert one(c, "SELECT count(*) FROM public.employees WHERE supervisor_id = %s", (sid,)) == n
    assert_valid(legacy_db.url)


def test_a_new_employee_without_department_channel_or_team(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c:
        role = one(c, "SELECT id FROM public.roles WHERE code = 'AGENT'")
        c.execute("INSERT INTO public.employees (email, name, role_id) VALUES ('minimal.hire@example.com', 'Min Hire', %s)",
                  (role,))
        assert one(c, "SELECT count(*) FROM public.people WHERE email = 'minimal.hire@example.com'") == 1
    assert_valid(legacy_db.url)
