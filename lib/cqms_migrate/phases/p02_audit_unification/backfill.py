"""The backfill: every legacy table in batches of heap pages on the shared batch engine
(batching.Engine: adaptive size, health checks, one transaction per batch with its checkpoint —
a crash resumes exactly where it stopped), and the unbatched baseline it is compared with."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ... import inventory
from ...batching import BatchResult, Engine, RestartJob, BarProgress
from ...db import end_read
from ...locks import lock_settings
from ...steps import Rendered, SqlStep, compose
from . import mapping
from .mapping import PHASE, template


def _placeholders(t: inventory.AuditTable, from_page: int, to_page: int) -> sql.Composable:
    return mapping.placeholders(t, sql.SQL("ctid >= {}::tid AND ctid < {}::tid").format(
        mapping._tid(from_page), mapping._tid(to_page)))


def relation_state(conn, t: inventory.AuditTable) -> tuple[int, int, float, float]:
    """(relfilenode, pages now, live rows per page from the statistics or the first pages, and
    the table's average density: the floor for the rows-per-page estimate)."""
    ident = sql.Identifier("public", t.table_name)
    row = conn.execute(
        "SELECT c.relfilenode, pg_relation_size(c.oid) / current_setting('block_size')::int, "
        "CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages END "
        "FROM pg_class c WHERE c.oid = %s::regclass", (ident.as_string(conn),)).fetchone()
    relfilenode, pages, per_page = int(row[0]), int(row[1]), row[2]
    if per_page is None and pages:
        sample = min(pages, 16)
        n = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE ctid < {}::tid").format(
            ident, mapping._tid(sample))).fetchone()[0]
        per_page = n / sample if n else None
    end_read(conn)
    per_page = float(per_page or 40.0)
    return relfilenode, pages, per_page, per_page


class HeapPageBackfill:
    """The backfill of one legacy table as a batching.Job: batches are ranges of heap pages (TID
    range scans read the table sequentially, so a row costs the same at page 10 as at page 10
    million). Position: {page, end_page, relfilenode, rows_per_page}. Pages at or after end_page
    were written after the sync triggers existed: the triggers synced their rows."""

    def __init__(self, ctx, t: inventory.AuditTable, record=None):
        self.t = t
        # record(conn, statement) -> its text: the step's Step.record (the batch's statements go
        # to the ledger in the batch's transaction); standalone (bench, tests) nothing is recorded
        self.record = record or (lambda conn, stmt: compose(conn, stmt))
        self.name = f"p02_backfill:{t.table_name}"
        self.phase = PHASE
        self.total_rows = t.row_count
        self.watched = [sql.Identifier("public", t.table_name).as_string(ctx.conn)]
        self.placeholders = ctx.params.unknown_email_policy == "placeholder"
        self.relfilenode, self.end_page, self.rows_per_page, self.density_floor = relation_state(ctx.conn, t)

    def statements(self, from_page: int, to_page: int) -> list[sql.Composable]:
        out = [_placeholders(self.t, from_page, to_page)] if self.placeholders else []
        return out + [mapping.backfill_claim(self.t, from_page, to_page),
                      mapping.backfill_move(self.t, from_page, to_page)]

    def first_window(self, rows: int) -> tuple[int, int]:
        return 0, min(self.end_page, max(1, round(rows / self.rows_per_page)))

    def resume(self, conn, position):
        if position and position.get("relfilenode") != self.relfilenode:
            return self._fresh(), self._rewritten(position.get("relfilenode"), self.relfilenode)
        return (dict(position) if position else self._fresh()), None

    def _rewritten(self, old, new) -> str:
        # VACUUM FULL, CLUSTER, pg_repack: physical positions changed; start over. Rows already
        # migrated are skipped (already_migrated); claims stay with their owner.
        return f"public.{self.t.table_name} was rewritten (relfilenode {old} -> {new}): from page 0"

    def _fresh(self) -> dict:
        return {"page": 0, "end_page": self.end_page, "relfilenode": self.relfilenode,
                "rows_per_page": round(self.rows_per_page, 3)}

    def is_done(self, position: dict) -> bool:
        return position["page"] >= position["end_page"]

    def run_batch(self, conn, position: dict, rows: int):
        page, end = position["page"], position["end_page"]
        # the density estimate never goes below the table's average, so a dense stretch after a
        # sparse one cannot make a batch several times its target
        per_page = max(position.get("rows_per_page") or self.rows_per_page, self.density_floor, 0.01)
        to_page = min(end, page + max(1, round(rows / per_page)))
        for setting in mapping.BATCH_SETTINGS:
            conn.execute(setting)
        *pre, claim, move = self.statements(page, to_page)
        for stmt in pre:
            conn.execute(self.record(conn, stmt))
        read, claimed, no_id = conn.execute(self.record(conn, claim)).fetchone()
        # the claim holds a lock on the table now: if it was rewritten since the position was
        # taken, this batch's pages are not the position's pages — roll it back and start over
        now = conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", (self.watched[0],)).fetchone()[0]
        if now != position.get("relfilenode"):
            self.relfilenode, self.end_page, self.rows_per_page, self.density_floor = relation_state(conn, self.t)
            raise RestartJob(self._fresh(), self._rewritten(position.get("relfilenode"), now))
        migrated = quarantined = 0
        if claimed:
            migrated, quarantined, _errors = conn.execute(self.record(conn, move)).fetchone()
        if read:  # the density seen, smoothed: the next range of pages aims at the next size
            per_page = 0.5 * per_page + 0.5 * read / (to_page - page)
        return BatchResult(read, migrated, quarantined + no_id), {**position, "page": to_page,
                                                                   "rows_per_page": round(per_page, 3)}


