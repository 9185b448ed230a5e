"""Phase 2 (audit unification): one audits table from every dynamic table while the
application keeps writing. Seed sections 2.3, 3.2 Phase 2, 3.4.

Steps (deploy in order, revert in reverse):
  snapshot_legacy        checksum every legacy table
  create_audits          audits (+ yearly partitions if params say so), audit_errors, status map
  install_sync_triggers  legacy -> audits triggers on every dynamic table (zero downtime)
  backfill               keyset batches, one transaction each, resumable checkpoint
  create_indexes         the seed's indexes, built CONCURRENTLY after the load
  create_compat_views    <table>_compat for every dynamic table (security_invoker)
  enable_rls             policies and grants on audits / audit_errors
  install_reverse_sync   audits -> legacy triggers (after validation: cutover)
  enable_feature_flag    USE_UNIFIED_AUDITS_TABLE on (after validation)
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from ... import inventory
from ...db import end_read
from ...errors import CheckFailed
from ...locks import lock_settings
from ...steps import Rendered, SqlStep, Step, compose
from ..p01_foundation import FlagStep, SnapshotLegacy
from . import render

PHASE = render.PHASE
FLAG = "USE_UNIFIED_AUDITS_TABLE"
HERE = Path(__file__).resolve().parent
REQUIRES = ("01_foundation", ["merge_employees", "create_compat_views"])

# the seed's indexes (section 2.3), built after the load: (name, what follows "ON audits")
INDEXES = [
    ("audits_legacy_idx", "(legacy_table, legacy_id)"),  # compat views filter on legacy_table
    ("idx_audits_employee_id", "(employee_id) WHERE deleted_at IS NULL"),
    ("idx_audits_auditor_id", "(auditor_id) WHERE deleted_at IS NULL"),
    ("idx_audits_scorecard_id", "(scorecard_id) WHERE deleted_at IS NULL"),
    ("idx_audits_assignment_id", "(assignment_id) WHERE deleted_at IS NULL"),
    ("idx_audits_channel_id", "(channel_id) WHERE deleted_at IS NULL"),
    ("idx_audits_interaction_id", "(interaction_id) WHERE deleted_at IS NULL"),
    ("idx_audits_status", "(status) WHERE deleted_at IS NULL"),
    ("idx_audits_passing_status", "(passing_status) WHERE deleted_at IS NULL"),
    ("idx_audits_validation_status", "(validation_status) WHERE deleted_at IS NULL"),
    ("idx_audits_acknowledgement_status", "(acknowledgement_status) WHERE deleted_at IS NULL"),
    ("idx_audits_interaction_date", "(interaction_date DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_submitted_at", "(submitted_at DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_created_at", "(created_at DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_audit_start_time", "(audit_start_time DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_auditor_status_date", "(auditor_id, status, submitted_at DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_employee_date", "(employee_id, interaction_date DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_scorecard_date", "(scorecard_id, submitted_at DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_channel_date", "(channel_id, interaction_date DESC) WHERE deleted_at IS NULL"),
    ("idx_audits_quarter_week", "(quarter, week) WHERE deleted_at IS NULL"),
    ("idx_audits_period_dates", "(period_start_date, period_end_date) WHERE deleted_at IS NULL"),
    ("idx_audits_reversal_requested", "(reversal_requested_at) WHERE reversal_requested_at IS NOT NULL AND deleted_at IS NULL"),
    ("idx_audits_reversal_requested_by", "(reversal_requested_by)"),
    ("idx_audits_reversal_responded_by", "(reversal_responded_by)"),
    ("idx_audits_parameter_scores", "USING gin (parameter_scores) WHERE deleted_at IS NULL"),
    ("idx_audits_parameter_feedback", "USING gin (parameter_feedback) WHERE deleted_at IS NULL"),
    ("idx_audits_metadata", "USING gin (metadata) WHERE deleted_at IS NULL"),
    ("idx_audits_tags", "USING gin (tags) WHERE deleted_at IS NULL"),
    ("idx_audits_transcript_search", "USING gin (to_tsvector('english', coalesce(transcript, '')))"),
    ("idx_audits_active_submitted", "(submitted_at DESC) WHERE status = 'submitted' AND deleted_at IS NULL"),
    ("idx_audits_pending_acknowledgement", "(acknowledgement_status, submitted_at DESC) WHERE acknowledgement_status = 'pending' AND deleted_at IS NULL"),
    ("idx_audits_reversal_pending", "(reversal_requested_at) WHERE reversal_approved IS NULL AND deleted_at IS NULL"),
]


def _inventory(ctx) -> inventory.Inventory:
    if getattr(ctx, "_p02_inventory", None) is None:
        ctx._p02_inventory = inventory.discover(ctx.conn, with_counts=True)
    return ctx._p02_inventory


def migratable(ctx) -> list[inventory.AuditTable]:
    return _inventory(ctx).migratable()


def partitioned(ctx) -> bool:
    return ctx.params.partition_audits == "yearly"


def _year_range(ctx) -> tuple[int, int]:
    years = []
    for t in migratable(ctx):
        if "interaction_date" in t.columns:
            r = ctx.conn.execute(sql.SQL("SELECT extract(year FROM min(interaction_date))::int, "
                                         "extract(year FROM max(interaction_date))::int FROM {}")
                                 .format(sql.Identifier("public", t.table_name))).fetchone()
            years += [y for y in r if y is not None]
    end_read(ctx.conn)
    this_year = dt.date.today().year
    return (min(years) if years else this_year), max(years + [this_year]) + 1


def partition_names(ctx) -> list[str]:
    if not partitioned(ctx):
        return []
    lo, hi = _year_range(ctx)
    return [f"audits_y{y}" for y in range(lo, hi + 1)] + ["audits_default"]


@dataclass
class CreateAudits(SqlStep):
    def render_deploy(self, ctx) -> Rendered:
        text = (self.directory / "deploy" / "create_audits.sql").read_text()
        if partitioned(ctx):
            lo, hi = _year_range(ctx)
            parts = "\n".join(
                f"CREATE TABLE public.audits_y{y} PARTITION OF public.audits FOR VALUES FROM ('{y}-01-01') TO ('{y + 1}-01-01');"
                for y in range(lo, hi + 1))
            parts += "\nCREATE TABLE public.audits_default PARTITION OF public.audits DEFAULT;"
            # a partition is a table of its own: RLS on, default grants revoked, as for the parent
            parts += "".join(f"\nALTER TABLE public.{p} ENABLE ROW LEVEL SECURITY;"
                             f"\nREVOKE ALL ON public.{p} FROM PUBLIC, anon, authenticated;"
                             for p in partition_names(ctx))
            text = (text.replace("/*@PRIMARY_KEY@*/", "PRIMARY KEY (id, interaction_date)")
                    .replace("/*@PARTITION_BY@*/", "PARTITION BY RANGE (interaction_date)")
                    .replace("/*@PARENT_FK@*/", "")
                    .replace("/*@PARTITIONS@*/", parts)
                    .replace("/*@ERRORS_FK@*/", "(audit_id, interaction_date) REFERENCES public.audits (id, interaction_date) ON UPDATE CASCADE")
                    .replace("/*@ID_LOOKUP@*/", "CREATE INDEX audits_id_lookup ON public.audits (id);"))
        else:
            text = (text.replace("/*@PRIMARY_KEY@*/", "PRIMARY KEY (id)").replace("/*@PARTITION_BY@*/", "")
                    .replace("/*@PARENT_FK@*/", "REFERENCES public.audits(id)").replace("/*@PARTITIONS@*/", "")
                    .replace("/*@ERRORS_FK@*/", "(audit_id) REFERENCES public.audits (id)")
                    .replace("/*@ID_LOOKUP@*/", ""))
        stmts = [text]
        for legacy, status in sorted(ctx.params.passing_status_map.items()):
            stmts.append(sql.SQL("INSERT INTO cqms_migration.p02_passing_status_map (legacy, status) VALUES ({}, {})")
                         .format(sql.Literal(legacy), sql.Literal(status)).as_string(ctx.conn))
        return Rendered(stmts)


@dataclass
class SyncTriggers(Step):
    """One transaction per legacy table: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on its table,
    and a transaction that took them on every table in turn would queue writers on the tables
    already held while it waits for the next. A re-run after a partial install replaces what is
    there (CREATE OR REPLACE)."""

    transactional: bool = False

    def render_deploy(self, ctx) -> Rendered:
        return Rendered([";\n".join(compose(ctx.conn, s) for s in (
            render.sync_function(t, ctx.conn), render.revoke_execute(render.sync_function_name(t.table_name)),
            render.sync_trigger(t))) for t in migratable(ctx)], separate=True)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([";\n".join(compose(ctx.conn, s) for s in render.drop_sync(t)) for t in migratable(ctx)],
                        separate=True)

    def deploy(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_deploy(ctx), "table")

    def revert(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_revert(ctx), "table")

    def render_verify(self, ctx) -> Rendered:
        names = [render.trigger_name(t.table_name).as_string(ctx.conn).strip('"') for t in migratable(ctx)]
        return Rendered([sql.SQL(
            "DO $$ BEGIN IF (SELECT count(*) FROM pg_trigger WHERE tgname = ANY({})) <> {} THEN "
            "RAISE EXCEPTION 'sync triggers missing'; END IF; END $$").format(
            sql.Literal(names), sql.Literal(len(names))).as_string(ctx.conn)])


@dataclass
class Backfill(Step):
    """Every legacy table in batches of heap pages on the shared batch engine (adaptive size,
    health checks, one transaction per batch with its checkpoint: a crash resumes exactly where
    it stopped). Rendered: the two statements of a table's first batch, as they will run."""

    transactional: bool = False

    def render_deploy(self, ctx) -> Rendered:
        out = []
        for t in migratable(ctx):
            job = HeapPageBackfill(ctx, t)
            first = job.first_window(ctx.params.batch_size)
            out += [f"-- public.{t.table_name}: first batch, pages {first[0]}..{first[1]} of {job.end_page}\n"
                    + compose(ctx.conn, s) for s in job.statements(*first)]
        return Rendered(out)

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        if action == "revert":
            return super().execution_units(ctx, action)
        # one unit per table: a batch as the engine runs it (lock settings, batch settings, statements)
        pre = lock_settings(ctx.params.lock_retries[0][0], ctx.params.batch_statement_timeout_s)
        out = []
        for t in migratable(ctx):
            job = HeapPageBackfill(ctx, t)
            stmts = [compose(ctx.conn, s) for s in job.statements(*job.first_window(ctx.params.batch_size))]
            out.append((";\n".join(pre + list(render.BATCH_SETTINGS) + stmts) + ";\n", True))
        return out

    def render_revert(self, ctx) -> Rendered:
        return Rendered([
            "TRUNCATE public.audit_errors, public.audits, cqms_migration.p02_sync_claims",
            f"DELETE FROM cqms_migration.quarantine WHERE phase = '{PHASE}'",
            "DELETE FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%'",
            f"DELETE FROM public.employees WHERE legacy_snapshot ->> 'placeholder_phase' = '{PHASE}'",
        ])

    def render_verify(self, ctx) -> Rendered:
        return Rendered(["DO $$ BEGIN IF EXISTS (SELECT 1 FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%' "
                         "AND NOT finished) THEN RAISE EXCEPTION 'a backfill job is unfinished'; END IF; END $$"])

    def deploy(self, ctx, conn) -> int:
        tables = migratable(ctx)
        if ctx.params.measure_unbatched_baseline and not any(
                ctx.ledger.checkpoint(f"p02_backfill:{t.table_name}") for t in tables):
            measure_unbatched_baseline(ctx, tables)
        from ...batching import Engine, TqdmProgress
        engine = Engine(ctx, progress=TqdmProgress(ctx.progress))
        return sum(backfill_table(ctx, conn, t, engine=engine) for t in tables)


