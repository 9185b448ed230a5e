"""Phase 2 while the application keeps writing: the sync triggers during the backfill, the
reverse sync after cutover (so a rollback loses nothing), and the placeholder policy."""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from cqms_migrate import phases, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import (counts, deploy_p1, deploy_p2, dynamic_tables, exists, ident, one,  # noqa: E402
                           validate_now, write_params)

PHASE = "02_audit_unification"
BUILD = p2.BUILD_STEPS
EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
STATUS_MAP = {"pass": "pass", "passed": "pass", "fail": "fail", "failed": "fail", "not passed": "fail"}


def migratable_rows_sql(table: str, *, but_employee: bool = False) -> sql.Composable:
    """Legacy rows that must migrate (every quarantine reason ruled out), decided here; with
    but_employee, rows that would migrate but for an employee email that matches nobody."""
    employee = sql.SQL("""LEFT JOIN public.employees e ON lower(btrim(e.email)) = lower(btrim(l.employee_email))
      JOIN public.employees a ON lower(btrim(a.email)) = lower(btrim(l.auditor_email))
      WHERE e.id IS NULL""" if but_employee else """JOIN public.employees e ON lower(btrim(e.email)) = lower(btrim(l.employee_email))
      JOIN public.employees a ON lower(btrim(a.email)) = lower(btrim(l.auditor_email))
      WHERE e.id <> a.id""")
    return sql.SQL("""
      SELECT l.id FROM {t} l {employee}
        AND l.interaction_date IS NOT NULL
        AND lower(btrim(l.passing_status)) = ANY({spellings})
        AND coalesce(l.validation_status, 'pending') IN ('pending', 'approved', 'rejected', 'needs_revision')
        AND coalesce(l.acknowledgement_status, 'pending') IN ('pending', 'acknowledged', 'disputed', 'not_required')
        AND (l.audit_end_time IS NULL OR l.audit_start_time IS NULL OR l.audit_end_time >= l.audit_start_time)
        AND coalesce(l.audit_duration, 0) >= 0 AND coalesce(l.average_score, 0) >= 0
      ORDER BY l.id""").format(t=ident(table), employee=employee, spellings=sql.Literal(list(STATUS_MAP)))