def backfill_table(ctx, conn: psycopg.Connection, t: inventory.AuditTable, progress: bool = True,
                   engine: Engine | None = None, record=None) -> int:
    """Backfill one legacy table on the batch engine; returns the rows read by this call."""
    engine = engine or Engine(ctx, progress=BarProgress(progress))
    return engine.run(HeapPageBackfill(ctx, t, record)).rows_read


def measure_unbatched_baseline(ctx, tables: list[inventory.AuditTable], record=None) -> dict:
    """Per table, in ONE transaction that is rolled back: (a) a raw copy of the legacy rows into
    a scratch table (the floor for any copy), (b) the backfill's own shaping and writes for the
    whole table in one statement (no batches, claims or checkpoints). Recorded as the metric
    'unbatched_baseline'; the throughput section compares the backfill with both. Then VACUUM
    audits, so the backfill starts on a clean table. Local rehearsals only: while it runs, an
    application write to a row it inserted waits for it."""
    conn = ctx.conn
    end_read(conn)
    rows = copy_secs = move_secs = 0.0
    ran: list[str] = []
    with conn.transaction(force_rollback=True):
        for setting in mapping.BATCH_SETTINGS:  # as the batches do: compare methods, not settings
            conn.execute(setting)
        for t in tables:
            ident = sql.Identifier("public", t.table_name)
            t0 = time.perf_counter()
            ran.append(compose(conn, template("copy_probe").format(table=ident)))
            conn.execute(ran[-1])
            copy_secs += time.perf_counter() - t0
            t0 = time.perf_counter()
            ran.append(compose(conn, mapping.backfill_unbatched(t)))
            migrated, quarantined, _ = conn.execute(ran[-1]).fetchone()
            move_secs += time.perf_counter() - t0
            rows += t.row_count
    if record:   # what ran and was rolled back, then the VACUUM
        with conn.transaction():
            for text in ran:
                record(conn, text)
    conn.autocommit = True
    try:
        conn.execute(record(conn, "VACUUM public.audits, public.audit_errors") if record
                     else "VACUUM public.audits, public.audit_errors")
    finally:
        conn.autocommit = False
    figures = {"rows": int(rows), "raw_copy_seconds": round(copy_secs, 3), "unbatched_seconds": round(move_secs, 3),
               "raw_copy_rows_per_s": round(rows / copy_secs) if copy_secs else None,
               "unbatched_rows_per_s": round(rows / move_secs) if move_secs else None}
    ctx.ledger.record_metric(PHASE, "unbatched_baseline", figures)
    ctx.log(f"baseline: raw copy {figures['raw_copy_rows_per_s']} rows/s, the same work unbatched "
            f"{figures['unbatched_rows_per_s']} rows/s ({int(rows)} rows, rolled back)")
    return figures


def _unmappable(ctx) -> set[str]:
    """Legacy tables with rows the forward sync could not map as they were (quarantined as
    'unmappable_row': a column retyped or dropped after adoption)."""
    if not ctx.has_ledger:
        return set()
    rows = ctx.conn.execute(
        "SELECT DISTINCT source_table FROM cqms_migration.quarantine WHERE phase = %s AND reason = 'unmappable_row'",
        (PHASE,)).fetchall()
    end_read(ctx.conn)
    return {r[0] for r in rows}