def measure_unbatched_baseline(ctx, tables: list[inventory.AuditTable]) -> dict:
    """Per table, in ONE transaction that is rolled back: (a) a raw copy of the legacy rows into
    a scratch table (INSERT ... SELECT *: the floor for any copy), (b) the backfill's own
    shaping and writes for the whole table in one statement (no batches, claims or
    checkpoints). Recorded as the metric 'unbatched_baseline'; the throughput section compares
    the backfill with both. Then VACUUM audits, so the backfill starts on a clean table."""
    conn = ctx.conn
    end_read(conn)
    rows = copy_secs = move_secs = 0.0
    with conn.transaction(force_rollback=True):
        for setting in render.BATCH_SETTINGS:  # as the batches do: compare methods, not settings
            conn.execute(setting)
        for t in tables:
            ident = sql.Identifier("public", t.table_name)
            conn.execute(sql.SQL("CREATE TABLE cqms_migration.p02_copy_probe (LIKE {})").format(ident))
            t0 = time.perf_counter()
            n = conn.execute(sql.SQL("INSERT INTO cqms_migration.p02_copy_probe SELECT * FROM {}").format(ident)).rowcount
            copy_secs += time.perf_counter() - t0
            conn.execute("DROP TABLE cqms_migration.p02_copy_probe")
            t0 = time.perf_counter()
            conn.execute(render.backfill_unbatched(t)).fetchone()
            move_secs += time.perf_counter() - t0
            rows += n
    conn.autocommit = True
    try:
        conn.execute("VACUUM public.audits, public.audit_errors")
    finally:
        conn.autocommit = False
    figures = {"rows": int(rows), "raw_copy_seconds": round(copy_secs, 3), "unbatched_seconds": round(move_secs, 3),
               "raw_copy_rows_per_s": round(rows / copy_secs) if copy_secs else None,
               "unbatched_rows_per_s": round(rows / move_secs) if move_secs else None}
    ctx.ledger.record_metric(PHASE, "unbatched_baseline", figures)
    ctx.log(f"baseline: raw copy {figures['raw_copy_rows_per_s']} rows/s, the same work unbatched "
            f"{figures['unbatched_rows_per_s']} rows/s ({int(rows)} rows, rolled back)")
    return figures


