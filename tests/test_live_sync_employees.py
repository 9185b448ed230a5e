"""Phase 1 live in both directions (issue 10): users and people writes reach employees in the
writer's transaction (the merge rules re-applied to each email touched), writes through employees
reach users and people after the build, validation holds while the application writes, and a
rollback under a flag-following writer loses nothing."""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg

from cqms_migrate import phases, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1
from audit_helpers import deploy_p1
from helpers import one

FLAG = "USE_UNIFIED_EMPLOYEES_TABLE"

# legacy rows the compat views do not stand for (merged duplicates, quarantined) aside, each
# compat view returns exactly the legacy table, both ways
COMPAT_EQUAL = """
  WITH explained AS (SELECT source_key FROM cqms_migration.employee_sources WHERE source_table = 'people'
                       AND disposition = 'merged_duplicate'
                     UNION ALL SELECT source_key FROM cqms_migration.quarantine WHERE phase = '01_foundation'
                       AND source_table = 'people'),
       keyed AS (SELECT p, md5(p::text) || ':' || row_number() OVER (PARTITION BY md5(p::text)) AS k FROM public.people p)
  SELECT (SELECT count(*) FROM (SELECT (keyed.p).* FROM keyed WHERE k NOT IN (SELECT source_key FROM explained)
                                EXCEPT ALL SELECT * FROM public.people_compat) a)
       + (SELECT count(*) FROM (SELECT * FROM public.people_compat EXCEPT ALL SELECT * FROM public.people) b)
       + (SELECT count(*) FROM (SELECT * FROM public.users_compat EXCEPT ALL SELECT * FROM public.users) c)
       + (SELECT count(*) FROM (SELECT * FROM public.users u WHERE u.id::text NOT IN (
            SELECT source_key FROM cqms_migration.employee_sources WHERE source_table = 'users'
              AND disposition = 'merged_duplicate'
            UNION ALL SELECT source_key FROM cqms_migration.quarantine WHERE phase = '01_foundation'
              AND source_table = 'users') EXCEPT ALL SELECT * FROM public.users_compat) d)"""


def assert_valid(url: str) -> None:
    with psycopg.connect(url) as c:
        v = p1.validate(c)
        assert v.ok, (v.checks[~v.checks["ok"]].to_dict("records"), v.reconciliation)
        assert one(c, COMPAT_EQUAL) == 0


def add_auth_user(admin, email: str) -> uuid.UUID:
    uid = uuid.uuid4()
    admin.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (uid, email))
    return uid


def employee(c, email: str):
    return c.execute("SELECT id, name, designation, deleted_at IS NOT NULL, auth_user_id, version FROM public.employees "
                     "WHERE lower(btrim(email)) = lower(btrim(%s))", (email,)).fetchone()