# ------------------------------------------------------------------------------------------
# 8. writes during the backfill arrive
# ------------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """The application: inserts, updates (score, status, email case) and deletes on several
    legacy tables, one autocommit statement at a time, while the backfill runs."""

    def __init__(self, url: str, tables: list[str], good: dict[str, list], seed: int, min_ops: int = 200):
        super().__init__(daemon=True)
        self.url, self.tables, self.good = url, tables, good
        self.rng = random.Random(seed)
        self.min_ops = min_ops
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.inserted: dict = {}     # id -> table
        self.updated: dict = {}      # id -> (table, score, status, email) latest
        self.deleted: dict = {}      # id -> table
        self.op_times: list[float] = []

    def run(self):
        try:
            with psycopg.connect(self.url, autocommit=True) as c:
                c.execute("SET application_name = 'test-writer'")
                ops = 0
                while (ops < self.min_ops or not self.stop.is_set()) and ops < 3000:
                    self.one_op(c)
                    ops += 1
                    self.op_times.append(time.monotonic())
                    time.sleep(0.002)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def pick(self, table):
        pool = [i for i in self.good[table] if i not in self.deleted]
        return self.rng.choice(pool)

    def one_op(self, c):
        r = self.rng.random()
        table = self.rng.choice(self.tables)
        t = ident(table)
        if r < 0.3:  # insert a copy of a good row under a new id
            src, new = self.pick(table), uuid.uuid4()
            c.execute(sql.SQL("INSERT INTO {t} SELECT (jsonb_populate_record(NULL::{t}, to_jsonb(l) || "
                              "jsonb_build_object('id', %s::text))).* FROM {t} l WHERE l.id = %s").format(t=t),
                      (str(new), src))
            self.inserted[new] = table
            self.good[table].append(new)
        elif r < 0.75:  # update score, spelling and email case of a good row
            rid = self.pick(table)
            score = round(self.rng.uniform(0, 100), 3)
            status = self.rng.choice(["PASS", "Passed", "FAIL", "Not Passed", "fail"])
            variant = self.rng.choice(["upper", "lower", "spaced"])
            cur = c.execute(sql.SQL(
                "UPDATE {t} SET average_score = %s, passing_status = %s, employee_email = CASE %s "
                "WHEN 'upper' THEN upper(btrim(employee_email)) WHEN 'lower' THEN lower(btrim(employee_email)) "
                "ELSE ' ' || btrim(employee_email) || ' ' END, updated_at = clock_timestamp() "
                "WHERE id = %s RETURNING employee_email").format(t=t), (score, status, variant, rid))
            row = cur.fetchone()
            if row:
                self.updated[rid] = (table, score, status, row[0])
        else:  # delete any row (good or not)
            rid = c.execute(sql.SQL("SELECT id FROM {t} ORDER BY md5(id::text || %s) LIMIT 1").format(t=t),
                            (str(self.rng.random()),)).fetchone()
            if rid and rid[0] not in self.updated and rid[0] not in self.inserted:
                if c.execute(sql.SQL("DELETE FROM {t} WHERE id = %s").format(t=t), (rid[0],)).rowcount:
                    self.deleted[rid[0]] = table
                    if rid[0] in self.good[table]:
                        self.good[table].remove(rid[0])


def test_writes_during_backfill_arrive(legacy_db, tmp_path):
    pfile = write_params(tmp_path, batch_size=100, batch_min_rows=50, batch_pause_ms=25)
    deploy_p1()
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        steps = {s.name: s for s in p2.steps(ctx)}
        for name in BUILD[:BUILD.index("install_sync_triggers") + 1]:
            assert phases.deploy(ctx, [steps[name]])[0].status == "applied"
        with legacy_db.connect() as c:
            tables = [t for t in dynamic_tables(c) if counts(c, t)[0] > 0][:4]
            good = {t: [r[0] for r in c.execute(migratable_rows_sql(t)).fetchall()] for t in tables}
        assert all(len(v) > 100 for v in good.values())
        writer = Writer(legacy_db.url, tables, good, seed=11)
        writer.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        try:
            out = phases.deploy(ctx, [steps["backfill"]])
        finally:
            t1 = time.monotonic()
            writer.stop.set()
            writer.join(60)
        assert not writer.is_alive()
        assert writer.error is None, repr(writer.error)
        assert out[0].status == "applied"
        during = sum(1 for x in writer.op_times if t0 <= x <= t1)
        assert during >= 50, f"only {during} writes overlapped the backfill ({t1 - t0:.2f}s)"
        rest = phases.deploy(ctx, [steps[n] for n in BUILD[BUILD.index("backfill") + 1:]])
        assert [o.status for o in rest] == ["applied"] * len(BUILD[BUILD.index("backfill") + 1:])

    v = validate_now(pfile)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    assert (v.reconciliation["legacy EXCEPT compat"] == 0).all() and (v.reconciliation["compat EXCEPT legacy"] == 0).all()
    assert len(writer.inserted) > 20 and len(writer.updated) > 20 and len(writer.deleted) > 20

    with legacy_db.connect() as c:
        for t in dynamic_tables(c):
            legacy, migrated, quarantined = counts(c, t)
            assert legacy == migrated + quarantined, t
        # deletions: gone from legacy; in audits only soft-deleted; never resurrected or quarantined
        for rid, table in writer.deleted.items():
            assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(table)), (rid,)) == 0
            row = c.execute("SELECT deleted_at FROM public.audits WHERE id = %s", (rid,)).fetchall()
            assert row == [] or row[0][0] is not None, rid
            assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_key = %s",
                       (PHASE, str(rid))) == 0
        # inserts: migrated, live
        for rid, table in writer.inserted.items():
            assert c.execute("SELECT legacy_table, deleted_at IS NULL FROM public.audits WHERE id = %s",
                             (rid,)).fetchone() == (table, True), rid
        # updates: the latest values, normalised in audits and as written in the compat view
        for rid, (table, score, status, email) in writer.updated.items():
            got = c.execute("SELECT a.total_score, a.passing_status, lower(btrim(e.email)), a.deleted_at IS NULL "
                            "FROM public.audits a JOIN public.employees e ON e.id = a.employee_id WHERE a.id = %s",
                            (rid,)).fetchone()
            assert got is not None, rid
            assert (float(got[0]), got[1], got[2], got[3]) == (pytest.approx(score), STATUS_MAP[status.lower()],
                                                               email.strip().lower(), True), rid
            view = ident(p2.compat_view_name(table))
            assert c.execute(sql.SQL("SELECT average_score, passing_status, employee_email FROM {} WHERE id = %s")
                             .format(view), (rid,)).fetchone() == tuple(c.execute(sql.SQL(
                                 "SELECT average_score, passing_status, employee_email FROM {} WHERE id = %s")
                                 .format(ident(table)), (rid,)).fetchone())


def test_backfill_meets_a_row_an_open_transaction_has_just_changed(legacy_db, tmp_path):
    """The application updates a legacy row (its sync trigger writes the audits row) and commits
    while the backfill batch covering that row is running and waiting for it: the batch's
    snapshot predates the trigger's audits row, yet it must not fail (duplicate key) nor
    overwrite the application's newer value."""
    pfile = write_params(tmp_path, batch_size=50, batch_min_rows=10, lock_retries=[[5000, 0.1]])
    deploy_p1()
    page_of = "(ctid::text::point)[0]::int"
    with legacy_db.connect(autocommit=True) as c:
        first = [x for x in dynamic_tables(c) if one(c, sql.SQL("SELECT count(*) FROM {}").format(ident(x)))][0]
        t = ident(first)
        rid, page = c.execute(sql.SQL("SELECT id, {p} FROM {t} WHERE id IN (SELECT id FROM ({good}) g) "
                                      "ORDER BY ctid LIMIT 1").format(p=sql.SQL(page_of), t=t,
                                                                      good=migratable_rows_sql(first))).fetchone()
        # room on the row's page, so the application's update stays on it (a HOT update): the
        # batch covering that page meets the new version, whichever way it walks the table
        c.execute(sql.SQL("DELETE FROM {t} WHERE {p} = %s AND id <> %s").format(t=t, p=sql.SQL(page_of)), (page, rid))
        c.execute(sql.SQL("VACUUM {}").format(t))
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        steps = {s.name: s for s in p2.steps(ctx)}
        phases.deploy(ctx, [steps[n] for n in BUILD[:BUILD.index("install_sync_triggers") + 1]])
        backfill_pid = one(ctx.conn, "SELECT pg_backend_pid()")
        ctx.conn.commit()
        app = legacy_db.connect()
        blocked, finished, poller_error = [], threading.Event(), []
        try:
            app.execute(sql.SQL("UPDATE {} SET average_score = 12.5 WHERE id = %s").format(t), (rid,))
            assert one(app, sql.SQL("SELECT {p} FROM {t} WHERE id = %s").format(p=sql.SQL(page_of), t=t), (rid,)) == page

            def commit_when_blocked():   # commit the moment the backfill waits for the application
                try:
                    with legacy_db.connect(autocommit=True) as mon:
                        while not finished.is_set():
                            if one(mon, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                   (backfill_pid,)):
                                blocked.append(True)
                                break
                            time.sleep(0.005)
                except BaseException as e:  # noqa: BLE001 - asserted by the test
                    poller_error.append(e)
                finally:
                    app.commit()   # whatever happened, the backfill must not wait for ever
            th = threading.Thread(target=commit_when_blocked)
            th.start()
            try:
                out = phases.deploy(ctx, [steps["backfill"]])
            finally:
                finished.set()
                th.join()
        finally:
            app.close()
        assert poller_error == []
        # the race the test is about took place: the batch waited for the application's row
        assert blocked == [True], "the backfill never waited for the application's open transaction"
        assert out[0].status == "applied"
        phases.deploy(ctx, [steps[n] for n in BUILD[BUILD.index("backfill") + 1:]])
    v = validate_now(pfile)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with legacy_db.connect() as c:
        assert float(one(c, "SELECT total_score FROM public.audits WHERE id = %s", (rid,))) == 12.5
        assert one(c, "SELECT count(*) FROM public.audits WHERE id = %s", (rid,)) == 1


