"""The batch engine (issue 7): adaptive sizes, health checks that throttle, a statement timeout
that splits a batch, checkpoints that stay consistent on resume."""

from __future__ import annotations

import threading
import time

import pytest
from psycopg import sql

from cqms_migrate import phases
from cqms_migrate.batching import BatchResult, Engine, Tuning
from cqms_migrate.context import PhaseContext
from cqms_migrate.params import HealthParams
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import PHASE, counts, deploy_p1, ident, one, write_params
from helpers import wait_until_waiting


def tuning(**kw) -> Tuning:
    base = dict(initial_rows=1000, min_rows=100, max_rows=10_000, target_seconds=0.5, pause_seconds=0,
                statement_timeout_s=60, health=HealthParams(), lock_retries=[(100, 0.0)])
    base.update(kw)
    return Tuning(**base)




def test_next_size_moves_toward_the_target_within_bounds():
    e = Engine.__new__(Engine)
    e.tuning = tuning()
    # 1000 rows in 0.1 s: 10k rows/s -> 5000 ideal, but at most x1.5 per batch
    assert e.next_size(1000, BatchResult(1000), 0.1) == 1500
    # 1000 rows in 2 s: 500 rows/s -> 250 ideal, at most halved
    assert e.next_size(1000, BatchResult(1000), 2.0) == 500
    # close to the target: follow it
    assert e.next_size(1000, BatchResult(1000), 0.45) == 1111
    # bounds
    assert e.next_size(9000, BatchResult(9000), 0.01) == 10_000
    assert e.next_size(120, BatchResult(120), 10.0) == 100
    # an empty range says nothing about the rate: keep the size
    assert e.next_size(1000, BatchResult(0), 0.2) == 1000


def _prepare(pfile=None):
    deploy_p1()
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in ("snapshot_legacy", "create_audits",
                                                                     "install_sync_triggers")])


def _biggest(ctx):
    return max(p2.migratable(ctx), key=lambda t: t.row_count)


def test_sizes_adapt_and_checkpoints_stay_consistent_on_resume(legacy_db, tmp_path):
    pfile = write_params(tmp_path, batch_size=20, batch_min_rows=10, batch_max_rows=5000, batch_target_ms=200)
    _prepare(pfile)
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        job = p2.HeapPageBackfill(ctx, t)
        engine = Engine(ctx)
        # stop after 4 batches, as a crash would
        original = job.run_batch
        calls = []

        def limited(conn, position, rows):
            if len(calls) == 4:
                raise KeyboardInterrupt
            calls.append(rows)
            return original(conn, position, rows)
        job.run_batch = limited
        with pytest.raises(KeyboardInterrupt):
            engine.run(job)
        saved = ctx.ledger.checkpoint(job.name)
        assert saved.batches_done == 4 and not saved.finished
        # tiny first batches of a fast statement: the size grows, by at most x1.5 each time
        assert calls[0] == 20 and all(b <= a * 1.5 + 1 for a, b in zip(calls, calls[1:])) and calls[-1] > 20
        assert saved.next_rows > calls[-1]
        assert saved.position["page"] <= saved.position["end_page"]

        # resume: starts with the tuned size, ends exactly at end_page, every row once
        resumed = p2.HeapPageBackfill(ctx, t)
        first_sizes = []
        orig2 = resumed.run_batch

        def spy(conn, position, rows):
            first_sizes.append(rows)
            return orig2(conn, position, rows)
        resumed.run_batch = spy
        report = Engine(ctx).run(resumed)
        assert first_sizes[0] == saved.next_rows
        final = ctx.ledger.checkpoint(job.name)
        assert final.finished and final.position["page"] == final.position["end_page"]
        assert final.rows_done == t.row_count == saved.rows_done + report.rows_read
        batches = ctx.ledger.batches(PHASE)
        assert len(batches) == final.batches_done
        assert (batches["rows_read"].sum()) == t.row_count
        decisions = ctx.ledger.decisions(PHASE)
        assert "resize" in set(decisions["decision"])
    with legacy_db.connect() as c:
        legacy, migrated, quarantined = counts(c, t.table_name)
        assert legacy == migrated + quarantined


def test_a_statement_timeout_splits_the_batch_and_the_job_completes(legacy_db, tmp_path, monkeypatch):
    pfile = write_params(tmp_path, batch_size=400, batch_min_rows=10)
    _prepare(pfile)
    monkeypatch.setenv("CQMS_FAULTS", "timeout_batch=2")   # the 2nd batch of this process gets 1 ms
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        report = Engine(ctx).run(p2.HeapPageBackfill(ctx, t))
        assert any(d.startswith("split: statement timeout") for d in report.decisions), report.decisions
        decisions = ctx.ledger.decisions(PHASE)
        split = decisions[decisions["decision"] == "split"]
        assert len(split) == 1 and split["detail"].iloc[0]["to"] == split["detail"].iloc[0]["from"] // 2
        assert ctx.ledger.checkpoint(f"p02_backfill:{t.table_name}").finished
    with legacy_db.connect() as c:
        legacy, migrated, quarantined = counts(c, t.table_name)
        assert legacy == migrated + quarantined == report.rows_read


