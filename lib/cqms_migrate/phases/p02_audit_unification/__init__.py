"""Phase 2 (audit unification): one audits table from every dynamic table while the
application keeps writing. Seed sections 2.3, 3.2 Phase 2, 3.4.

The folder, by concern:
  mapping.py     legacy row -> audits row (the shaped SELECT) and the backfill's batch statements
  values.py      the vocabularies: value maps, and each legacy table's spellings for writes back
  discovery.py   the application's get_audit_tables() keeps its answer (wrapped for the transition)
  tables.py      audits/audit_errors and their partitions; the legacy inventory; the indexes
  sync.py        forward sync (legacy -> audits) and, at cutover, reverse sync (audits -> legacy)
  backfill.py    the backfill job on the batch engine, and its unbatched baseline
  compat.py      <table>_compat views with the legacy tables' rights
  validation.py  reconciliation, checksums, EXCEPT ALL
  report.py      throughput per batch, per table, against the baseline
  notebook.py    the notebook's cells
  templates/     per-table SQL (filled through psycopg.sql); deploy/ verify/ revert/: static SQL

Steps (deploy in order, revert in reverse):
  snapshot_legacy        checksum every legacy table
  wrap_discovery         the application's get_audit_tables() moved aside and wrapped: it never lists audits
  create_audits          audits (+ yearly partitions if params say so), audit_errors, ledger tables
  load_value_maps        the vocabularies (statuses, channels) from the defaults and params
  load_parameter_kinds   what each parameter column means (parameters.py): count, flag, points, feedback
  enable_rls             policies and grants on audits / audit_errors (before anything writes them)
  install_sync_triggers  legacy -> audits triggers, one legacy table per transaction
  backfill               heap-page batches on the batch engine, resumable
  create_indexes         the seed's indexes, built CONCURRENTLY after the load
  create_compat_views    <table>_compat for every dynamic table (security_invoker)
  install_reverse_sync   audits -> legacy triggers (after validation: cutover)
  enable_feature_flag    USE_UNIFIED_AUDITS_TABLE on (after validation)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...common_steps import ComparesLegacyOnRevert, FlagStep, SnapshotLegacy
from ...steps import SqlStep, Step
from ..base import Phase, record_validation
from . import compat, mapping, sync  # noqa: F401 - the folder's modules, by concern
from .backfill import Backfill, HeapPageBackfill, backfill_table, measure_unbatched_baseline  # noqa: F401
from .compat import CompatViews, compat_view_name  # noqa: F401
from .mapping import PHASE
from .report import SLOW_BATCH_FRACTION, Throughput, throughput, throughput_chart  # noqa: F401
from .sync import ReverseSync, SyncTriggers
from .tables import AuditIndexes, CreateAudits, _inventory, migratable, partition_names, partitioned  # noqa: F401
from .validation import Validation, validate  # noqa: F401
from .values import ParameterKinds, ValueMaps
from .discovery import WrapDiscovery

__all__ = ["PHASE", "FLAG", "BUILD_STEPS", "CUTOVER_STEPS", "AuditUnification", "PHASE_OBJECT", "steps", "plan",
           "discovery", "migratable", "partitioned", "partition_names", "validate", "Validation", "throughput",
           "throughput_chart", "Throughput", "SLOW_BATCH_FRACTION", "HeapPageBackfill", "backfill_table",
           "measure_unbatched_baseline", "compat_view_name", "compat", "mapping", "sync"]

FLAG = "USE_UNIFIED_AUDITS_TABLE"
HERE = Path(__file__).resolve().parent

BUILD_STEPS = ["snapshot_legacy", "wrap_discovery", "create_audits", "load_value_maps", "load_parameter_kinds", "enable_rls", "install_sync_triggers", "backfill",
               "create_indexes", "create_compat_views"]
CUTOVER_STEPS = ["install_reverse_sync", "enable_feature_flag"]


def plan(ctx) -> list[Step]:
    return [
        SnapshotLegacy(PHASE, "snapshot_legacy", "checksum every legacy table (compared after revert)"),
        # before audits exists: the application's get_audit_tables() never lists it
        WrapDiscovery(PHASE, "wrap_discovery", "the application's get_audit_tables() wrapped: it never lists the runbook's relations"),
        CreateAudits(PHASE, "create_audits", "audits (partitioned if params say so), audit_errors, passing-status map",
                     directory=HERE),
        ValueMaps(PHASE, "load_value_maps", "the vocabularies: legacy spellings of each constrained value (defaults + params)"),
        ParameterKinds(PHASE, "load_parameter_kinds", "what each parameter column means: error count, flag, points, feedback"),
        # policies before the sync: CREATE POLICY locks audits; while nothing writes it, it waits for no one
        SqlStep(PHASE, "enable_rls", "row level security and grants on audits and audit_errors", directory=HERE),
        SyncTriggers(PHASE, "install_sync_triggers", "legacy -> audits triggers, one legacy table per transaction"),
        Backfill(PHASE, "backfill", "heap-page batches on the batch engine, resumable; quarantine what cannot migrate",
                 directory=HERE),
        AuditIndexes(PHASE, "create_indexes", "the seed's indexes, CONCURRENTLY, after the load",
                     index_file=HERE / "templates" / "audit_indexes.sql"),
        CompatViews(PHASE, "create_compat_views", "<table>_compat views (security_invoker), the legacy tables' rights"),
        ReverseSync(PHASE, "install_reverse_sync", "audits -> legacy triggers (cutover)", directory=HERE),
        FlagStep(PHASE, "enable_feature_flag", f"{FLAG} on (only after validation)", flag=FLAG),
    ]


def discovery(ctx) -> pd.DataFrame:
    inv = _inventory(ctx)
    df = inv.frame()
    df["migrated by this phase"] = [t.migratable for t in inv.tables]
    return df


class AuditUnification(ComparesLegacyOnRevert, Phase):
    name = PHASE
    title = "Audit unification: one audits table, synced, reconciled, reversible"
    flag = FLAG
    requires = (("01_foundation", ("merge_employees", "create_compat_views")),)
    build = tuple(BUILD_STEPS)
    cutover_steps = tuple(CUTOVER_STEPS)
    figures = ("outcome", "requeued", "backfill_throughput", "reconciliation", "quarantine", "checks", "advisor")
    creates_tables = ("audits", "audit_errors")
    backfill_marker = "Backfill, statement"

    def plan(self, ctx) -> list[Step]:
        return plan(ctx)

    def validate(self, ctx) -> Validation:
        v = validate(ctx.conn, migratable(ctx), _inventory(ctx).not_migrated(), ctx.params)
        record_validation(ctx, PHASE, v)
        return v

    def verify(self, conn, limit: int = 20, helper=None) -> list:
        """Every adopted table's audits (and the quarantine) against its current rows, under the
        scorecard it was adopted for (params may have chosen it among several: the registry says
        which)."""
        from ... import inventory
        from ...verify import verify_audits
        if not conn.execute("SELECT to_regclass('public.audits') IS NOT NULL").fetchone()[0]:
            return []
        adopted = dict(conn.execute("SELECT legacy_table, scorecard_id::text FROM cqms_migration.p02_legacy_tables"
                                    ).fetchall())
        tables = []
        for t in inventory.with_feedback(conn, inventory.discover(conn, with_counts=False).tables):
            if t.table_name in adopted and t.exists:
                t.scorecard_id, t.identifier_problem = adopted[t.table_name], None
                if t.migratable:
                    tables.append(t)
        return verify_audits(conn, tables, limit, helper)

    def notebook(self) -> list:
        from .notebook import cells
        return cells()


PHASE_OBJECT = AuditUnification()


def steps(ctx) -> list[Step]:
    """The phase's steps with their ordinals (the phase object's plan)."""
    return PHASE_OBJECT.steps(ctx)
