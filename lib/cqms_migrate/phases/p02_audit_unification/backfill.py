"""The backfill: every legacy table in batches of heap pages on the shared batch engine
(batching.Engine: adaptive size, health checks, one transaction per batch with its checkpoint —
a crash resumes exactly where it stopped), and the unbatched baseline it is compared with."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ... import inventory
from ...batching import BarProgress, BatchResult, Engine, HeapPageJob, heap_state
from ...db import end_read
from ...locks import lock_settings
from ...steps import Rendered, SqlStep, compose
from . import mapping
from .mapping import PHASE, template


def _placeholders(t: inventory.AuditTable, from_page: int, to_page: int) -> sql.Composable:
    return mapping.placeholders(t, sql.SQL("ctid >= {}::tid AND ctid < {}::tid").format(
        mapping._tid(from_page), mapping._tid(to_page)))


def relation_state(conn, t: inventory.AuditTable) -> tuple[int, int, float, float]:
    """batching.heap_state of the legacy table (kept for the bench and the tests)."""
    return heap_state(conn, t.table_name)


class HeapPageBackfill(HeapPageJob):
    """The backfill of one legacy table as a batching.HeapPageJob: each batch claims its pages'
    rows (a claim holds a lock on the table), then shapes and writes them. Rows already migrated
    are skipped (already_migrated); claims stay with their owner."""

    settings = tuple(mapping.BATCH_SETTINGS)

    def __init__(self, ctx, t: inventory.AuditTable, record=None):
        self.t = t
        self.placeholders = ctx.params.unknown_email_policy == "placeholder"
        super().__init__(ctx.conn, t.table_name, f"p02_backfill:{t.table_name}", PHASE, t.row_count, record)

    def statements(self, from_page: int, to_page: int) -> list[sql.Composable]:
        out = [_placeholders(self.t, from_page, to_page)] if self.placeholders else []
        return out + [mapping.backfill_claim(self.t, from_page, to_page),
                      mapping.backfill_move(self.t, from_page, to_page)]

    def run_pages(self, conn, from_page: int, to_page: int, position: dict) -> BatchResult:
        *pre, claim, move = self.statements(from_page, to_page)
        for stmt in pre:
            conn.execute(self.record(conn, stmt))
        read, claimed, no_id = conn.execute(self.record(conn, claim)).fetchone()
        self.check_rewritten(conn, position)
        migrated = quarantined = 0
        if claimed:
            migrated, quarantined, _errors = conn.execute(self.record(conn, move)).fetchone()
        return BatchResult(read, migrated, quarantined + no_id)


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