def test_legacy_writes_reach_employees_at_once(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c, legacy_db.admin(autocommit=True) as a:
        email, eid = c.execute(
            "SELECT p.email, e.id FROM public.people p JOIN public.employees e ON lower(btrim(e.email)) = lower(btrim(p.email)) "
            "WHERE (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(p.email))) = 1 "
            "AND NOT EXISTS (SELECT 1 FROM public.users u WHERE lower(btrim(u.email)) = lower(btrim(p.email))) "
            "ORDER BY p.email LIMIT 1").fetchone()
        # an edit, a role change to a role spelled another way
        c.execute("UPDATE public.people SET name = 'Renamed Person', role = '  team   LEAD ', department = 'Brand New Dept' "
                  "WHERE email = %s", (email,))
        row = c.execute("SELECT e.name, r.code, d.name FROM public.employees e JOIN public.roles r ON r.id = e.role_id "
                        "JOIN public.departments d ON d.id = e.department_id WHERE e.id = %s", (eid,)).fetchone()
        assert row[0] == "Renamed Person" and row[2] == "Brand New Dept", row
        # a new hire in people, then their login (auth user + users row, another spelling)
        c.execute("INSERT INTO public.people (email, name, role, department, channel, team, is_active) "
                  "VALUES ('New.Hire@Example.com', 'New Hire', 'Agent', 'Support', 'Chat', 'Night Owls', true)")
        hire = employee(c, "new.hire@example.com")
        assert hire is not None and hire[1] == "New Hire" and hire[4] is None
        uid = add_auth_user(a, "new.hire@example.com")
        c.execute("INSERT INTO public.users (id, email, full_name) VALUES (%s, ' new.hire@example.com', 'N. Hire')", (uid,))
        after = employee(c, "new.hire@example.com")
        assert after[0] == hire[0] and after[4] == uid, "the new hire keeps their id and gains the login"
        # an email change keeps the employee (and every key pointing at it)
        c.execute("UPDATE public.people SET email = 'changed.address@example.com' WHERE email = %s", (email,))
        assert employee(c, "changed.address@example.com")[0] == eid
        assert employee(c, email) is None
        # a duplicate with higher precedence takes over the employee's values, not its id
        c.execute("INSERT INTO public.people (email, name, is_active, last_login, department, channel, team) VALUES "
                  "('CHANGED.address@example.com', 'Newer Spelling', true, now() + interval '1 day', 'Support', 'Chat', 'Night Owls')")
        assert employee(c, "changed.address@example.com")[:2] == (eid, "Newer Spelling")
        # every row of an email gone: the employee is soft-deleted, not removed
        c.execute("DELETE FROM public.people WHERE lower(btrim(email)) = 'changed.address@example.com'")
        assert employee(c, "changed.address@example.com")[3] is True
        # an invalid email is quarantined at once; fixed, it becomes an employee
        c.execute("INSERT INTO public.people (email, name) VALUES ('not-an-email', 'Broken Row')")
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = '01_foundation' "
                      "AND original_row ->> 'email' = 'not-an-email'") == 1
        c.execute("UPDATE public.people SET email = 'fixed.row@example.com' WHERE email = 'not-an-email'")
        assert employee(c, "fixed.row@example.com") is not None
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE original_row ->> 'email' = 'not-an-email'") == 0
    assert_valid(legacy_db.url)


def test_writes_through_employees_reach_users_and_people(legacy_db):
    deploy_p1()
    with legacy_db.connect(autocommit=True) as c, legacy_db.admin(autocommit=True) as a:
        eid, email, version = c.execute(
            "SELECT e.id, e.email, e.version FROM public.employees e WHERE e.legacy_snapshot ? 'people' "
            "AND e.legacy_snapshot ? 'users' ORDER BY e.id LIMIT 1").fetchone()
        role = one(c, "SELECT id FROM public.roles WHERE code <> (SELECT r.code FROM public.roles r JOIN public.employees e "
                      "ON e.role_id = r.id WHERE e.id = %s) ORDER BY code LIMIT 1", (eid,))
        c.execute("UPDATE public.employees SET name = 'Through Employees', designation = 'Lead', role_id = %s "
                  "WHERE id = %s", (role, eid))
        assert one(c, "SELECT version FROM public.employees WHERE id = %s", (eid,)) == version + 1, \
            "one write through employees is one version, whatever the sync did"
        assert c.execute("SELECT name, designation, role = (SELECT name FROM public.roles WHERE id = %s) FROM public.people "
                         "WHERE lower(btrim(email)) = lower(btrim(%s)) ORDER BY is_active DESC NULLS LAST LIMIT 1",
                         (role, email)).fetchone() == ("Through Employees", "Lead", True)
        assert one(c, "SELECT full_name FROM public.users WHERE lower(btrim(email)) = lower(btrim(%s))", (email,)) \
            == "Through Employees"
        # a new employee through the new path, with a login
        uid = add_auth_user(a, "direct.hire@example.com")
        c.execute("INSERT INTO public.employees (email, name, role_id, auth_user_id, designation) "
                  "VALUES ('direct.hire@example.com', 'Direct Hire', %s, %s, 'Agent')", (role, uid))
        assert one(c, "SELECT name FROM public.people WHERE email = 'direct.hire@example.com'") == "Direct Hire"
        assert one(c, "SELECT id FROM public.users WHERE email = 'direct.hire@example.com'") == uid
        # an email change through employees: both legacy rows follow
        c.execute("UPDATE public.employees SET email = 'direct.hire2@example.com' WHERE auth_user_id = %s", (uid,))
        assert one(c, "SELECT count(*) FROM public.people WHERE email = 'direct.hire2@example.com'") == 1
        assert one(c, "SELECT email FROM public.users WHERE id = %s", (uid,)) == "direct.hire2@example.com"
        # a soft deletion removes the legacy rows
        c.execute("UPDATE public.employees SET deleted_at = now() WHERE auth_user_id = %s", (uid,))
        assert one(c, "SELECT count(*) FROM public.people WHERE email = 'direct.hire2@example.com'") == 0
        assert one(c, "SELECT count(*) FROM public.users WHERE id = %s", (uid,)) == 0
    assert_valid(legacy_db.url)