def test_legacy_writes_move_rows_between_audits_and_quarantine(legacy_db):
    """After the build, a legacy write that fixes a quarantined row migrates it; one that breaks
    a migrated row quarantines it (whole row, new reason); both keep validation green."""
    deploy_p1()
    deploy_p2()
    with legacy_db.connect(autocommit=True) as c:
        table = max(dynamic_tables(c), key=lambda t: counts(c, t)[0])
        t = ident(table)
        before = counts(c, table)
        fixed = c.execute(migratable_rows_sql(table, but_employee=True)).fetchone()[0]
        assert c.execute("SELECT reason FROM cqms_migration.quarantine WHERE phase = %s AND source_key = %s",
                         (PHASE, str(fixed))).fetchone() == ("unknown_employee_email",)
        bad_email = one(c, sql.SQL("SELECT employee_email FROM {} WHERE id = %s").format(t), (fixed,))
        good_email = one(c, sql.SQL("SELECT e.email FROM public.employees e WHERE e.is_active AND lower(e.email) <> "
                                    "(SELECT lower(btrim(auditor_email)) FROM {} WHERE id = %s) ORDER BY e.email LIMIT 1")
                         .format(t), (fixed,))
        c.execute(sql.SQL("UPDATE {} SET employee_email = %s WHERE id = %s").format(t), (good_email, fixed))
        broken = c.execute(migratable_rows_sql(table)).fetchone()[0]
        c.execute(sql.SQL("UPDATE {} SET passing_status = 'Borderline' WHERE id = %s").format(t), (broken,))

        assert c.execute("SELECT deleted_at IS NULL, legacy_values ->> 'employee_email' FROM public.audits WHERE id = %s",
                         (fixed,)).fetchone() == (True, good_email)
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_key = %s",
                   (PHASE, str(fixed))) == 0
        assert one(c, "SELECT count(*) FROM public.audits WHERE id = %s AND deleted_at IS NULL", (broken,)) == 0
        assert c.execute(sql.SQL("SELECT q.reason, q.original_row = to_jsonb(l) FROM cqms_migration.quarantine q "
                                 "JOIN {} l ON l.id::text = q.source_key WHERE q.phase = %s AND q.source_key = %s")
                         .format(t), (PHASE, str(broken))).fetchone() == ("unmapped_passing_status", True)
        assert counts(c, table) == before   # one in, one out
        assert bad_email != good_email
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)