def _placeholder_sql(t: inventory.AuditTable, from_page: int, to_page: int) -> sql.Composable:
    """Unknown emails of the next batch become inactive placeholder employees flagged for
    review (params unknown_email_policy: placeholder)."""
    pairs = []
    for email, name in (("employee_email", "employee_name"), ("auditor_email", "auditor_name")):
        if email in t.columns:
            pairs.append(sql.SQL("SELECT {e} AS email, {n} AS name FROM batch").format(
                e=sql.Identifier(email), n=render.col(t, name, alias="batch")))
    return sql.SQL("""
      WITH batch AS (SELECT * FROM {tbl} WHERE ctid >= {from_tid}::tid AND ctid < {to_tid}::tid),
           refs AS ({refs})
      INSERT INTO public.employees (email, name, role_id, is_active, needs_review, legacy_snapshot)
      SELECT DISTINCT ON (lower(btrim(r.email))) btrim(r.email),
             coalesce(nullif(btrim(r.name), ''), split_part(btrim(r.email), '@', 1)),
             (SELECT ro.id FROM public.roles ro JOIN cqms_migration.p01_role_mapping m ON m.role_code = ro.code
               WHERE m.legacy_role = '*default*'),
             false, true, jsonb_build_object('placeholder_phase', {phase})
      FROM refs r
      WHERE btrim(r.email) ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Z|a-z]{{2,}}$'
        AND NOT EXISTS (SELECT 1 FROM public.employees e WHERE lower(btrim(e.email)) = lower(btrim(r.email)))
      ORDER BY lower(btrim(r.email)), r.name
      ON CONFLICT DO NOTHING""").format(tbl=sql.Identifier("public", t.table_name),
                                        refs=sql.SQL(" UNION ALL ").join(pairs), phase=sql.Literal(PHASE),
                                        from_tid=render._tid(from_page), to_tid=render._tid(to_page))