def _holder(url, statements, hold_s, ready: threading.Event, pid: list | None = None):
    import psycopg
    with psycopg.connect(url) as c:
        if pid is not None:
            pid.append(c.info.backend_pid)
        for s in statements:
            c.execute(s)
        ready.set()
        time.sleep(hold_s)
        c.rollback()


def test_maintenance_on_the_table_throttles_the_backfill(legacy_db, tmp_path):
    """VACUUM/autovacuum hold ShareUpdateExclusiveLock on the table they work on: the engine waits
    while it is held (and records why), then goes on."""
    pfile = write_params(tmp_path, batch_size=200, batch_min_rows=10,
                         health={"maintenance": True, "lock_waits": True, "max_replication_lag_s": 30,
                                 "recheck_ms": 100, "max_wait_s": 30})
    _prepare(pfile)
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        ready = threading.Event()
        lock = sql.SQL("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE").format(ident(t.table_name)).as_string(ctx.conn)
        th = threading.Thread(target=_holder, args=(legacy_db.url, [lock], 1.5, ready))
        th.start()
        ready.wait(10)
        t0 = time.monotonic()
        report = Engine(ctx).run(p2.HeapPageBackfill(ctx, t))
        th.join()
        assert report.throttled_seconds >= 1.0 and time.monotonic() - t0 >= 1.0
        d = ctx.ledger.decisions(PHASE)
        throttles = d[d["decision"] == "throttle"]
        assert len(throttles) == 1, d
        assert f"is working on public.{t.table_name}" in throttles["reason"].iloc[0]
        assert ctx.ledger.checkpoint(f"p02_backfill:{t.table_name}").finished


def test_sessions_waiting_for_locks_throttle_and_shrink_the_batch_then_max_wait_goes_on(legacy_db, tmp_path):
    pfile = write_params(tmp_path, batch_size=400, batch_min_rows=10,
                         health={"maintenance": True, "lock_waits": True, "lock_wait_ms": 0,
                                 "max_replication_lag_s": 30, "recheck_ms": 100, "max_wait_s": 0.5})
    _prepare(pfile)
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        rid = one(ctx.conn, sql.SQL("SELECT id FROM {} LIMIT 1").format(ident(t.table_name)))
        ctx.conn.commit()
        row_lock = sql.SQL("SELECT 1 FROM {} WHERE id = {} FOR UPDATE").format(
            ident(t.table_name), sql.Literal(rid)).as_string(ctx.conn)
        update = sql.SQL("UPDATE {} SET average_score = average_score WHERE id = {}").format(
            ident(t.table_name), sql.Literal(rid)).as_string(ctx.conn)
        ready, ready2 = threading.Event(), threading.Event()
        holder = threading.Thread(target=_holder, args=(legacy_db.url, [row_lock], 3.0, ready))
        holder.start()
        ready.wait(10)
        waiter_pid: list = []
        waiter = threading.Thread(target=_holder, args=(legacy_db.url, ["SET lock_timeout = '10s'", update], 0, ready2,
                                                        waiter_pid))
        waiter.start()
        with legacy_db.connect(autocommit=True) as mon:   # the waiter now waits for the row lock
            deadline = time.monotonic() + 10
            while not waiter_pid and time.monotonic() < deadline:
                time.sleep(0.01)
            assert waiter_pid, "the waiter did not connect within 10 s"
            wait_until_waiting(mon, waiter_pid[0])
        report = Engine(ctx).run(p2.HeapPageBackfill(ctx, t))
        holder.join()
        waiter.join()
        d = ctx.ledger.decisions(PHASE)
        kinds = list(d["decision"])
        assert "throttle" in kinds and "proceed" in kinds, d
        throttle = d[d["decision"] == "throttle"].iloc[0]
        assert "wait for a lock" in throttle["reason"] and t.table_name in throttle["reason"]
        shrink = d[(d["decision"] == "resize") & d["reason"].str.startswith("sessions wait")]
        assert len(shrink) >= 1 and shrink["detail"].iloc[0]["to"] == 200
        assert report.rows_read == t.row_count