def test_legacy_update_that_leaves_updated_at_alone_keeps_the_compat_view_identical(legacy_db):
    """The legacy application updates rows without touching updated_at (no legacy trigger sets
    it). The forward sync must carry the legacy updated_at as is, so <table>_compat still
    returns the legacy row exactly and validation stays green."""
    deploy_p1()
    deploy_p2()
    with legacy_db.connect(autocommit=True) as c:
        table = max(dynamic_tables(c), key=lambda t: counts(c, t)[0])
        t, view = ident(table), ident(p2.compat_view_name(table))
        rid = c.execute(migratable_rows_sql(table)).fetchone()[0]
        legacy_updated_at = one(c, sql.SQL("SELECT updated_at FROM {} WHERE id = %s").format(t), (rid,))
        c.execute(sql.SQL("UPDATE {} SET average_score = 66.5 WHERE id = %s").format(t), (rid,))
        assert float(one(c, "SELECT total_score FROM public.audits WHERE id = %s", (rid,))) == 66.5
        assert one(c, "SELECT updated_at FROM public.audits WHERE id = %s", (rid,)) == legacy_updated_at
        assert one(c, sql.SQL("SELECT count(*) FROM (SELECT * FROM {t} WHERE id = %s EXCEPT ALL "
                              "SELECT * FROM {v} WHERE id = %s) x").format(t=t, v=view), (rid, rid)) == 0
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)


