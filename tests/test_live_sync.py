"""Zero loss while the application writes (issue 10): a rollback that fences the unified table
after the flag is off, writes made through audit_errors, auth user deletions with their legacy
meaning, reference keys that survive a rollback and re-run."""

from __future__ import annotations

import random
import threading
import time

import psycopg
from psycopg import sql

from cqms_migrate import phases, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from cqms_migrate.errors import LockTimeoutExhausted
from audit_helpers import deploy_p1, deploy_p2, ident, one, validate_now, write_params

FLAG = "USE_UNIFIED_AUDITS_TABLE"


class FlagFollowingWriter(threading.Thread):
    """The application after cutover, as the seed's adapters behave: before each write it reads
    the flag; on, it writes through audits; off, through the legacy table. Every committed write
    is remembered (row -> value), every error counted."""

    def __init__(self, url: str, table: str, ids: list, seed: int = 3):
        super().__init__(daemon=True)
        self.url, self.table, self.ids = url, table, ids
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.error: BaseException | None = None   # a writer must not die silently
        self.committed: dict = {}
        self.paths = {"audits": 0, "legacy": 0}
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
                rid = self.rng.choice(self.ids)
                value = round(1 + n * 0.001, 3)
                on = c.execute("SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (FLAG,)).fetchone()[0]
                try:
                    if on:
                        c.execute("UPDATE public.audits SET total_score = %s WHERE id = %s", (value, rid))
                        path = "audits"
                    else:
                        c.execute(sql.SQL("UPDATE {} SET average_score = %s WHERE id = %s").format(ident(self.table)),
                                  (value, rid))
                        path = "legacy"
                    self.paths[path] += 1
                    self.times.append((time.monotonic(), path))
                    self.committed[rid] = value
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {str(e).strip()} | {e.diag.message_detail}")
                time.sleep(0.002)


def test_a_rollback_after_cutover_under_a_writer_loses_nothing(legacy_db):
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    table = "chat_audit"
    with legacy_db.connect() as c:
        ids = [r[0] for r in c.execute("SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                                       "ORDER BY id LIMIT 200", (table,)).fetchall()]
    writer = FlagFollowingWriter(legacy_db.url, table, ids)
    writer.start()
    time.sleep(0.5)
    try:
        t0 = time.monotonic()
        with PhaseContext(p2.PHASE, env="local", action="rollback") as ctx:
            outcomes, checks = rollback.run(ctx, p2.PHASE)
        t1 = time.monotonic()
        assert set(outcomes[outcomes["phase"] == p2.PHASE]["status"]) == {"reverted"}
        assert set(outcomes[outcomes["phase"] != p2.PHASE]["status"]) <= {"skipped"}   # later phases, never applied
        time.sleep(0.3)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and writer.errors == [], (writer.error, writer.errors[:5])
    # the writer wrote while the rollback ran (not only before and after it), through audits
    # until the flag went off and through the legacy table after
    assert writer.during(t0, t1) > 20 and writer.during(t0, t1, "legacy") > 0, \
        (writer.during(t0, t1, "audits"), writer.during(t0, t1, "legacy"), t1 - t0)
    with legacy_db.connect() as c:
        assert one(c, "SELECT to_regclass('public.audits') IS NULL")
        got = dict(c.execute(sql.SQL("SELECT id, average_score FROM {} WHERE id = ANY(%s)").format(ident(table)),
                             (list(writer.committed),)).fetchall())
    lost = {k: v for k, v in writer.committed.items() if float(got.get(k, -1)) != v}
    print(f"phase-02 rollback under a writer: {sum(writer.paths.values())} committed writes "
          f"({writer.paths['audits']} through audits, {writer.paths['legacy']} through {table}), "
          f"{len(writer.errors)} errors, {len(lost)} of the {len(writer.committed)} rows' last values lost")
    assert lost == {}, f"{len(lost)} of {len(writer.committed)} committed writes are not in {table}"


def test_after_the_fence_a_late_writer_gets_an_error_not_a_lost_write(legacy_db):
    """A writer that ignores the flag: once install_reverse_sync is reverted, audits refuses it."""
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    with PhaseContext(p2.PHASE, env="local", action="rollback") as ctx:
        steps = {s.name: s for s in p2.steps(ctx)}
        phases.revert(ctx, [steps["install_reverse_sync"], steps["enable_feature_flag"]])
    with legacy_db.connect(autocommit=True) as c:
        rid = one(c, "SELECT id FROM public.audits WHERE deleted_at IS NULL ORDER BY id LIMIT 1")
        try:
            c.execute("UPDATE public.audits SET total_score = 1 WHERE id = %s", (rid,))
            raise AssertionError("the fenced table took a write")
        except psycopg.errors.ReadOnlySqlTransaction as e:
            assert "rolls back" in str(e)
    # a re-deploy of the cutover lifts the fence
    deploy_p2(names=p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        assert c.execute("UPDATE public.audits SET total_score = 1 WHERE id = %s", (rid,)).rowcount == 1


def test_changes_to_audit_errors_reach_the_legacy_parameter_columns(legacy_db):
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        aid, table, field, count = c.execute(
            "SELECT e.audit_id, a.legacy_table, e.field_id, e.error_count FROM public.audit_errors e "
            "JOIN public.audits a ON a.id = e.audit_id WHERE a.legacy_table = 'chat_audit' ORDER BY e.id LIMIT 1").fetchone()
        column = sql.Identifier(field)
        assert one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(column, ident(table)), (aid,)) == count
        c.execute("UPDATE public.audit_errors SET error_count = %s WHERE audit_id = %s AND field_id = %s",
                  (count + 4, aid, field))
        assert one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(column, ident(table)), (aid,)) == count + 4
        c.execute("DELETE FROM public.audit_errors WHERE audit_id = %s AND field_id = %s", (aid, field))
        assert one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(column, ident(table)), (aid,)) == 0
        # a legacy write rewrites the audit's errors without echoing back
        c.execute(sql.SQL("UPDATE {} SET {} = 2 WHERE id = %s").format(ident(table), column), (aid,))
        assert one(c, "SELECT error_count FROM public.audit_errors WHERE audit_id = %s AND field_id = %s",
                   (aid, field)) == 2
        assert one(c, sql.SQL("SELECT {} FROM {} WHERE id = %s").format(column, ident(table)), (aid,)) == 2
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)