def _relation_state(conn, t: inventory.AuditTable) -> tuple[int, int, float]:
    """(relfilenode, pages now, live rows per page) of a legacy table. Rows per page come from
    the statistics, or (never analyzed) from counting the first pages."""
    ident = sql.Identifier("public", t.table_name)
    row = conn.execute(
        "SELECT c.relfilenode, pg_relation_size(c.oid) / current_setting('block_size')::int, "
        "CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages END "
        "FROM pg_class c WHERE c.oid = %s::regclass", (ident.as_string(conn),)).fetchone()
    relfilenode, pages, per_page = int(row[0]), int(row[1]), row[2]
    if per_page is None and pages:
        sample = min(pages, 16)
        n = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE ctid < {}::tid").format(
            ident, render._tid(sample))).fetchone()[0]
        per_page = n / sample if n else None
    end_read(conn)
    return relfilenode, pages, float(per_page or 40.0)


class HeapPageBackfill:
    """The backfill of one legacy table as a batching.Job: batches are ranges of heap pages
    (TID range scans read the table sequentially, so a row costs the same at page 10 as at page
    10 million). Position: {page, end_page, relfilenode, rows_per_page}. Pages at or after
    end_page were written after the sync triggers existed: the triggers synced their rows."""

    def __init__(self, ctx, t: inventory.AuditTable):
        self.t = t
        self.name = f"p02_backfill:{t.table_name}"
        self.phase = PHASE
        self.total_rows = t.row_count
        self.watched = [sql.Identifier("public", t.table_name).as_string(ctx.conn)]
        self.placeholders = ctx.params.unknown_email_policy == "placeholder"
        self.relfilenode, self.end_page, self.rows_per_page = _relation_state(ctx.conn, t)

    def statements(self, from_page: int, to_page: int) -> list[sql.Composable]:
        out = [_placeholder_sql(self.t, from_page, to_page)] if self.placeholders else []
        return out + [render.backfill_claim(self.t, from_page, to_page),
                      render.backfill_move(self.t, from_page, to_page)]

    def first_window(self, rows: int) -> tuple[int, int]:
        return 0, min(self.end_page, max(1, round(rows / self.rows_per_page)))

    def resume(self, conn, position):
        if position and position.get("relfilenode") != self.relfilenode:
            # rewritten (VACUUM FULL, CLUSTER, pg_repack): physical positions changed; start over.
            # Rows already migrated are skipped (already_migrated); claims stay with their owner.
            return (self._fresh(), f"public.{self.t.table_name} was rewritten since the checkpoint "
                                   f"(relfilenode {position.get('relfilenode')} -> {self.relfilenode}): from page 0")
        return (dict(position) if position else self._fresh()), None

    def _fresh(self) -> dict:
        return {"page": 0, "end_page": self.end_page, "relfilenode": self.relfilenode,
                "rows_per_page": round(self.rows_per_page, 3)}

    def is_done(self, position: dict) -> bool:
        return position["page"] >= position["end_page"]

    def run_batch(self, conn, position: dict, rows: int):
        from ...batching import BatchResult
        page, end = position["page"], position["end_page"]
        per_page = max(position.get("rows_per_page") or self.rows_per_page, 0.01)
        to_page = min(end, page + max(1, round(rows / per_page)))
        for setting in render.BATCH_SETTINGS:
            conn.execute(setting)
        *pre, claim, move = self.statements(page, to_page)
        for stmt in pre:
            conn.execute(stmt)
        read, claimed = conn.execute(claim).fetchone()
        migrated = quarantined = 0
        if claimed:
            migrated, quarantined, _errors = conn.execute(move).fetchone()
        if read:  # the density seen, smoothed: the next range of pages aims at the next size
            per_page = 0.5 * per_page + 0.5 * read / (to_page - page)
        return BatchResult(read, migrated, quarantined), {**position, "page": to_page,
                                                          "rows_per_page": round(per_page, 3)}


def backfill_table(ctx, conn: psycopg.Connection, t: inventory.AuditTable, progress: bool = True,
                   engine=None) -> int:
    """Backfill one legacy table on the batch engine; returns the rows read by this call."""
    from ...batching import Engine, TqdmProgress
    engine = engine or Engine(ctx, progress=TqdmProgress(progress))
    return engine.run(HeapPageBackfill(ctx, t)).rows_read