# ------------------------------------------------------------------------------------------
# 9. rollback after cutover keeps the writes made through audits
# ------------------------------------------------------------------------------------------

def test_rollback_after_cutover_keeps_writes_made_through_audits(legacy_db):
    deploy_p1()
    out = deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    assert [o.status for o in out] == ["applied"] * len(BUILD + p2.CUTOVER_STEPS)
    new_id = uuid.uuid4()
    with legacy_db.connect(autocommit=True) as c:
        table = max(dynamic_tables(c), key=lambda t: counts(c, t)[0])
        sid = one(c, "SELECT id FROM public.scorecards WHERE table_name = %s", (table,))
        (emp, emp_email), (aud, aud_email) = c.execute(
            "SELECT id, email FROM public.employees WHERE is_active ORDER BY email LIMIT 2").fetchall()
        before_legacy = counts(c, table)[0]
        c.execute("INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date, total_score, "
                  "max_possible_score, passing_status) VALUES (%s, %s, %s, %s, DATE '2025-11-03', 88.5, 100, 'pass')",
                  (new_id, emp, aud, sid))
        upd, gone = [r[0] for r in c.execute(   # two migrated audits, never the new one (a random uuid)
            "SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL AND id <> %s "
            "ORDER BY id LIMIT 2", (table, new_id)).fetchall()]
        c.execute("UPDATE public.audits SET total_score = 61.25 WHERE id = %s", (upd,))
        c.execute("UPDATE public.audits SET deleted_at = now() WHERE id = %s", (gone,))

        # provenance and reverse sync already carried the writes to the legacy table
        assert c.execute("SELECT legacy_table, legacy_id FROM public.audits WHERE id = %s",
                         (new_id,)).fetchone() == (table, str(new_id))
        t = ident(table)
        row = c.execute(sql.SQL("SELECT employee_email, auditor_email, interaction_date::text, average_score, "
                                "passing_status FROM {} WHERE id = %s").format(t), (new_id,)).fetchone()
        assert row is not None
        # written back in the table's own most used spelling of 'pass' (this table's rows hold
        # 'Passed', 'pass' and 'PASS'), the one recorded for it, which reads back as 'pass'
        spelling = one(c, "SELECT spelling FROM cqms_migration.p02_legacy_spellings WHERE legacy_table = %s "
                          "AND vocabulary = 'passing_status' AND value = 'pass'", (table,))
        assert spelling in ("Passed", "pass", "PASS"), spelling
        assert (row[0], row[1], row[2], float(row[3]), row[4]) == (emp_email, aud_email, "2025-11-03", 88.5, spelling)
        assert float(one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(t), (upd,))) == 61.25
        assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(t), (gone,)) == 0
        assert counts(c, table)[0] == before_legacy   # +1 inserted, -1 deleted

    with PhaseContext(PHASE, env="local", action="rollback") as ctx:
        outcomes, checks = rollback.run(ctx, PHASE)
    mine = outcomes[outcomes["phase"] == PHASE]      # later phases, never applied here, are skipped
    assert set(mine["status"]) == {"reverted"} and len(mine) == len(BUILD + p2.CUTOVER_STEPS)
    assert set(outcomes[outcomes["phase"] != PHASE]["status"]) <= {"skipped"}
    # the legacy tables changed since the snapshot (the application wrote): reported, not hidden
    assert not bool(checks[PHASE].set_index("table").loc[table, "identical"])

    with legacy_db.connect() as c:
        t = ident(table)
        assert not exists(c, "public.audits")
        assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s AND average_score = 88.5 "
                              "AND passing_status = %s").format(t), (new_id, spelling)) == 1
        assert float(one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(t), (upd,))) == 61.25
        assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(t), (gone,)) == 0
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02\\_%'") == 0
        assert one(c, "SELECT enabled FROM cqms_migration.feature_flags WHERE flag = 'USE_UNIFIED_AUDITS_TABLE'") is False


