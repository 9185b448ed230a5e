"""Phase 3 (relationships), part 1: assignments with real foreign keys, from the legacy
audit_assignments while the application keeps writing it. Seed sections 2.4 and 3.2 Phase 3.

The folder, by concern:
  mapping.py     legacy row -> assignments row (the shaped SELECT), p03_apply, the vocabularies
  tables.py      assignments and its bookkeeping; the value maps; the indexes; the foreign keys
  sync.py        forward sync (legacy -> assignments) and the retries (a hire, an audit appears)
  backfill.py    the backfill on the batch engine (batching.HeapPageJob)
  rename.py      the rename of scorecard_perameters behind a writable compat view
  validation.py  reconciliation, equality with the mapping, foreign keys validated, the outcome
  templates/     SQL filled through psycopg.sql; deploy/ verify/ revert/: static SQL

Steps (deploy in order, revert in reverse):
  snapshot_legacy        checksum every legacy table
  create_assignments     assignments (deny-by-default), claims, waiting list, value map
  load_value_maps        the vocabularies of status and source_type
  enable_rls             who reads which assignments (no API writes before cutover)
  install_sync_triggers  legacy -> assignments statement triggers; retries on employees and audits
  backfill               heap-page batches, resumable; quarantine what does not resolve
  create_indexes         the seed's indexes, CONCURRENTLY, after the load
  add_foreign_keys       the seed's keys, NOT VALID then validated
  rename_parameters      scorecard_perameters -> scorecard_parameters, the old name a writable compat view
  open_writes            (cutover) write policies, the column guard, assignments -> legacy reverse sync
  enable_feature_flag    (cutover) USE_UNIFIED_ASSIGNMENTS on, only after validation

Not yet (issue 22): column rights on employees.
"""

from __future__ import annotations

from psycopg import sql

from ...common_steps import ComparesLegacyOnRevert, FlagStep, SnapshotLegacy
from ...steps import SqlStep, Step
from ..base import Phase, record_validation
from . import mapping
from .backfill import Backfill
from .cutover import OpenWrites
from .mapping import HERE, PHASE, TABLE
from .rename import RENAMES, RenameParameters
from .sync import SyncTriggers
from .tables import INDEX_FILE, AssignmentIndexes, CreateAssignments, ForeignKeys, ValueMaps
from .validation import COMPARED, Validation, expected, validate

__all__ = ["PHASE", "FLAG", "BUILD_STEPS", "CUTOVER_STEPS", "Relationships", "plan", "validate", "Validation"]

FLAG = "USE_UNIFIED_ASSIGNMENTS"
BUILD_STEPS = ["snapshot_legacy", "create_assignments", "load_value_maps", "enable_rls", "install_sync_triggers",
               "backfill", "create_indexes", "add_foreign_keys", "rename_parameters"]
CUTOVER_STEPS = ["open_writes", "enable_feature_flag"]


def plan(ctx) -> list[Step]:
    return [
        SnapshotLegacy(PHASE, "snapshot_legacy", "checksum every legacy table (compared after revert)"),
        CreateAssignments(PHASE, "create_assignments", "assignments (deny-by-default), claims, waiting list, value map",
                          directory=HERE),
        ValueMaps(PHASE, "load_value_maps", "the vocabularies of status and source_type"),
        SqlStep(PHASE, "enable_rls", "who reads which assignments; no API writes before cutover", directory=HERE),
        SyncTriggers(PHASE, "install_sync_triggers", "legacy -> assignments triggers; retries when a hire or an audit appears"),
        Backfill(PHASE, "backfill", "heap-page batches on the batch engine, resumable; quarantine what does not resolve",
                 directory=HERE),
        AssignmentIndexes(PHASE, "create_indexes", "the seed's indexes, CONCURRENTLY, after the load", index_file=INDEX_FILE),
        ForeignKeys(PHASE, "add_foreign_keys", "the seed's foreign keys, NOT VALID then validated"),
        RenameParameters(PHASE, "rename_parameters", "scorecard_perameters renamed scorecard_parameters; the old name a "
                         "writable security_invoker compat view with the table's rights"),
        OpenWrites(PHASE, "open_writes", "write policies, the column guard and the reverse sync to the legacy table (cutover)"),
        FlagStep(PHASE, "enable_feature_flag", f"{FLAG} on (only after validation)", flag=FLAG),
    ]


class Relationships(ComparesLegacyOnRevert, Phase):
    name = PHASE
    title = "Relationships: assignments with real foreign keys, synced from the legacy rows"
    flag = FLAG
    requires = (("02_audit_unification", ("backfill",)),)
    build = tuple(BUILD_STEPS)
    cutover_steps = tuple(CUTOVER_STEPS)
    figures = ("outcome", "reconciliation", "quarantine", "checks", "email_joins", "advisor")
    creates_tables = ("assignments",)
    renames_tables = RENAMES
    backfill_marker = mapping.BACKFILL_MARKER

    def plan(self, ctx) -> list[Step]:
        return plan(ctx)

    def validate(self, ctx) -> Validation:
        from ... import email_joins
        v = validate(ctx.conn, ctx.params)
        record_validation(ctx, PHASE, v)
        ctx.ledger.record_metric(PHASE, "email_joins", email_joins.summary(v.email_joins))
        return v

    def before_revert(self, ctx):
        """Says what the rollback cannot carry back (decision 3.11): values written through
        assignments that the legacy table has no column for go with the table."""
        from ...db import end_read
        if not ctx.dry_run and ctx.conn.execute("SELECT to_regclass('public.assignments') IS NOT NULL").fetchone()[0]:
            n = ctx.conn.execute(
                "SELECT count(*) FROM public.assignments WHERE priority IS DISTINCT FROM 'normal' OR due_date IS NOT NULL "
                "OR cancelled_at IS NOT NULL OR cancelled_by IS NOT NULL OR cancellation_reason IS NOT NULL "
                "OR completion_notes IS NOT NULL OR interaction_id IS NOT NULL OR tags IS NOT NULL "
                "OR metadata IS DISTINCT FROM '{}'::jsonb").fetchone()[0]
            end_read(ctx.conn)
            if n:
                ctx.log(f"{n:,} assignments hold values audit_assignments has no column for (priority, due date, "
                        "cancellation, notes, interaction id, tags, metadata): they go with assignments (decision 3.11)")
        return super().before_revert(ctx)

    def verify(self, conn, limit: int = 20, helper=None) -> list:
        """assignments against the mapping of the legacy rows now (the resolved ids recomputed)."""
        from ...verify import compare
        if not conn.execute("SELECT to_regclass('public.assignments') IS NOT NULL").fetchone()[0]:
            return []
        shape = _shape_in_snapshot(conn)
        cols = [c for c in COMPARED if c != "id"]
        sel = sql.SQL(", ").join(map(sql.Identifier, COMPARED))
        actual = sql.SQL("SELECT {} FROM public.assignments").format(sel)
        return [compare(conn, "assignments", expected(shape), actual, "id", cols, limit, helper)]


    def notebook(self) -> list:
        from .notebook import cells
        return cells()


def _shape_in_snapshot(conn):
    """The legacy shape read inside the caller's snapshot (mapping.shape ends the read)."""
    from ... import legacy_shape
    return legacy_shape.shape_of(TABLE, legacy_shape.table_columns(conn, TABLE))