class Traffic(threading.Thread):
    """Login-style updates and new hires on users and people, from another connection, while the
    runbook runs. Every committed new hire is remembered; every error counted."""

    def __init__(self, url: str, seed: int = 5):
        super().__init__(daemon=True)
        self.url, self.rng = url, random.Random(seed)
        self.stop = threading.Event()
        self.error: BaseException | None = None   # a writer must not die silently
        self.hires: list[str] = []
        self.errors: list[str] = []
        self.writes = 0
        self.times: list[float] = []   # when each write committed (monotonic)

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - asserted by the test
            self.error = e

    def _run(self):
        with psycopg.connect(self.url, autocommit=True) as c:
            users = [r[0] for r in c.execute("SELECT id FROM public.users").fetchall()]
            people = [r[0] for r in c.execute("SELECT DISTINCT email FROM public.people WHERE email IS NOT NULL").fetchall()]
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    kind = n % 4
                    if kind == 0:
                        c.execute("UPDATE public.users SET last_sign_in_at = now(), sign_in_count = coalesce(sign_in_count, 0) + 1 "
                                  "WHERE id = %s", (self.rng.choice(users),))
                    elif kind == 1:
                        c.execute("UPDATE public.people SET last_login = now(), login_count = coalesce(login_count, 0) + 1 "
                                  "WHERE email = %s", (self.rng.choice(people),))
                    elif kind == 2:
                        email = f"hire.{n}.{self.rng.randrange(10**6)}@example.com"
                        c.execute("INSERT INTO public.people (email, name, role, department, channel, team, is_active) "
                                  "VALUES (%s, 'Hire', 'Agent', 'Support', 'Chat', 'Day Team', true)", (email,))
                        self.hires.append(email)
                    else:
                        c.execute("UPDATE public.people SET designation = %s WHERE email = %s",
                                  (f"d{n}", self.rng.choice(people)))
                    self.writes += 1
                    self.times.append(time.monotonic())
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {str(e).strip()} {e.diag.message_detail or ''} "
                                       f"{e.diag.context or ''}")
                time.sleep(0.003)