# ------------------------------------------------------------------------------------------
# 10. placeholder policy
# ------------------------------------------------------------------------------------------

def _unknown_quarantined(conn) -> int:
    return one(conn, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s "
                     "AND reason IN ('unknown_employee_email', 'unknown_auditor_email')", (PHASE,))


def test_placeholder_policy(legacy_db, tmp_path):
    placeholder = write_params(tmp_path, unknown_email_policy="placeholder")
    deploy_p1()
    with legacy_db.connect() as c:
        employees_before = one(c, "SELECT count(*) FROM public.employees")
        refs = sql.SQL(" UNION ").join(
            sql.SQL("SELECT lower(btrim(employee_email)) FROM {t} WHERE btrim(employee_email) ~* {re} "
                    "UNION SELECT lower(btrim(auditor_email)) FROM {t} WHERE btrim(auditor_email) ~* {re}").format(
                t=ident(t), re=sql.Literal(EMAIL_RE)) for t in dynamic_tables(c))
        expected = {r[0] for r in c.execute(sql.SQL(
            "SELECT ne FROM ({}) r(ne) WHERE NOT EXISTS (SELECT 1 FROM public.employees e "
            "WHERE lower(btrim(e.email)) = r.ne)").format(refs)).fetchall()}
    assert len(expected) > 5

    deploy_p2(params_file=placeholder)
    v = validate_now(placeholder)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with legacy_db.connect() as c:
        rows = c.execute("SELECT lower(btrim(email)), is_active, needs_review FROM public.employees "
                         "WHERE legacy_snapshot ->> 'placeholder_phase' = %s", (PHASE,)).fetchall()
        assert {r[0] for r in rows} == expected
        assert len(rows) == len(expected)               # one per normalised email
        assert all(r[1] is False and r[2] is True for r in rows)
        assert one(c, "SELECT count(*) FROM public.employees") == employees_before + len(expected)
        via_placeholder = one(c, "SELECT count(*) FROM public.audits a JOIN public.employees e "
                                 "ON e.id IN (a.employee_id, a.auditor_id) "
                                 "WHERE e.legacy_snapshot ->> 'placeholder_phase' = %s", (PHASE,))
        assert via_placeholder > 0
        unknown_with_placeholders = _unknown_quarantined(c)
        # what is still quarantined as unknown has an email no placeholder could be made from
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND ("
                      "(reason = 'unknown_employee_email' AND coalesce(btrim(original_row ->> 'employee_email'), '') ~* %s) OR "
                      "(reason = 'unknown_auditor_email' AND coalesce(btrim(original_row ->> 'auditor_email'), '') ~* %s))",
                   (PHASE, EMAIL_RE, EMAIL_RE)) == 0

    with PhaseContext(PHASE, env="local", params_file=placeholder, action="rollback") as ctx:
        assert {o.status for o in phases.revert(ctx, p2.steps(ctx))} == {"reverted", "skipped"}
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM public.employees WHERE legacy_snapshot ->> 'placeholder_phase' = %s",
                   (PHASE,)) == 0
        assert one(c, "SELECT count(*) FROM public.employees") == employees_before

    deploy_p2()   # the default policy: quarantine
    v = validate_now()
    assert v.ok
    with legacy_db.connect() as c:
        unknown_quarantine_policy = _unknown_quarantined(c)
        assert one(c, "SELECT count(*) FROM public.employees") == employees_before
    assert unknown_with_placeholders < unknown_quarantine_policy

    # preflight's forecast under the placeholder policy is what that policy quarantines
    from cqms_migrate import inventory, outcome
    from cqms_migrate.params import load_params
    with legacy_db.connect() as c:
        fc = outcome.forecast_audits(c, inventory.discover(c).migratable(), load_params("local", placeholder))
    assert int(fc.loc[fc["reason"].isin(["unknown_employee_email", "unknown_auditor_email"]), "rows"].sum()) \
        == unknown_with_placeholders, fc
    # the policy changed to placeholder after phase 02 ran: a re-run brings back the rows it
    # addresses (their emails become placeholders), as a rollback and a new run would
    again = deploy_p2(params_file=placeholder)
    assert [o.step for o in again if o.status != "skipped"] == ["load_value_maps"], again
    assert validate_now(placeholder).ok
    with legacy_db.connect() as c:
        assert _unknown_quarantined(c) == unknown_with_placeholders
        assert {r[0] for r in c.execute("SELECT lower(btrim(email)) FROM public.employees WHERE "
                                        "legacy_snapshot ->> 'placeholder_phase' = %s", (PHASE,)).fetchall()} == expected
        # every row retried came back or was quarantined again for what it still lacks (two
        # unknown emails alike are one placeholder auditing itself: a self audit)
        retried, came_back, again = c.execute(
            "SELECT (value ->> 'retried')::int, (value ->> 'migrated')::int, (value ->> 'quarantined again')::int "
            "FROM cqms_migration.metrics WHERE name = 'requeued' ORDER BY id DESC LIMIT 1").fetchone()
        assert retried == unknown_quarantine_policy - unknown_with_placeholders == came_back + again and came_back > again