@dataclass
class CreateIndexes(Step):
    """Indexes after the load (about 10x faster than loading into an indexed table), built
    CONCURRENTLY so the sync triggers' writes are never blocked; on a partitioned table:
    ON ONLY the parent, CONCURRENTLY per partition, then ATTACH."""

    transactional: bool = False

    def _statements(self, ctx) -> list[str]:
        out = []
        parts = partition_names(ctx)
        for name, definition in INDEXES:
            if not parts:
                out.append(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON public.audits {definition}")
                continue
            out.append(f"CREATE INDEX IF NOT EXISTS {name} ON ONLY public.audits {definition}")
            for p in parts:
                child = f"{name[:40]}_{p[7:]}"
                out.append(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {child} ON public.{p} {definition}")
                out.append(f"ALTER INDEX public.{name} ATTACH PARTITION public.{child}")
        return out

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        # autocommit: one session, its SETs apply to every statement after them
        rendered = self.render_deploy(ctx) if action == "deploy" else self.render_revert(ctx)
        return [(rendered.text, False)]

    def _settings(self, ctx, lock_timeout_ms: int) -> list[str]:
        return [f"SET lock_timeout = '{int(lock_timeout_ms)}ms'",
                f"SET statement_timeout = '{int(ctx.params.index_statement_timeout_s)}s'"]

    def render_deploy(self, ctx) -> Rendered:
        # each statement commits on its own (autocommit: CONCURRENTLY refuses a transaction);
        # this is the first attempt, with the first lock_timeout of params.lock_retries
        return Rendered(self._settings(ctx, ctx.params.lock_retries[0][0]) + self._statements(ctx), separate=True)

    def _drops(self, ctx) -> list[str]:
        # a partitioned index cannot be dropped concurrently: dropping the parent's drops the
        # partitions' (a short lock on each, under the lock-retry table)
        how = "DROP INDEX IF EXISTS" if partitioned(ctx) else "DROP INDEX CONCURRENTLY IF EXISTS"
        return [f"{how} public.{name}" for name, _ in INDEXES]

    def render_revert(self, ctx) -> Rendered:
        return Rendered(self._settings(ctx, ctx.params.lock_retries[0][0]) + self._drops(ctx), separate=True)

    def _run(self, ctx, conn, statements: list[str], what: str, progress: bool = False) -> int:
        """Autocommit, each statement under the lock-retry table: on a lock timeout the invalid
        index a concurrent build leaves is dropped and the build retried with the next, longer
        lock_timeout (GitLab's with_lock_retries, for statements that cannot run in a transaction)."""
        from tqdm import tqdm
        end_read(conn)
        conn.autocommit = True
        try:
            for stmt in tqdm(statements, desc=what, unit="stmt", mininterval=1.0, disable=not progress):
                if " ATTACH PARTITION " in stmt and conn.execute(
                        "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE c.relname = %s)", (stmt.rsplit(".", 1)[1],)).fetchone()[0]:
                    continue
                for n, (timeout_ms, sleep_s) in enumerate(ctx.params.lock_retries, start=1):
                    for setting in self._settings(ctx, timeout_ms):
                        conn.execute(setting)
                    try:
                        conn.execute(stmt)
                        break
                    except psycopg.errors.LockNotAvailable:
                        self._drop_invalid(conn)
                        if n == len(ctx.params.lock_retries):
                            from ...errors import LockTimeoutExhausted
                            raise LockTimeoutExhausted(
                                f"{self.phase}/{self.name}: `{stmt[:80]}` could not get its lock in {n} attempts; find "
                                "the blocker in pg_stat_activity / pg_locks and re-run (built indexes are kept)") from None
                        ctx.log(f"{self.name}: lock not granted within {timeout_ms} ms (attempt {n}); retrying in {sleep_s}s")
                        time.sleep(sleep_s)
            # an interrupted concurrent build (a killed runner) leaves an INVALID index: rebuild it
            for (name,) in conn.execute(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                    "WHERE n.nspname = 'public' AND t.relname LIKE 'audits%' AND NOT i.indisvalid "
                    "AND t.relkind = 'r'").fetchall():
                conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier("public", name)))
            conn.execute("RESET lock_timeout")
            conn.execute("RESET statement_timeout")
        finally:
            conn.autocommit = False
        return len(statements)

    @staticmethod
    def _drop_invalid(conn) -> None:
        for (name,) in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE n.nspname = 'public' AND t.relname LIKE 'audits%' AND NOT i.indisvalid "
                "AND t.relkind = 'r'").fetchall():
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier("public", name)))

    def deploy(self, ctx, conn) -> int:
        return self._run(ctx, conn, self._statements(ctx), "indexes", progress=ctx.progress)

    def revert(self, ctx, conn) -> int:
        self._run(ctx, conn, self._drops(ctx), "drop indexes")
        return 0


@dataclass
class CompatViews(Step):
    def render_deploy(self, ctx) -> Rendered:
        out = [compose(ctx.conn, render.compat_view(t, ctx.params.passing_status_legacy_spelling))
               for t in migratable(ctx)]
        # a compat view gets the read rights of the legacy table it stands in for (as the legacy
        # table's ACL says when this renders), and never more than RLS on audits allows
        # (security_invoker); Supabase's default grants on the new view are revoked first
        for t in migratable(ctx):
            view = sql.Identifier("public", render.compat_view_name(t.table_name))
            out.append(sql.SQL("REVOKE ALL ON {} FROM PUBLIC, anon, authenticated, service_role").format(view)
                       .as_string(ctx.conn))
            readers = [r[0] for r in ctx.conn.execute(
                "SELECT r FROM unnest(ARRAY['anon', 'authenticated', 'service_role']) r "
                "WHERE has_table_privilege(r, %s::regclass, 'SELECT')",
                (sql.Identifier("public", t.table_name).as_string(ctx.conn),)).fetchall()]
            if readers:
                out.append(sql.SQL("GRANT SELECT ON {} TO {}").format(
                    view, sql.SQL(", ").join(sql.Identifier(r) for r in readers)).as_string(ctx.conn))
        end_read(ctx.conn)
        return Rendered(out)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([sql.SQL("DROP VIEW IF EXISTS {}").format(
            sql.Identifier("public", render.compat_view_name(t.table_name))).as_string(ctx.conn) for t in migratable(ctx)])

    def render_verify(self, ctx) -> Rendered:
        # exactly the legacy columns, in order, with their types
        checks = []
        for t in migratable(ctx):
            checks.append(sql.SQL("""DO $$ BEGIN IF EXISTS (
              (SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped
               EXCEPT SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = {view}::regclass AND attnum > 0)
              UNION ALL
              (SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = {view}::regclass AND attnum > 0
               EXCEPT SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped))
              THEN RAISE EXCEPTION 'compat view of % differs from the legacy columns', {tname}; END IF; END $$""").format(
                legacy=sql.Literal(sql.Identifier("public", t.table_name).as_string(ctx.conn)),
                view=sql.Literal(sql.Identifier("public", render.compat_view_name(t.table_name)).as_string(ctx.conn)),
                tname=sql.Literal(t.table_name)).as_string(ctx.conn))
        return Rendered(checks)