def test_phase1_builds_and_validates_while_people_log_in(legacy_db):
    """The runbook builds phase 1 under login traffic and new hires; validation holds during and
    after; every committed new hire is an employee."""
    traffic = Traffic(legacy_db.url)
    traffic.start()
    try:
        time.sleep(0.3)
        during: dict[str, int] = {}
        with PhaseContext(p1.PHASE, env="local") as ctx:
            for step in p1.steps(ctx):
                t0 = time.monotonic()
                assert phases.deploy(ctx, [step])[0].status == "applied"
                during[step.name] = sum(1 for x in traffic.times if t0 <= x <= time.monotonic())
                if step.name in p1.BUILD_STEPS[p1.BUILD_STEPS.index("create_compat_views"):]:
                    assert_valid(legacy_db.url)  # after each step from the compat views on, traffic running
        time.sleep(0.5)
        # the application wrote while the steps ran (not only in the sleeps around them)
        assert sum(during.values()) > 20, during
    finally:
        traffic.stop.set()
        traffic.join(30)
    assert traffic.error is None and traffic.errors == [], (traffic.error, traffic.errors[:5])
    assert traffic.writes > 100 and len(traffic.hires) > 20, (traffic.writes, len(traffic.hires))
    with legacy_db.connect() as c:
        missing = [h for h in traffic.hires if employee(c, h) is None]
        print(f"phase-01 build under traffic: {traffic.writes} committed writes ({len(traffic.hires)} new hires), "
              f"{len(traffic.errors)} errors, {len(missing)} new hires missing from employees")
        assert missing == [], f"{len(missing)} committed new hires are not employees"
    assert_valid(legacy_db.url)


class FlagFollowingWriter(threading.Thread):
    """The application around a phase-1 cutover: before each write it reads the flag; on, it
    writes employees.designation; off, people.designation. Every committed write remembered."""

    def __init__(self, url: str, emails: list[str], seed: int = 9):
        super().__init__(daemon=True)
        self.url, self.emails, self.rng = url, emails, random.Random(seed)
        self.stop = threading.Event()
        self.error: BaseException | None = None   # a writer must not die silently
        self.committed: dict = {}
        self.paths = {"employees": 0, "people": 0}
        self.times: list[tuple[float, str]] = []   # (when it committed, path)
        self.errors: list[str] = []

    def during(self, t0: float, t1: float, path: str | None = None) -> int:
        """Writes that committed between t0 and t1 (monotonic), on ``path`` or either."""
        return sum(1 for t, p in self.times if t0 <= t <= t1 and path in (None, p))

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - asserted by the test
            self.error = e

    def _run(self):
        with psycopg.connect(self.url, autocommit=True) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                email = self.rng.choice(self.emails)
                value = f"w{n}"
                on = c.execute("SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (FLAG,)).fetchone()[0]
                try:
                    if on:
                        c.execute("UPDATE public.employees SET designation = %s WHERE email = %s", (value, email))
                        path = "employees"
                    else:
                        c.execute("UPDATE public.people SET designation = %s WHERE email = %s", (value, email))
                        path = "people"
                    self.paths[path] += 1
                    self.times.append((time.monotonic(), path))
                    self.committed[email] = value
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}")
                time.sleep(0.002)