def test_writes_made_by_application_triggers_are_synced_both_ways(legacy_db):
    """The echo guard stops only the runbook's own echo of a row (a transaction-local marker),
    not every nested trigger: an application trigger that writes a legacy table reaches audits,
    and after cutover one that writes audits reaches the legacy table."""
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        table = "chat_audit"
        a_id, b_id = [r[0] for r in c.execute(sql.SQL("SELECT l.id FROM {} l JOIN public.audits a ON a.id = l.id "
                                                      "WHERE a.deleted_at IS NULL ORDER BY l.id LIMIT 2")
                                              .format(ident(table))).fetchall()]
        c.execute("CREATE TABLE public.app_events (audit_id uuid, score numeric, via text)")
        c.execute(sql.SQL("""CREATE FUNCTION public.app_event_applies() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.via = 'legacy' THEN
                UPDATE public.{t} SET average_score = NEW.score WHERE id = NEW.audit_id;
              ELSE
                UPDATE public.audits SET total_score = NEW.score WHERE id = NEW.audit_id;
              END IF;
              RETURN NEW;
            END $$""").format(t=sql.Identifier(table)))
        c.execute("CREATE TRIGGER app_event_applies AFTER INSERT ON public.app_events FOR EACH ROW "
                  "EXECUTE FUNCTION public.app_event_applies()")
        version = "SELECT version FROM public.audits WHERE id = %s"
        a_version, b_version = one(c, version, (a_id,)), one(c, version, (b_id,))
        # a trigger (depth 1) writes the legacy table, whose sync trigger runs at depth 2
        c.execute("INSERT INTO public.app_events VALUES (%s, 41.5, 'legacy')", (a_id,))
        assert float(one(c, "SELECT total_score FROM public.audits WHERE id = %s", (a_id,))) == 41.5
        # after cutover, a trigger writes audits, whose reverse sync runs at depth 2
        c.execute("INSERT INTO public.app_events VALUES (%s, 42.5, 'audits')", (b_id,))
        assert float(one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(table)), (b_id,))) == 42.5
        # and no echo: each write was applied once (one version bump each; an echo bumps twice)
        assert (one(c, version, (a_id,)), one(c, version, (b_id,))) == (a_version + 1, b_version + 1)
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