@dataclass
class ReverseSync(Step):
    def render_deploy(self, ctx) -> Rendered:
        tables = migratable(ctx)
        return Rendered([
            compose(ctx.conn, render.provenance_function(tables, ctx.conn)),
            compose(ctx.conn, render.revoke_execute(sql.Identifier("cqms_migration", "p02_audit_provenance"))),
            "CREATE TRIGGER cqms_p02_provenance BEFORE INSERT ON public.audits FOR EACH ROW "
            "EXECUTE FUNCTION cqms_migration.p02_audit_provenance()",
            compose(ctx.conn, render.reverse_sync_function(tables, ctx.conn)),
            compose(ctx.conn, render.revoke_execute(sql.Identifier("cqms_migration", "p02_reverse_sync"))),
            "CREATE TRIGGER cqms_p02_reverse_sync AFTER INSERT OR UPDATE OR DELETE ON public.audits FOR EACH ROW "
            "EXECUTE FUNCTION cqms_migration.p02_reverse_sync()",
        ])

    def render_revert(self, ctx) -> Rendered:
        return Rendered([
            "DROP TRIGGER IF EXISTS cqms_p02_reverse_sync ON public.audits",
            "DROP FUNCTION IF EXISTS cqms_migration.p02_reverse_sync()",
            "DROP TRIGGER IF EXISTS cqms_p02_provenance ON public.audits",
            "DROP FUNCTION IF EXISTS cqms_migration.p02_audit_provenance()",
        ])


def _sql(name: str, summary: str, cls=SqlStep):
    return cls(PHASE, name, summary, directory=HERE)


BUILD_STEPS = ["snapshot_legacy", "create_audits", "install_sync_triggers", "backfill", "create_indexes",
               "create_compat_views", "enable_rls"]
CUTOVER_STEPS = ["install_reverse_sync", "enable_feature_flag"]


def steps(ctx) -> list[Step]:
    return [
        SnapshotLegacy(PHASE, "snapshot_legacy", "checksum every legacy table (compared after revert)"),
        _sql("create_audits", "audits (partitioned if params say so), audit_errors, passing-status map", CreateAudits),
        SyncTriggers(PHASE, "install_sync_triggers", "legacy -> audits triggers on every dynamic table"),
        Backfill(PHASE, "backfill", "keyset batches, resumable, quarantine what cannot migrate"),
        CreateIndexes(PHASE, "create_indexes", "the seed's indexes, CONCURRENTLY, after the load"),
        CompatViews(PHASE, "create_compat_views", "<table>_compat views (security_invoker)"),
        _sql("enable_rls", "row level security and grants on audits and audit_errors"),
        ReverseSync(PHASE, "install_reverse_sync", "audits -> legacy triggers (cutover)"),
        FlagStep(PHASE, "enable_feature_flag", f"{FLAG} on (only after validation)", flag=FLAG),
    ]


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------

@dataclass
class Validation:
    reconciliation: pd.DataFrame
    checks: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and bool(self.reconciliation["reconciles"].all()) \
            and bool(self.reconciliation["checksum equal"].all())

    def raise_if_failed(self) -> None:
        if not self.ok:
            bad = list(self.checks.loc[~self.checks["ok"], "check"])
            bad += [f"{t} does not reconcile" for t in self.reconciliation.index[
                ~(self.reconciliation["reconciles"] & self.reconciliation["checksum equal"])]]
            raise CheckFailed(f"phase {PHASE} validation failed: {'; '.join(bad)}; the feature flag stays off")


def _row_hash_sum(conn, relation: sql.Composable, where: sql.Composable = sql.SQL("true")) -> tuple[int, str]:
    return conn.execute(sql.SQL(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text "
        "FROM {} t WHERE {}").format(relation, where)).fetchone()


