"""The backfill of assignments from audit_assignments: heap-page batches on the shared batch engine
(batching.HeapPageJob), resumable. Each batch quarantines its rows without an id, then claims the
rows no sync trigger has claimed and applies them through p03_apply (the sync's own function)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...batching import BarProgress, BatchResult, Engine, HeapPageJob
from ...db import end_read
from ...locks import lock_settings
from ...steps import Rendered, SqlStep, compose
from . import mapping
from .mapping import PHASE, TABLE

JOB = f"p03_backfill:{TABLE}"
# the batches' own settings: probes by index (one per row), never a plan that rescans the batch
SETTINGS = ("SET LOCAL jit = off", "SET LOCAL enable_seqscan = off", "SET LOCAL enable_tidscan = on")


class AssignmentBackfill(HeapPageJob):
    settings = SETTINGS

    def __init__(self, ctx, record=None):
        self.shape = mapping.shape(ctx.conn)
        rows = ctx.conn.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'public.audit_assignments'::regclass"
                                ).fetchone()[0]
        end_read(ctx.conn)
        super().__init__(ctx.conn, TABLE, JOB, PHASE, int(rows), record)

    def statements(self, from_page: int, to_page: int) -> list:
        return mapping.backfill_statements(self.shape, from_page, to_page)

    def run_pages(self, conn, from_page: int, to_page: int, position: dict) -> BatchResult:
        null_ids, move = self.statements(from_page, to_page)
        no_id = conn.execute(self.record(conn, null_ids)).rowcount
        # the quarantine insert read the pages (an ACCESS SHARE lock on the table is held from here)
        self.check_rewritten(conn, position)
        read, written, quarantined = conn.execute(self.record(conn, move)).fetchone()
        return BatchResult(int(read), int(written or 0), int(quarantined or 0) + max(no_id, 0))


@dataclass
class Backfill(SqlStep):
    """Rendered: the first batch, as it will run (the engine sizes the later ones, recording each
    statement as it runs); revert: revert/backfill.sql; verify: verify/backfill.sql."""

    transactional: bool = False
    revert_in_one_transaction: bool | None = True
    plans_at_run_time: bool = True

    def stale(self, ctx) -> str | None:
        saved = ctx.ledger.checkpoint(JOB) if ctx.has_ledger else None
        if not (saved and saved.finished):
            return "the backfill has not finished"
        due = ctx.conn.execute(sql.SQL("SELECT count(*) FROM ({}) d").format(DUE)).fetchone()[0]
        end_read(ctx.conn)
        return f"{due} waiting assignments can resolve now (their employee or audit exists)" if due else None

    def render_deploy(self, ctx) -> Rendered:
        job = AssignmentBackfill(ctx)
        return Rendered([compose(ctx.conn, s) for s in job.statements(*job.first_window(ctx.params.batch_size))])

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        if action == "revert":
            return super().execution_units(ctx, action)
        pre = lock_settings(ctx.params.lock_retries[0][0], ctx.params.batch_statement_timeout_s)
        return [(";\n".join(pre + list(SETTINGS) + self.render_deploy(ctx).statements) + ";\n", True)]

    def deploy(self, ctx, conn, rendered) -> int:
        record = lambda c, stmt: self.record(ctx, c, "deploy", stmt)  # noqa: E731
        engine = Engine(ctx, progress=BarProgress(ctx.progress))
        rows = engine.run(AssignmentBackfill(ctx, record)).rows_read
        # what waits for an employee or an audit that exists by now (a hire that overlapped the
        # assignment's own transaction): applied again, and a re-run of the phase does the same
        with conn.transaction():
            stmt = sql.SQL("SELECT cqms_migration.p03_apply(array_agg(d.assignment_key), 'requeue') FROM ({}) d").format(DUE)
            conn.execute(record(conn, stmt))
        return rows


# waiting assignments whose employee (by normalized email) or audit exists now
DUE = sql.SQL(
    "SELECT DISTINCT w.assignment_key FROM cqms_migration.p03_waiting w "
    "WHERE (w.kind = 'email' AND w.wait_key IN (SELECT md5(lower(btrim(e.email))) FROM public.employees e)) "
    "OR (w.kind = 'audit' AND EXISTS (SELECT 1 FROM public.audits a WHERE a.id = cqms_migration.to_uuid(w.wait_key)))")