def requeue_unmappable(ctx, conn: psycopg.Connection, record=None) -> int:
    """A re-run after drift: the tables with rows the forward sync quarantined as unmappable start
    their backfill over (rows already migrated or claimed are skipped; those rows' claims were
    released), so the new shape adopted by install_sync_triggers migrates them. Their quarantine
    entries stay until their rows are in audits (release_migrated_unmappable, after the backfill):
    a backfill that fails leaves them quarantined, never neither."""
    stmt = sql.SQL(
        "DELETE FROM cqms_migration.checkpoints c WHERE c.job IN (SELECT DISTINCT 'p02_backfill:' || q.source_table "
        "FROM cqms_migration.quarantine q WHERE q.phase = {} AND q.reason = 'unmappable_row') "
        "RETURNING c.job").format(sql.Literal(PHASE))
    with conn.transaction():
        n = conn.execute(record(conn, stmt) if record else stmt).fetchall()
    if n:
        ctx.log(f"re-queued for backfill (rows the sync could not map before this run): {', '.join(j for j, in n)}")
    return len(n)


def release_migrated_unmappable(conn: psycopg.Connection, record=None) -> int:
    """After the backfill: unmappable rows now in audits leave the quarantine."""
    stmt = sql.SQL(
        "DELETE FROM cqms_migration.quarantine q WHERE q.phase = {} AND q.reason = 'unmappable_row' "
        "AND EXISTS (SELECT 1 FROM public.audits a WHERE a.id::text = q.source_key AND a.legacy_table = q.source_table "
        "AND a.deleted_at IS NULL)").format(sql.Literal(PHASE))
    with conn.transaction():
        return conn.execute(record(conn, stmt) if record else stmt).rowcount


@dataclass
class Backfill(SqlStep):
    """Rendered: each table's first batch, as it will run (the engine sizes the later ones);
    revert and verify: revert/backfill.sql, verify/backfill.sql."""

    transactional: bool = False
    revert_in_one_transaction: bool | None = True

    def _todo(self, ctx) -> list[inventory.AuditTable]:
        """The migratable tables whose backfill has not finished (all, the first time; a table
        adopted since, on a re-run)."""
        from . import migratable
        if not ctx.has_ledger:
            return migratable(ctx)
        unmappable = _unmappable(ctx)
        out = []
        for t in migratable(ctx):
            saved = ctx.ledger.checkpoint(f"p02_backfill:{t.table_name}")
            if not (saved and saved.finished) or t.table_name in unmappable:
                out.append(t)
        return out

    def stale(self, ctx) -> str | None:
        names = [t.table_name for t in self._todo(ctx)]
        return f"tables to backfill: {', '.join(names)}" if names else None

    def render_deploy(self, ctx) -> Rendered:
        out = []
        for t in self._todo(ctx):
            job = HeapPageBackfill(ctx, t)
            out += [compose(ctx.conn, s) for s in job.statements(*job.first_window(ctx.params.batch_size))]
        return Rendered(out)

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        if action == "revert":
            return super().execution_units(ctx, action)
        # one unit per table: a batch as the engine runs it (lock settings, batch settings, statements)
        from . import migratable
        pre = lock_settings(ctx.params.lock_retries[0][0], ctx.params.batch_statement_timeout_s)
        out = []
        for t in migratable(ctx):
            job = HeapPageBackfill(ctx, t)
            stmts = [compose(ctx.conn, s) for s in job.statements(*job.first_window(ctx.params.batch_size))]
            out.append((";\n".join(pre + list(mapping.BATCH_SETTINGS) + stmts) + ";\n", True))
        return out

    # its rendered text is each table's first batch; the engine sizes the rest as it goes, and
    # every statement it runs is recorded as it runs (Step.record)
    plans_at_run_time: bool = True

    def deploy(self, ctx, conn, rendered) -> int:
        from . import migratable
        record = lambda c, stmt: self.record(ctx, c, "deploy", stmt)  # noqa: E731
        tables = migratable(ctx)
        if ctx.params.measure_unbatched_baseline and not any(
                ctx.ledger.checkpoint(f"p02_backfill:{t.table_name}") for t in tables):
            measure_unbatched_baseline(ctx, tables, record)
        requeue_unmappable(ctx, conn, record)
        engine = Engine(ctx, progress=BarProgress(ctx.progress))
        rows = sum(backfill_table(ctx, conn, t, engine=engine, record=record) for t in tables)
        release_migrated_unmappable(conn, record)
        return rows