def validate(conn: psycopg.Connection, tables: list[inventory.AuditTable]) -> Validation:
    rows, checks = [], []
    for t in tables:
        legacy = sql.Identifier("public", t.table_name)
        view = sql.Identifier("public", render.compat_view_name(t.table_name))
        not_quarantined = sql.SQL("NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q WHERE q.phase = {} "
                                  "AND q.source_table = {} AND q.source_key = t.id::text)").format(
            sql.Literal(PHASE), sql.Literal(t.table_name))
        n_legacy = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(legacy)).fetchone()[0]
        n_migrated = conn.execute("SELECT count(*) FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL",
                                  (t.table_name,)).fetchone()[0]
        n_quarantined = conn.execute("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                                     (PHASE, t.table_name)).fetchone()[0]
        legacy_sum = _row_hash_sum(conn, legacy, not_quarantined)
        compat_sum = _row_hash_sum(conn, view)
        missing = conn.execute(sql.SQL("SELECT count(*) FROM (SELECT * FROM {} t WHERE {} EXCEPT ALL SELECT * FROM {}) x")
                               .format(legacy, not_quarantined, view)).fetchone()[0]
        extra = conn.execute(sql.SQL("SELECT count(*) FROM (SELECT * FROM {} EXCEPT ALL SELECT * FROM {}) x")
                             .format(view, legacy)).fetchone()[0]
        rows.append({"legacy table": t.table_name, "scorecard": t.scorecard_name, "legacy rows": n_legacy,
                     "migrated": n_migrated, "quarantined": n_quarantined,
                     "reconciles": n_legacy == n_migrated + n_quarantined,
                     "checksum equal": legacy_sum == compat_sum, "legacy EXCEPT compat": missing,
                     "compat EXCEPT legacy": extra})
    recon = pd.DataFrame(rows).set_index("legacy table") if rows else pd.DataFrame(
        columns=["reconciles", "checksum equal"])

    def check(name, bad):
        checks.append({"check": name, "violations": int(bad), "ok": bad == 0})

    for r in rows:
        check(f"{r['legacy table']}: compat view returns every migrated legacy row", r["legacy EXCEPT compat"])
        check(f"{r['legacy table']}: compat view returns no row the legacy table lacks", r["compat EXCEPT legacy"])
    over = conn.execute("SELECT count(*) FROM public.audits a JOIN public.scorecards s ON s.id = a.scorecard_id "
                        "WHERE a.percentage_score > 100 AND NOT coalesce(s.allow_over_100, false)").fetchone()[0]
    check("scores over 100 only on allow_over_100 scorecards", over)
    not_valid = conn.execute("SELECT count(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                             "WHERE t.relname IN ('audits', 'audit_errors') AND NOT c.convalidated").fetchone()[0]
    check("no constraint left NOT VALID", not_valid)
    orphan_errors = conn.execute("SELECT count(*) FROM public.audit_errors e WHERE NOT EXISTS "
                                 "(SELECT 1 FROM public.audits a WHERE a.id = e.audit_id)").fetchone()[0]
    check("every audit_errors row belongs to an audit", orphan_errors)
    unfinished = conn.execute("SELECT count(*) FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%%' "
                              "AND NOT finished").fetchone()[0]
    check("every backfill job finished", unfinished)
    quarantine = pd.DataFrame(conn.execute(
        "SELECT reason, count(*) AS rows, count(DISTINCT source_table) AS tables FROM cqms_migration.quarantine "
        "WHERE phase = %s GROUP BY 1 ORDER BY 2 DESC", (PHASE,)).fetchall(), columns=["reason", "rows", "tables"])
    end_read(conn)
    return Validation(recon, pd.DataFrame(checks), quarantine)


# ---------------------------------------------------------------------------------------
# what the notebook calls (dry-run aware)
# ---------------------------------------------------------------------------------------

def discovery(ctx) -> pd.DataFrame:
    inv = _inventory(ctx)
    df = inv.frame()
    df["migrated by this phase"] = [t.migratable for t in inv.tables]
    return df


def deploy_build(ctx) -> pd.DataFrame:
    from .. import deploy_selected
    ctx.require_phase(*REQUIRES)
    return deploy_selected(ctx, steps(ctx), BUILD_STEPS)


def validation(ctx) -> Validation | None:
    if ctx.dry_run:
        ctx.log("dry run: nothing was built, so nothing to validate")
        return None
    v = validate(ctx.conn, migratable(ctx))
    ctx.ledger.record_metric(PHASE, "reconciliation", v.reconciliation.reset_index().to_dict("records"))
    ctx.ledger.record_metric(PHASE, "quarantine", v.quarantine.to_dict("records"))
    return v


def cutover(ctx, v: Validation | None) -> pd.DataFrame:
    """Reverse sync and flag on only when validation passed (raises otherwise)."""
    from .. import cutover as gate
    return gate(ctx, v, steps(ctx), CUTOVER_STEPS)


SLOW_BATCH_FRACTION = 0.25   # a batch below this share of the median rows/s is flagged


@dataclass
class Throughput:
    batches: pd.DataFrame        # one row per batch of this run, flagged 'slow' when far below the median
    per_table: pd.DataFrame
    summary: pd.DataFrame        # the figures a reviewer reads, with the baseline when measured
    decisions: pd.DataFrame      # what the batch engine decided and why
    figures: dict

    @property
    def slow(self) -> pd.DataFrame:
        return self.batches[self.batches["slow"]] if not self.batches.empty else self.batches


def throughput(ctx) -> Throughput:
    """The backfill of this run: per batch (rows/s, the engine's size decisions, slow batches
    flagged), per table, and the overall figures next to the unbatched baseline if measured."""
    empty = pd.DataFrame()
    if ctx.dry_run or not ctx.has_ledger:
        return Throughput(empty, empty, empty, empty, {})
    df = ctx.ledger.batches(PHASE, ctx.run_id)
    decisions = ctx.ledger.decisions(PHASE, ctx.run_id)
    if df.empty:
        return Throughput(df, empty, pd.DataFrame({"value": ["no backfill batch ran in this run "
                                                            "(already complete)"]}, index=["backfill"]),
                          decisions, {})
    df["table"] = df["job"].str.split(":", n=1).str[1]
    df["rows/s"] = (df["rows_read"] / df["seconds"].clip(lower=1e-6)).round(0)
    df["cumulative rows"] = df["rows_read"].cumsum()
    start = df["finished_at"].iloc[0] - pd.to_timedelta(df["seconds"].iloc[0], unit="s")
    df["elapsed s"] = (df["finished_at"] - start).dt.total_seconds().round(2)
    # a batch is judged by its rate only when it read a meaningful number of rows
    judged = df[df["rows_read"] >= 50]
    median = float(judged["rows/s"].median()) if not judged.empty else None
    p5 = float(judged["rows/s"].quantile(0.05)) if not judged.empty else None
    df["slow"] = (df["rows_read"] >= 50) & (df["rows/s"] < SLOW_BATCH_FRACTION * (median or 0))
    rows, batch_secs = int(df["rows_read"].sum()), float(df["seconds"].sum())
    wall = float(df["elapsed s"].iloc[-1]) or batch_secs
    figures = {"rows": rows, "batches": len(df), "wall_seconds": round(wall, 2), "batch_seconds": round(batch_secs, 2),
               "rows_per_s": round(rows / wall) if wall else None,
               "median_batch_rows_per_s": round(median) if median else None,
               "p5_batch_rows_per_s": round(p5) if p5 else None,
               "p5_over_median": round(p5 / median, 3) if median else None,
               "slow_batches": int(df["slow"].sum()), "throttled": int((decisions["decision"] == "throttle").sum())
               if not decisions.empty else 0}
    base = ctx.ledger.frame("SELECT value FROM cqms_migration.metrics WHERE phase = %s AND name = 'unbatched_baseline' "
                            "ORDER BY id DESC LIMIT 1", (PHASE,))
    if not base.empty:
        b = base["value"].iloc[0]
        figures["unbatched_rows_per_s"] = b.get("unbatched_rows_per_s")
        figures["raw_copy_rows_per_s"] = b.get("raw_copy_rows_per_s")
        if b.get("unbatched_rows_per_s") and figures["rows_per_s"]:
            figures["backfill_over_unbatched"] = round(figures["rows_per_s"] / b["unbatched_rows_per_s"], 3)
        if b.get("raw_copy_rows_per_s") and figures["rows_per_s"]:
            figures["raw_copy_factor"] = round(b["raw_copy_rows_per_s"] / figures["rows_per_s"], 1)
    ctx.ledger.record_metric(PHASE, "backfill_throughput", figures)
    per_table = df.groupby("table", sort=False).agg(
        batches=("batch", "count"), rows=("rows_read", "sum"), migrated=("rows_written", "sum"),
        quarantined=("rows_quarantined", "sum"), seconds=("seconds", "sum"), slow_batches=("slow", "sum"))
    per_table["rows/s"] = (per_table["rows"] / per_table["seconds"].clip(lower=1e-6)).round(0)
    labels = {
        "rows": "rows read by the backfill", "batches": "batches", "wall_seconds": "wall time, s",
        "rows_per_s": "backfill rows/s (wall)", "median_batch_rows_per_s": "median batch rows/s",
        "p5_batch_rows_per_s": "p5 batch rows/s", "p5_over_median": "p5 / median (>= 0.5 expected)",
        "slow_batches": f"batches below {SLOW_BATCH_FRACTION:.0%} of the median (listed below)",
        "throttled": "health-check throttles", "unbatched_rows_per_s": "same work unbatched, rows/s (baseline)",
        "backfill_over_unbatched": "backfill / unbatched (>= 0.7 expected)",
        "raw_copy_rows_per_s": "raw copy of the legacy rows, rows/s (floor)",
        "raw_copy_factor": "raw copy is this many times faster",
    }
    shown = lambda v: f"{v:,}" if isinstance(v, int) else str(v)
    summary = pd.DataFrame({"value": [shown(figures[k]) for k in labels if k in figures]},
                           index=[labels[k] for k in labels if k in figures])
    df.attrs["overall_rows_per_s"] = figures["rows_per_s"]
    return Throughput(df, per_table, summary, decisions, figures)


def throughput_chart(tp: Throughput):
    """Backfill throughput over time: rows/s of each batch (coloured by table, slow batches
    ringed in red) and the cumulative rows migrated."""
    import matplotlib.pyplot as plt
    df = tp.batches
    fig, ax = plt.subplots(figsize=(10, 3.5))
    if df.empty:
        ax.text(0.5, 0.5, "no batches in this run (already complete or dry run)", ha="center")
        return fig
    for name, g in df.groupby("table", sort=False):
        ax.plot(g["elapsed s"], g["rows/s"], marker="o", markersize=3, linestyle="-", label=name)
    slow = tp.slow
    if not slow.empty:
        ax.scatter(slow["elapsed s"], slow["rows/s"], s=80, facecolors="none", edgecolors="red", label="slow batch")
    if tp.figures.get("median_batch_rows_per_s"):
        ax.axhline(tp.figures["median_batch_rows_per_s"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("seconds since the backfill started")
    ax.set_ylabel("rows/s per batch")
    ax.set_ylim(bottom=0)
    cumulative = ax.twinx()
    cumulative.plot(df["elapsed s"], df["cumulative rows"], color="black", linewidth=1, linestyle="--")
    cumulative.set_ylabel("rows backfilled (dashed)")
    cumulative.set_ylim(bottom=0)
    ax.set_title(f"Backfill throughput — {tp.figures.get('rows_per_s')} rows/s overall, "
                 f"median batch {tp.figures.get('median_batch_rows_per_s')} rows/s (dotted)")
    ax.legend(fontsize=6, ncol=5, loc="lower left")
    fig.tight_layout()
    return fig


def before_revert(ctx):
    from ..p01_foundation import saved_checksums
    return saved_checksums(ctx.conn, PHASE)


def after_revert(ctx, state) -> pd.DataFrame:
    from ..p01_foundation import legacy_unchanged
    if ctx.dry_run or state is None or state.empty:
        return pd.DataFrame()
    return legacy_unchanged(ctx.conn, state)