def test_a_table_rewritten_mid_job_restarts_from_page_zero_and_loses_nothing(legacy_db, tmp_path):
    """VACUUM FULL between two batches moves every row: the next batch sees the new relfilenode,
    is rolled back, and the job starts over from page 0 (found by an independent attack)."""
    pfile = write_params(tmp_path, batch_size=40, batch_min_rows=10, batch_max_rows=60)
    _prepare(pfile)
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        with legacy_db.connect(autocommit=True) as c:   # holes at the start: the rewrite moves rows
            c.execute(sql.SQL("DELETE FROM {} WHERE id IN (SELECT id FROM {} ORDER BY ctid LIMIT 100)")
                      .format(ident(t.table_name), ident(t.table_name)))
        job = p2.HeapPageBackfill(ctx, t)
        original, seen = job.run_batch, []

        def rewrite_after_two(conn, position, rows):
            if len(seen) == 2:
                with legacy_db.connect(autocommit=True) as c:
                    c.execute(sql.SQL("VACUUM FULL {}").format(ident(t.table_name)))
            seen.append(position["page"])
            return original(conn, position, rows)
        job.run_batch = rewrite_after_two
        Engine(ctx).run(job)
        d = ctx.ledger.decisions(PHASE)
        assert "restart" in set(d["decision"]), d
        assert "was rewritten" in d[d["decision"] == "restart"]["reason"].iloc[0]
        final = ctx.ledger.checkpoint(job.name)
        assert final.finished and final.position["page"] == final.position["end_page"]
    with legacy_db.connect() as c:
        legacy, migrated, quarantined = counts(c, t.table_name)
        assert legacy == migrated + quarantined, (legacy, migrated, quarantined)


def test_an_application_transaction_holding_rows_makes_the_batch_wait_not_fail(legacy_db, tmp_path):
    pfile = write_params(tmp_path, batch_size=400, batch_min_rows=10, lock_retries=[[100, 0.05]],
                         health={"maintenance": True, "lock_waits": False, "lock_wait_ms": 1000,
                                 "max_replication_lag_s": 30, "recheck_ms": 200, "max_wait_s": 5})
    _prepare(pfile)
    with PhaseContext(PHASE, env="local", params_file=pfile) as ctx:
        t = _biggest(ctx)
        rid = one(ctx.conn, sql.SQL("SELECT id FROM {} ORDER BY ctid LIMIT 1").format(ident(t.table_name)))
        ctx.conn.commit()
        update = sql.SQL("UPDATE {} SET average_score = average_score WHERE id = {}").format(
            ident(t.table_name), sql.Literal(rid)).as_string(ctx.conn)
        ready = threading.Event()
        app = threading.Thread(target=_holder, args=(legacy_db.url, [update], 2.0, ready))   # its trigger claims the row
        app.start()
        ready.wait(10)
        report = Engine(ctx).run(p2.HeapPageBackfill(ctx, t))
        app.join()
        d = ctx.ledger.decisions(PHASE)
        assert "wait" in set(d["decision"]), d
        assert report.rows_read == t.row_count
    with legacy_db.connect() as c:
        legacy, migrated, quarantined = counts(c, t.table_name)
        assert legacy == migrated + quarantined


def test_rows_without_an_id_are_quarantined_by_backfill_and_trigger(legacy_db, tmp_path):
    """A legacy table without a primary key may hold rows with a NULL id: they cannot be migrated,
    so they are quarantined (reason null_id) — by the backfill, and by the sync trigger for the
    application's new ones, whose writes keep working."""
    with legacy_db.connect(autocommit=True) as c:
        c.execute("CREATE TABLE public.noid_audit (LIKE public.chat_audit)")   # no primary key
        c.execute("ALTER TABLE public.noid_audit ALTER COLUMN id DROP NOT NULL")
        c.execute("INSERT INTO public.noid_audit SELECT * FROM public.chat_audit ORDER BY id LIMIT 30")
        c.execute("INSERT INTO public.noid_audit SELECT * FROM public.chat_audit ORDER BY id OFFSET 30 LIMIT 3")
        c.execute("UPDATE public.noid_audit SET id = NULL WHERE id IN (SELECT id FROM public.noid_audit ORDER BY id "
                  "DESC LIMIT 3)")
        c.execute("UPDATE public.noid_audit SET id = gen_random_uuid() WHERE id IS NOT NULL")
        c.execute("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version, "
                  "allow_over_100) SELECT gen_random_uuid(), 'No key', 'noid_audit', 80, true, 1, allow_over_100 "
                  "FROM public.scorecards WHERE table_name = 'chat_audit'")
    deploy_p1()
    with PhaseContext(PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in p2.BUILD_STEPS])
    with legacy_db.connect(autocommit=True) as c:
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE source_table = 'noid_audit' "
                      "AND reason = 'null_id'") == 3
        c.execute("INSERT INTO public.noid_audit (id, employee_email, auditor_email) VALUES (NULL, 'x@y.io', 'z@y.io')")
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE source_table = 'noid_audit' "
                      "AND reason = 'null_id'") == 4
        c.execute("DELETE FROM public.noid_audit WHERE id IS NULL AND employee_email = 'x@y.io'")
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE source_table = 'noid_audit' "
                      "AND reason = 'null_id'") == 3
    with PhaseContext(PHASE, env="local") as ctx:
        v = p2.validate(ctx.conn, p2.migratable(ctx))
    assert bool(v.reconciliation.loc["noid_audit", "reconciles"]), v.reconciliation
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
