"""Phase 03's cutover (issue 22): assignments written through either path until phase 05. A write
to assignments reaches the legacy audit_assignments in the writer's transaction (the reverse
sync), a legacy write reaches assignments (the forward sync), neither echoes, and a rollback under
writers on both paths loses no committed write: the legacy table, the path that is current after
it, holds every one."""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg

from cqms_migrate import phases, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p03_relationships as p3

PHASE = p3.PHASE


def _ctx(**kw):
    return PhaseContext(PHASE, env="local", log=lambda m: None, progress=False, **kw)


def _people(c, n=6):
    """(id, email) of live employees with distinct normalized emails."""
    return c.execute("SELECT DISTINCT ON (lower(btrim(email))) id, email FROM public.employees "
                     "WHERE deleted_at IS NULL AND email LIKE '%%@%%' ORDER BY lower(btrim(email)), id LIMIT %s",
                     (n,)).fetchall()


def test_a_write_through_assignments_reaches_the_legacy_row_and_back_without_echo(db_after):
    db = db_after("03_relationships")
    with db.connect(autocommit=True) as c:
        assert c.execute("SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (p3.FLAG,)).fetchone()[0]
        (e1, m1), (e2, m2), (e3, m3) = _people(c, 3)
        sid = c.execute("SELECT id FROM public.scorecards ORDER BY id LIMIT 1").fetchone()[0]
        new = uuid.uuid4()
        c.execute("SET ROLE service_role")
        c.execute("INSERT INTO public.assignments (id, employee_id, auditor_id, assigner_id, scorecard_id, status, "
                  "scheduled_date, week, priority) VALUES (%s, %s, %s, %s, %s, 'in_progress', DATE '2026-05-04', 19, 'high')",
                  (new, e1, e2, e3, sid))
        c.execute("RESET ROLE")
        row = c.execute("SELECT employee_email, auditor_email, assigned_by, scorecard_id, status, scheduled_date::text, week "
                        "FROM public.audit_assignments WHERE id = %s", (new,)).fetchone()
        assert row == (m1, m2, m3, sid, "in_progress", "2026-05-04", 19), row
        # the unified row is what the runbook derives from that legacy row, plus what only it holds
        assert c.execute("SELECT quarter, priority FROM public.assignments WHERE id = %s", (new,)).fetchone() == ("Q2", "high")
        # a change the legacy table has no column for leaves the legacy row alone
        xmin = c.execute("SELECT xmin::text FROM public.audit_assignments WHERE id = %s", (new,)).fetchone()[0]
        c.execute("UPDATE public.assignments SET priority = 'urgent', due_date = DATE '2026-05-30' WHERE id = %s", (new,))
        assert c.execute("SELECT xmin::text FROM public.audit_assignments WHERE id = %s", (new,)).fetchone()[0] == xmin
        # a legacy spelling nothing changed stays: the legacy row says 'In Progress', a unified
        # write of the week keeps it
        c.execute("UPDATE public.audit_assignments SET status = 'In Progress' WHERE id = %s", (new,))
        assert c.execute("SELECT status, priority FROM public.assignments WHERE id = %s", (new,)).fetchone() == \
            ("in_progress", "urgent")
        c.execute("UPDATE public.assignments SET week = 20 WHERE id = %s", (new,))
        assert c.execute("SELECT status, week FROM public.audit_assignments WHERE id = %s", (new,)).fetchone() == \
            ("In Progress", 20)
        # a reassignment writes the new auditor's email
        c.execute("UPDATE public.assignments SET auditor_id = %s WHERE id = %s", (e3, new))
        assert c.execute("SELECT auditor_email FROM public.audit_assignments WHERE id = %s", (new,)).fetchone()[0] == m3
    with _ctx() as ctx:
        v = p3.validate(ctx.conn, ctx.params)
        assert v.ok, v.checks.to_dict("records")
    with db.connect(autocommit=True) as c:
        c.execute("DELETE FROM public.assignments WHERE id = %s", (new,))
        assert c.execute("SELECT count(*) FROM public.audit_assignments WHERE id = %s", (new,)).fetchone()[0] == 0


def test_after_the_cutover_is_rolled_back_assignments_refuses_writes_and_the_legacy_sync_goes_on(db_after):
    db = db_after("03_relationships")
    with _ctx(action="rollback") as ctx:
        steps = [s for s in p3.plan(ctx) if s.name in p3.CUTOVER_STEPS]
        out = phases.revert(ctx, list(reversed(steps)))
        assert {o.status for o in out} == {"reverted"}, out
    with db.connect(autocommit=True) as c:
        (e1, m1), (e2, m2) = _people(c, 2)
        for role in ("service_role", None):   # the API's server side, and the owner
            if role:
                c.execute(f"SET ROLE {role}")
            try:
                c.execute("UPDATE public.assignments SET priority = 'low' WHERE id = (SELECT id FROM public.assignments LIMIT 1)")
                raise AssertionError(f"{role}: a write to assignments passed the fence")
            except psycopg.errors.ReadOnlySqlTransaction:
                pass
            c.execute("RESET ROLE")
        new = uuid.uuid4()
        c.execute("INSERT INTO public.audit_assignments (id, employee_email, auditor_email, status, scheduled_date, created_at) "
                  "VALUES (%s, %s, %s, 'pending', current_date, now())", (new, m1, m2))
        assert c.execute("SELECT employee_id FROM public.assignments WHERE id = %s", (new,)).fetchone()[0] == e1
        c.execute("TRUNCATE public.audit_assignments")   # the forward sync's own delete passes too
        assert c.execute("SELECT count(*) FROM public.assignments").fetchone()[0] == 0
    # and the cutover opens it again
    with _ctx() as ctx:
        out = phases.deploy(ctx, [s for s in p3.plan(ctx) if s.name in p3.CUTOVER_STEPS])
        assert {o.status for o in out} == {"applied"}, out
    with db.connect(autocommit=True) as c:
        c.execute("INSERT INTO public.assignments (employee_id, auditor_id, scheduled_date) VALUES (%s, %s, current_date)",
                  (e1, e2))
        assert c.execute("SELECT count(*) FROM public.audit_assignments").fetchone()[0] == 1


def test_writers_on_both_paths_then_a_rollback_under_them_lose_nothing(db_after):
    """Two writers on each path insert, complete and delete assignments while phase 03 runs with
    its cutover, then while it is rolled back. Every write that committed is found afterwards in
    the legacy table (the path that is current once phase 03 is gone)."""
    db = db_after("03_relationships")
    with db.connect() as c:
        people = _people(c, 12)
        c.rollback()
    final: dict[str, str | None] = {}     # assignment id -> status committed last (None: deleted)
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def writer(idx: int, path: str) -> None:
        rng = random.Random(idx)
        mine: list[str] = []
        with db.connect(autocommit=True) as c:
            while not stop.is_set():
                time.sleep(0.01)   # an application's pace (a tight loop would starve the rollback's locks)
                try:
                    with c.transaction():
                        op = rng.random()
                        if mine and op < 0.3:
                            aid, status = rng.choice(mine), rng.choice(["completed", "in_progress", "on_hold"])
                            if path == "unified":
                                c.execute("SET LOCAL ROLE service_role")
                                n = c.execute("UPDATE public.assignments SET status = %s WHERE id = %s", (status, aid)).rowcount
                            else:
                                n = c.execute("UPDATE public.audit_assignments SET status = %s WHERE id = %s",
                                              (status, aid)).rowcount
                            result = (aid, status) if n else None
                        elif mine and op < 0.4:
                            aid = mine.pop(rng.randrange(len(mine)))
                            table = "assignments" if path == "unified" else "audit_assignments"
                            if path == "unified":
                                c.execute("SET LOCAL ROLE service_role")
                            n = c.execute(f"DELETE FROM public.{table} WHERE id = %s", (aid,)).rowcount
                            result = (aid, None) if n else None
                        else:
                            (e, em), (a, am) = rng.sample(people, 2)
                            aid = str(uuid.uuid4())
                            if path == "unified":
                                c.execute("SET LOCAL ROLE service_role")
                                c.execute("INSERT INTO public.assignments (id, employee_id, auditor_id, scheduled_date) "
                                          "VALUES (%s, %s, %s, current_date)", (aid, e, a))
                            else:
                                c.execute("INSERT INTO public.audit_assignments (id, employee_email, auditor_email, status, "
                                          "scheduled_date, created_at) VALUES (%s, %s, %s, 'pending', current_date, now())",
                                          (aid, em.upper(), f"  {am} "))
                            mine.append(aid)
                            result = (aid, "pending")
                    if result:
                        with lock:
                            final[result[0]] = result[1]
                except psycopg.errors.ReadOnlySqlTransaction:
                    time.sleep(0.01)    # the fence: this path is closed; nothing committed
                except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege):
                    time.sleep(0.01)    # assignments gone (or no longer granted): nothing committed
                except psycopg.errors.LockNotAvailable:
                    pass
                except psycopg.Error as e:   # a legacy write must never fail
                    if path == "legacy":
                        errors.append(f"{type(e).__name__}: {e}")
                    time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(i, p)) for i, p in enumerate(["legacy", "unified"] * 2)]
    for t in threads:
        t.start()
    try:
        time.sleep(4)
        with _ctx() as ctx:
            v = p3.validate(ctx.conn, ctx.params)
            assert v.ok, v.checks.to_dict("records")
        with _ctx(action="rollback") as ctx:
            outcomes, _ = rollback.run(ctx, PHASE)
        assert set(outcomes[outcomes["phase"] == PHASE]["status"]) == {"reverted"}, outcomes
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:5]
    assert len(final) > 50, len(final)
    with db.connect() as c:
        assert c.execute("SELECT to_regclass('public.assignments')").fetchone()[0] is None
        legacy = dict(c.execute("SELECT id::text, status FROM public.audit_assignments WHERE id = ANY (%s::uuid[])",
                                (list(final),)).fetchall())
    lost = {k: (v, legacy.get(k, "(absent)")) for k, v in final.items()
            if (v is None and k in legacy) or (v is not None and legacy.get(k) != v)}
    assert not lost, list(lost.items())[:10]