def test_a_phase1_rollback_after_cutover_under_a_writer_loses_nothing(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        emails = [r[0] for r in c.execute(
            "SELECT e.email FROM public.employees e WHERE e.deleted_at IS NULL AND e.legacy_snapshot ? 'people' "
            "AND e.email = e.legacy_snapshot -> 'people' ->> 'email' AND (SELECT count(*) FROM public.people p "
            "WHERE lower(btrim(p.email)) = lower(btrim(e.email))) = 1 ORDER BY e.id LIMIT 100").fetchall()]
    writer = FlagFollowingWriter(legacy_db.url, emails)
    writer.start()
    time.sleep(0.5)
    try:
        t0 = time.monotonic()
        with PhaseContext(p1.PHASE, env="local", action="rollback") as ctx:
            outcomes, _ = rollback.run(ctx, p1.PHASE)
        t1 = time.monotonic()
        assert set(outcomes.loc[outcomes["phase"] == p1.PHASE, "status"]) == {"reverted"}
        time.sleep(0.3)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and writer.errors == [], (writer.error, writer.errors[:5])
    # written while the rollback ran, through employees until the flag went off, people after
    assert writer.during(t0, t1) > 20 and writer.during(t0, t1, "people") > 0, \
        (writer.during(t0, t1, "employees"), writer.during(t0, t1, "people"), t1 - t0)
    with legacy_db.connect() as c:
        assert one(c, "SELECT to_regclass('public.employees') IS NULL")
        got = dict(c.execute("SELECT email, designation FROM public.people WHERE email = ANY(%s)",
                             (list(writer.committed),)).fetchall())
    lost = {k: v for k, v in writer.committed.items() if got.get(k) != v}
    print(f"phase-01 rollback under a writer: {sum(writer.paths.values())} committed writes "
          f"({writer.paths['employees']} through employees, {writer.paths['people']} through people), "
          f"{len(writer.errors)} errors, {len(lost)} of the {len(writer.committed)} rows' last values lost")
    assert lost == {}, f"{len(lost)} of {len(writer.committed)} committed writes are not in people"


def test_after_the_phase1_fence_a_late_writer_gets_an_error(legacy_db):
    deploy_p1()
    with PhaseContext(p1.PHASE, env="local", action="rollback") as ctx:
        steps = {s.name: s for s in p1.steps(ctx)}
        phases.revert(ctx, [steps["enable_feature_flag"], steps["install_reverse_sync"]])
    with legacy_db.connect(autocommit=True) as c:
        # an employee with one people row, so the legacy write below is certain to be made
        eid, email = c.execute("SELECT e.id, p.email FROM public.employees e JOIN public.people p "
                               "ON lower(btrim(p.email)) = lower(btrim(e.email)) WHERE e.deleted_at IS NULL "
                               "AND (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(e.email))) = 1 "
                               "ORDER BY e.id LIMIT 1").fetchone()
        try:
            c.execute("UPDATE public.employees SET designation = 'late' WHERE id = %s", (eid,))
            raise AssertionError("the fenced table took a write")
        except psycopg.errors.ReadOnlySqlTransaction as e:
            assert "rolls back" in str(e)
        # a legacy write still reaches employees through the fence
        c.execute("UPDATE public.people SET designation = 'via legacy' WHERE email = %s", (email,))
        assert one(c, "SELECT designation FROM public.employees WHERE id = %s", (eid,)) == "via legacy"
    # the rest of the rollback finishes
    with PhaseContext(p1.PHASE, env="local", action="rollback") as ctx:
        outcomes, _ = rollback.run(ctx, p1.PHASE)
    assert "failed" not in set(outcomes["status"])
    with legacy_db.connect() as c:
        assert one(c, "SELECT to_regclass('public.employees') IS NULL")


def test_a_write_for_a_person_does_not_wait_for_a_key_share_lock(legacy_db):
    """A backfill batch's foreign-key checks on audits hold FOR KEY SHARE on the audited employees
    until the batch commits. The phase-1 apply used INSERT ... ON CONFLICT DO UPDATE, which locks
    FOR UPDATE and so waited for the whole batch (a login waited 78 s in the 1M rehearsal): it now
    updates existing employees FOR NO KEY UPDATE. Both paths, with a key-share holder open."""
    deploy_p1()
    with legacy_db.connect() as holder, legacy_db.connect() as app:
        eid, uid, email = app.execute(
            "SELECT e.id, e.auth_user_id, e.email FROM public.employees e WHERE e.auth_user_id IS NOT NULL "
            "AND e.legacy_snapshot ? 'people' AND e.deleted_at IS NULL ORDER BY e.email LIMIT 1").fetchone()
        app.rollback()
        holder.execute("SELECT 1 FROM public.employees WHERE id = %s FOR KEY SHARE", (eid,))
        app.execute("SET LOCAL statement_timeout = '3s'")
        app.execute("UPDATE public.employees SET last_login_at = now() WHERE id = %s", (eid,))
        app.commit()
        app.execute("SET LOCAL statement_timeout = '3s'")
        app.execute("UPDATE public.users SET last_sign_in_at = now() WHERE id = %s", (uid,))
        app.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 WHERE email = %s", (email,))
        app.commit()  # the deferred apply runs here, under the same timeout
        holder.rollback()
    assert_valid(legacy_db.url)