def test_an_auth_user_deletion_keeps_its_legacy_meaning(legacy_db):
    """Legacy: deleting an auth user cascades to its users row; its people row stays; audits (by
    email) are untouched. Unified: the employee loses its login but stays (or, if it was only a
    users row, is soft-deleted); audits keep a valid key; the compat views equal the legacy tables."""
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        both = one(c, "SELECT e.id FROM public.employees e WHERE e.auth_user_id IS NOT NULL "
                      "AND e.legacy_snapshot ? 'people' AND e.legacy_snapshot ? 'users' AND EXISTS "
                      "(SELECT 1 FROM public.audits a WHERE a.employee_id = e.id) ORDER BY e.id LIMIT 1")
        only_user = one(c, "SELECT e.id FROM public.employees e WHERE e.auth_user_id IS NOT NULL "
                           "AND NOT e.legacy_snapshot ? 'people' ORDER BY e.id LIMIT 1")
        users_before = one(c, "SELECT count(*) FROM public.users")
    with legacy_db.admin(autocommit=True) as a:
        for emp in (both, only_user):
            a.execute("DELETE FROM auth.users WHERE id = (SELECT auth_user_id FROM public.employees WHERE id = %s)",
                      (emp,))
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM public.users") == users_before - 2
        assert c.execute("SELECT auth_user_id, deleted_at IS NULL FROM public.employees WHERE id = %s",
                         (both,)).fetchone() == (None, True)
        assert c.execute("SELECT auth_user_id, deleted_at IS NOT NULL FROM public.employees WHERE id = %s",
                         (only_user,)).fetchone() == (None, True)
        assert one(c, "SELECT count(*) FROM (SELECT * FROM public.users_compat EXCEPT ALL SELECT * FROM public.users) x") == 0
    v = p1.validate(psycopg.connect(legacy_db.url))
    assert v.ok, v.checks[~v.checks["ok"]]


def test_reference_keys_survive_a_rollback_and_a_rerun(legacy_db):
    keys = "SELECT string_agg(k, ',' ORDER BY k) FROM (SELECT 'r' || id || code AS k FROM public.roles UNION ALL " \
           "SELECT 'd' || id || code FROM public.departments UNION ALL SELECT 'c' || id || code FROM public.channels " \
           "UNION ALL SELECT 't' || id || code FROM public.teams UNION ALL " \
           "SELECT 'e' || id || role_id || department_id || channel_id || team_id FROM public.employees) x"
    deploy_p1()
    with legacy_db.connect() as c:
        first = one(c, keys)
    with PhaseContext(p1.PHASE, env="local", action="rollback") as ctx:
        rollback.run(ctx, p1.PHASE)
    deploy_p1()
    with legacy_db.connect() as c:
        assert one(c, keys) == first


PROBE_LOCK_TIMEOUT = "1s"   # five times one legacy lock attempt (legacy_lock_retries: 200 ms at most)


class LongReader(threading.Thread):
    """A report that reads a legacy table inside one long transaction."""

    def __init__(self, url: str, table: str, seconds: float):
        super().__init__(daemon=True)
        self.url, self.table, self.seconds = url, table, seconds
        self.started = threading.Event()

    def run(self):
        with psycopg.connect(self.url) as c:
            c.execute(sql.SQL("SELECT count(*) FROM {}").format(ident(self.table))).fetchone()
            self.started.set()
            time.sleep(self.seconds)
            c.rollback()


