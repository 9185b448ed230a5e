"""The batch engine every backfill runs on: GitLab's batched background migrations, in small.

A :class:`Job` knows its data (where it is, how to run one batch of about N rows from a
position); the :class:`Engine` decides everything else and writes it down:

* one transaction per batch, holding the batch's writes, the job's new checkpoint and the
  batch's log row: a crash leaves a batch wholly done or not at all, and a re-run resumes at
  the checkpoint (with the batch size the engine had tuned itself to);
* adaptive size: the next batch is sized toward ``batch_target_ms`` from the rows/s the last
  one achieved, moving at most x0.5..x1.5 per batch, within [batch_min_rows, batch_max_rows];
  a batch that hits ``batch_statement_timeout_s`` is rolled back, halved and retried;
* between batches: ``batch_pause_ms``, then a health check (:mod:`health`) that waits while
  maintenance works on the job's tables, sessions wait for locks on them (and halves the next
  batch), or replication lags, up to ``health.max_wait_s``;
* every decision (resize, throttle, split, restart) in ``cqms_migration.batch_decisions``.

Progress reporting and fault injection are hooks: :class:`Progress` and :mod:`faults`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import psycopg
from psycopg import errors

from . import faults, health
from .errors import LockTimeoutExhausted, StepError
from .locks import with_lock_retries

if TYPE_CHECKING:  # pragma: no cover
    from .context import PhaseContext

MAX_GROWTH, MAX_SHRINK = 1.5, 0.5
RESIZE_LOGGED_AT = 0.25     # a size change of 25% or more is also recorded as a decision
MAX_TIMEOUT_SPLITS = 6      # consecutive statement timeouts before the job gives up


@dataclass(frozen=True)
class Tuning:
    initial_rows: int
    min_rows: int
    max_rows: int
    target_seconds: float
    pause_seconds: float
    statement_timeout_s: int
    health: object                 # params.HealthParams
    lock_retries: list
    lock_wait_max_s: float = 600.0

    @classmethod
    def from_params(cls, p) -> "Tuning":
        return cls(p.batch_size, p.batch_min_rows, p.batch_max_rows, p.batch_target_ms / 1000,
                   p.batch_pause_ms / 1000, p.batch_statement_timeout_s, p.health, p.lock_retries,
                   p.batch_lock_wait_max_s)

    def clamp(self, rows: float) -> int:
        return int(max(self.min_rows, min(self.max_rows, rows)))


class RestartJob(Exception):
    """Raised by a job's batch when its position no longer holds (the table was rewritten): the
    batch is rolled back and the job goes on from ``position``."""

    def __init__(self, position: dict, reason: str):
        super().__init__(reason)
        self.position, self.reason = position, reason


@dataclass
class BatchResult:
    rows_read: int
    rows_written: int = 0
    rows_quarantined: int = 0


class Job(Protocol):
    """One resumable batched job (e.g. the backfill of one legacy table)."""

    name: str            # its checkpoint key, e.g. 'p02_backfill:chat_audit'
    phase: str
    total_rows: int      # an estimate, for progress
    watched: list[str]   # qualified relations the health check watches

    def resume(self, conn: psycopg.Connection, position: dict | None) -> tuple[dict, str | None]:
        """The position to start from (a fresh one when ``position`` is None), and the reason
        when a saved position cannot be used (the job restarts)."""

    def is_done(self, position: dict) -> bool: ...

    def run_batch(self, conn: psycopg.Connection, position: dict, rows: int) -> tuple[BatchResult, dict]:
        """Run one batch of about ``rows`` rows from ``position`` inside the open transaction;
        return what it did and the position after it."""


class Progress(Protocol):
    def start(self, job: Job, rows_done: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def close(self) -> None: ...


@dataclass
class JobReport:
    job: str
    skipped: bool = False
    batches: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    throttled_seconds: float = 0.0
    decisions: list[str] = field(default_factory=list)


class Engine:
    def __init__(self, ctx: "PhaseContext", tuning: Tuning | None = None, progress: Progress | None = None):
        self.ctx = ctx
        self.tuning = tuning or Tuning.from_params(ctx.params)
        self.progress = progress
        self._batches_in_process = 0
        self._attempts_in_process = 0   # batch attempts, retries included (fault injection counts these)
        self._tuned_rows: int | None = None   # carried from one job to the next of this engine

    # -- decisions -----------------------------------------------------------------------
    def _decide(self, job: Job, report: JobReport, batch: int | None, decision: str, reason: str,
                detail: dict | None = None, conn=None) -> None:
        report.decisions.append(f"{decision}: {reason}")
        self.ctx.ledger.log_decision(phase=job.phase, job=job.name, batch=batch, decision=decision, reason=reason,
                                     detail=detail, conn=conn)
        self.ctx.log(f"{job.name}: {decision} ({reason})")

    def next_size(self, rows: int, result: BatchResult, seconds: float) -> int:
        """Toward the target duration from the rows/s this batch achieved, within bounds."""
        if result.rows_read <= 0 or seconds <= 0:
            return self.tuning.clamp(rows)
        ideal = result.rows_read / seconds * self.tuning.target_seconds
        return self.tuning.clamp(min(max(ideal, rows * MAX_SHRINK), rows * MAX_GROWTH))

    # -- between batches ---------------------------------------------------------------------
    def _wait_until_healthy(self, job: Job, report: JobReport, batch: int, rows: int) -> int:
        """Wait while a health signal is on (up to max_wait_s); return the next batch size."""
        policy = self.tuning.health
        conn = self.ctx.conn
        started = time.monotonic()
        episode: set[str] = set()
        while True:
            found = health.signals(conn, job.watched, policy)
            if not found:
                break
            new = {s.kind for s in found} - episode
            if new:
                episode |= new
                self._decide(job, report, batch, "throttle", "; ".join(s.message for s in found),
                             {"signals": [s.kind for s in found], "rows": rows})
                if "lock_waits" in new:
                    smaller = self.tuning.clamp(rows * MAX_SHRINK)
                    if smaller < rows:
                        self._decide(job, report, batch, "resize", f"sessions wait for locks: {rows} -> {smaller} rows",
                                     {"from": rows, "to": smaller})
                        rows = smaller
            waited = time.monotonic() - started
            if waited >= policy.max_wait_s:
                self._decide(job, report, batch, "proceed",
                             f"still busy after {waited:.0f}s (health.max_wait_s): going on",
                             {"signals": [s.kind for s in found]})
                break
            time.sleep(policy.recheck_ms / 1000)
        report.throttled_seconds += time.monotonic() - started if episode else 0.0
        return rows

    # -- the loop ------------------------------------------------------------------------------
    def run(self, job: Job) -> JobReport:
        ctx, tuning = self.ctx, self.tuning
        report = JobReport(job.name)
        saved = ctx.ledger.checkpoint(job.name)
        if saved and saved.finished:
            ctx.log(f"{job.name}: already complete ({saved.rows_done} rows), skipping")
            report.skipped = True
            return report
        position, restart_reason = job.resume(ctx.conn, saved.position if saved else None)
        if restart_reason:
            self._decide(job, report, None, "restart", restart_reason)
        rows = tuning.clamp(saved.next_rows if saved and saved.next_rows else
                            self._tuned_rows or tuning.initial_rows)
        batch = saved.batches_done if saved else 0
        rows_done = saved.rows_done if saved else 0
        if saved and saved.position and not restart_reason:
            ctx.log(f"{job.name}: resuming after batch {batch} ({rows_done} rows done, next batch {rows} rows)")
        if self.progress:
            self.progress.start(job, rows_done)
        t_job = time.monotonic()
        timeouts = 0
        lock_waited = 0.0
        try:
            if job.is_done(position):   # nothing (left) to do: record it finished
                self._commit(job, position, position, rows, rows, batch, BatchResult(0), 0.0, log=False)
            while not job.is_done(position):
                rows = self._wait_until_healthy(job, report, batch + 1, rows)
                try:
                    result, new_position, secs, next_rows = self._one_batch(job, position, rows, batch + 1)
                except RestartJob as r:
                    self._decide(job, report, batch + 1, "restart", r.reason)
                    position = r.position
                    continue
                except LockTimeoutExhausted as e:
                    # the batch waited for rows the application holds (a long transaction): wait
                    # and try again, smaller, rather than stop the phase — up to batch_lock_wait_max_s
                    if lock_waited == 0:
                        self._decide(job, report, batch + 1, "wait", "the batch could not get its row locks "
                                     f"({str(e).split(':')[0]}); waiting for the application's transactions")
                    lock_waited += tuning.health.recheck_ms / 1000 + sum(s for _, s in tuning.lock_retries)
                    if lock_waited > tuning.lock_wait_max_s:
                        raise
                    time.sleep(tuning.health.recheck_ms / 1000)
                    rows = tuning.clamp(rows * MAX_SHRINK)
                    continue
                except errors.QueryCanceled as e:
                    timeouts += 1
                    if rows <= tuning.min_rows or timeouts > MAX_TIMEOUT_SPLITS:
                        raise StepError(
                            f"{job.name}: batch {batch + 1} of {rows} rows was cancelled "
                            f"({str(e).strip().splitlines()[0]}) {timeouts} time(s) and cannot be split further; "
                            "raise batch_statement_timeout_s or look for what blocks it") from None
                    smaller = tuning.clamp(rows * MAX_SHRINK)
                    self._decide(job, report, batch + 1, "split",
                                 f"statement timeout after {tuning.statement_timeout_s}s: {rows} -> {smaller} rows",
                                 {"from": rows, "to": smaller})
                    rows = smaller
                    continue
                timeouts = lock_waited = 0
                batch += 1
                self._batches_in_process += 1
                report.batches += 1
                report.rows_read += result.rows_read
                report.rows_written += result.rows_written
                report.rows_quarantined += result.rows_quarantined
                if self.progress:
                    self.progress.advance(result.rows_read)
                if abs(next_rows - rows) >= RESIZE_LOGGED_AT * rows and not job.is_done(new_position):
                    self._decide(job, report, batch, "resize",
                                 f"{result.rows_read} rows took {secs * 1000:.0f} ms (target "
                                 f"{tuning.target_seconds * 1000:.0f} ms): next batch {next_rows} rows",
                                 {"from": rows, "to": next_rows, "seconds": round(secs, 4)})
                position, rows = new_position, next_rows
                if result.rows_read >= tuning.min_rows:   # a full batch: its size carries to the next job
                    self._tuned_rows = next_rows
                faults.point("crash_after_batch", self._batches_in_process)
                if tuning.pause_seconds and not job.is_done(position):
                    time.sleep(tuning.pause_seconds)
        finally:
            if self.progress:
                self.progress.close()
        report.seconds = time.monotonic() - t_job
        return report

    def _one_batch(self, job: Job, position: dict, rows: int, batch: int):
        ctx, tuning = self.ctx, self.tuning
        self._attempts_in_process += 1
        timeout_ms = 1 if faults.point("timeout_batch", self._attempts_in_process) else \
            tuning.statement_timeout_s * 1000
        out = {}

        def work(conn):
            conn.execute("SELECT set_config('cqms.run_id', %s, true), set_config('statement_timeout', %s, true)",
                         (ctx.run_id, f"{timeout_ms}ms"))
            t0 = time.perf_counter()
            result, new_position = job.run_batch(conn, position, rows)
            secs = time.perf_counter() - t0
            next_rows = self.next_size(rows, result, secs)
            self._commit(job, position, new_position, rows, next_rows, batch, result, secs, conn=conn)
            # the batch's writes and its checkpoint are in, not yet committed: a crash here loses both
            faults.point("crash_before_commit", self._batches_in_process + 1)
            out.update(result=result, position=new_position, secs=secs, next_rows=next_rows)

        with_lock_retries(ctx.conn, work, attempts=tuning.lock_retries, statement_timeout_s=tuning.statement_timeout_s,
                          what=f"batch {batch} of {job.name}", log=ctx.log)
        return out["result"], out["position"], out["secs"], out["next_rows"]

    def _commit(self, job: Job, position: dict, new_position: dict, rows: int, next_rows: int, batch: int,
                result: BatchResult, secs: float, conn=None, log: bool = True) -> None:
        """Checkpoint (and log) a batch inside its transaction; without ``conn``, in a new one."""
        ledger = self.ctx.ledger

        def write(c):
            ledger.save_checkpoint(c, job=job.name, phase=job.phase, position=new_position, rows=result.rows_read,
                                   batches=1 if log else 0, finished=job.is_done(new_position), next_rows=next_rows)
            if log:
                ledger.log_batch(c, phase=job.phase, job=job.name, batch=batch, position_from=position,
                                 position_to=new_position, target_rows=rows, rows_read=result.rows_read,
                                 rows_written=result.rows_written, rows_quarantined=result.rows_quarantined,
                                 seconds=secs, next_rows=next_rows)

        if conn is not None:
            write(conn)
        else:
            with_lock_retries(self.ctx.conn, write, attempts=self.tuning.lock_retries,
                              statement_timeout_s=self.tuning.statement_timeout_s, what=f"checkpoint {job.name}")


class BarProgress:
    """A progress bar per job (progress.Bar: in place in a notebook, one clean final line saved)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def start(self, job: Job, rows_done: int) -> None:
        from .progress import Bar
        self.bar = Bar(job.total_rows, job.name.split(":")[-1], unit="rows", initial=rows_done, enabled=self.enabled)

    def advance(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.update(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- jobs over a table's heap pages ---------------------------------------------------------------
def tid(page: int):
    """The TID literal that starts ``page`` (a batch is the rows with from <= ctid < to)."""
    from psycopg import sql
    return sql.Literal(f"({int(page)},0)")


def heap_state(conn: psycopg.Connection, table: str) -> tuple[int, int, float, float]:
    """(relfilenode, pages now, live rows per page from the statistics or the first pages, and
    the table's average density: the floor for the rows-per-page estimate) of public.<table>."""
    from psycopg import sql

    from .db import end_read
    ident = sql.Identifier("public", table)
    row = conn.execute(
        "SELECT c.relfilenode, pg_relation_size(c.oid) / current_setting('block_size')::int, "
        "CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages END "
        "FROM pg_class c WHERE c.oid = %s::regclass", (ident.as_string(conn),)).fetchone()
    relfilenode, pages, per_page = int(row[0]), int(row[1]), row[2]
    if per_page is None and pages:
        sample = min(pages, 16)
        n = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE ctid < {}::tid").format(ident, tid(sample))).fetchone()[0]
        per_page = n / sample if n else None
    end_read(conn)
    per_page = float(per_page or 40.0)
    return relfilenode, pages, per_page, per_page


class HeapPageJob:
    """A batching.Job over one table of public in ranges of heap pages (TID range scans read the
    table sequentially, so a row costs the same at page 10 as at page 10 million). Position:
    {page, end_page, relfilenode, rows_per_page}. Pages at or after end_page were written after
    the phase's sync triggers existed, which synced their rows. A table rewritten under the job
    (VACUUM FULL, CLUSTER, pg_repack) starts over from page 0.

    Subclasses implement ``statements(from_page, to_page)`` (what one batch runs, for the plan
    and for run_pages) and ``run_pages(conn, from_page, to_page, position)`` (runs them, calling
    ``check_rewritten`` once a statement holds a lock on the table; returns a BatchResult)."""

    settings: tuple[str, ...] = ()

    def __init__(self, conn: psycopg.Connection, table: str, name: str, phase: str, total_rows: int, record=None):
        from psycopg import sql

        from .steps import compose
        self.table, self.name, self.phase, self.total_rows = table, name, phase, total_rows
        # record(conn, statement) -> its text: the step's Step.record (the batch's statements go
        # to the ledger in the batch's transaction); standalone (bench, tests) nothing is recorded
        self.record = record or (lambda c, stmt: compose(c, stmt))
        self.watched = [sql.Identifier("public", table).as_string(conn)]
        self.relfilenode, self.end_page, self.rows_per_page, self.density_floor = heap_state(conn, table)

    def statements(self, from_page: int, to_page: int) -> list:
        raise NotImplementedError

    def run_pages(self, conn: psycopg.Connection, from_page: int, to_page: int, position: dict) -> BatchResult:
        raise NotImplementedError

    def first_window(self, rows: int) -> tuple[int, int]:
        return 0, min(self.end_page, max(1, round(rows / self.rows_per_page)))

    def resume(self, conn, position):
        if position and position.get("relfilenode") != self.relfilenode:
            return self._fresh(), self._rewritten(position.get("relfilenode"), self.relfilenode)
        return (dict(position) if position else self._fresh()), None

    def _rewritten(self, old, new) -> str:
        # physical positions changed: start over (rows already done are skipped by the job's own rule)
        return f"public.{self.table} was rewritten (relfilenode {old} -> {new}): from page 0"

    def _fresh(self) -> dict:
        return {"page": 0, "end_page": self.end_page, "relfilenode": self.relfilenode,
                "rows_per_page": round(self.rows_per_page, 3)}

    def is_done(self, position: dict) -> bool:
        return position["page"] >= position["end_page"]

    def check_rewritten(self, conn: psycopg.Connection, position: dict) -> None:
        """Called while the batch holds a lock on the table: if it was rewritten since the position
        was taken, this batch's pages are not the position's pages: roll back and start over."""
        now = conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", (self.watched[0],)).fetchone()[0]
        if now != position.get("relfilenode"):
            self.relfilenode, self.end_page, self.rows_per_page, self.density_floor = heap_state(conn, self.table)
            raise RestartJob(self._fresh(), self._rewritten(position.get("relfilenode"), now))

    def run_batch(self, conn: psycopg.Connection, position: dict, rows: int):
        page, end = position["page"], position["end_page"]
        # the density estimate never goes below the table's average, so a dense stretch after a
        # sparse one cannot make a batch several times its target
        per_page = max(position.get("rows_per_page") or self.rows_per_page, self.density_floor, 0.01)
        to_page = min(end, page + max(1, round(rows / per_page)))
        for setting in self.settings:
            conn.execute(setting)
        result = self.run_pages(conn, page, to_page, position)
        if result.rows_read:  # the density seen, smoothed: the next range of pages aims at the next size
            per_page = 0.5 * per_page + 0.5 * result.rows_read / (to_page - page)
        return result, {**position, "page": to_page, "rows_per_page": round(per_page, 3)}