class Prober(threading.Thread):
    """The application reading the same table, statement by statement, with a lock_timeout of
    PROBE_LOCK_TIMEOUT: a read that waits longer on a lock fails (a lock wait, measured by the
    server, not the wall clock of a busy two-core machine)."""

    def __init__(self, url: str, table: str):
        super().__init__(daemon=True)
        self.url, self.table = url, table
        self.stop = threading.Event()
        self.error: BaseException | None = None   # a writer must not die silently
        self.longest = 0.0
        self.reads = 0

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - asserted by the test
            self.error = e

    def _run(self):
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(f"SET lock_timeout = '{PROBE_LOCK_TIMEOUT}'")
            while not self.stop.is_set():
                t0 = time.monotonic()
                c.execute(sql.SQL("SELECT id FROM {} LIMIT 1").format(ident(self.table))).fetchone()
                self.longest = max(self.longest, time.monotonic() - t0)
                self.reads += 1
                time.sleep(0.01)


def test_a_long_reader_neither_stalls_the_application_nor_the_rollback(legacy_db):
    """DROP TRIGGER waits for a long reader of the legacy table; while it waits, every other
    reader queues behind it. Legacy tables get many short attempts (params legacy_lock_retries):
    the application waits at most one short attempt at a time, and the rollback finishes."""
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS)
    reader, prober = LongReader(legacy_db.url, "chat_audit", 3.0), Prober(legacy_db.url, "chat_audit")
    reader.start()
    reader.started.wait(10)
    prober.start()
    try:
        with PhaseContext(p2.PHASE, env="local", action="rollback") as ctx:
            outcomes, _ = rollback.run(ctx, p2.PHASE)
    finally:
        prober.stop.set()
        prober.join(10)
        reader.join(10)
    statuses = set(outcomes.loc[outcomes["phase"] == p2.PHASE, "status"])
    assert "reverted" in statuses and statuses <= {"reverted", "skipped"}, statuses  # (not cut over: 2 skipped)
    # one attempt is at most 200 ms (legacy_lock_retries); the old retries (up to 2 s each) stalled
    # the application's reads for seconds: a read waiting over PROBE_LOCK_TIMEOUT on a lock fails
    assert prober.error is None, f"an application read waited on a lock: {prober.error!r}"
    assert prober.reads > 50
    print(f"longest application read: {prober.longest:.2f} s (wall clock)")


def test_a_rollback_stopped_midway_by_a_lock_is_rerun_and_finishes(legacy_db, tmp_path):
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS)
    impatient = write_params(tmp_path, legacy_lock_retries=[[50, 0.05], [50, 0.05]])
    reader = LongReader(legacy_db.url, "chat_audit", 2.0)
    reader.start()
    reader.started.wait(10)
    try:
        with PhaseContext(p2.PHASE, env="local", action="rollback", params_file=impatient) as ctx:
            try:
                rollback.run(ctx, p2.PHASE)
                raise AssertionError("the rollback got a lock a reader held")
            except LockTimeoutExhausted:
                pass
    finally:
        reader.join(10)
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (p2.PHASE,)) > 0
    with PhaseContext(p2.PHASE, env="local", action="rollback") as ctx:
        outcomes, _ = rollback.run(ctx, p2.PHASE)
    assert "failed" not in set(outcomes["status"])
    with legacy_db.connect() as c:
        assert one(c, "SELECT to_regclass('public.audits') IS NULL")
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02%%'") == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (p2.PHASE,)) == 0


def test_a_rename_through_employees_leaves_audit_compat_rows_equal_to_legacy(legacy_db):
    """An audit changed through audits is written to its legacy row, whose names are then what
    the compat view shows: a later rename of the employee (which legacy audit rows never follow)
    leaves <table>_compat equal to the legacy table."""
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    table = "chat_audit"
    view = sql.Identifier("public", p2.compat_view_name(table))
    with legacy_db.connect(autocommit=True) as c:
        aid, emp = c.execute("SELECT id, employee_id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                             "ORDER BY id LIMIT 1", (table,)).fetchone()
        c.execute("UPDATE public.audits SET total_score = 42 WHERE id = %s", (aid,))
        c.execute("UPDATE public.employees SET name = 'Renamed Through Employees' WHERE id = %s", (emp,))
        differ = one(c, sql.SQL(
            "SELECT count(*) FROM ((SELECT * FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q "
            "WHERE q.phase = '02_audit_unification' AND q.source_table = {n} AND q.source_key = t.id::text) "
            "EXCEPT ALL SELECT * FROM {v}) UNION ALL (SELECT * FROM {v} EXCEPT ALL SELECT * FROM {t})) x").format(
            t=ident(table), v=view, n=sql.Literal(table)))
        assert differ == 0
        assert one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(table)), (aid,)) == 42
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
