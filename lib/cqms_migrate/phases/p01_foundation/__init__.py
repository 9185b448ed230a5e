"""Phase 1 (foundation): reference tables and one employees table from users + people,
validated, reversible, with backward-compatible views. Seed sections 2.1, 2.2, 3.2, 3.4.

Steps (deploy in order, revert in reverse):
  snapshot_legacy          checksum every legacy table (compared after a revert)
  create_reference_tables  roles, departments, teams, channels, countries
  create_employees         employees, provenance and the legacy email map
  add_circular_keys        departments.manager_id, teams.supervisor_id (after employees exists)
  load_reference_data      roles from params; departments/channels/teams/countries from legacy
  enable_rls               policies and grants for the Supabase roles (before anything writes the tables)
  install_sync_triggers    the mapping as functions; users/people writes reach employees live
  merge_employees          the mapping applied to every email; duplicates merged; bad rows quarantined
  create_compat_views      users_compat, people_compat (security_invoker)
  install_reverse_sync     employees writes reach users/people (revert: fence, then drop)
  enable_feature_flag      USE_UNIFIED_EMPLOYEES_TABLE on — only after validate() passes

The folder, by concern:
  shaped.py         the phase's name and flag, users/people as the catalog has them, SQL files
                    whose placeholders name their columns, the templates
  reference.py      roles and the role mapping from params, reference rows from the legacy values
  sync.py           users + people -> employees live; employees -> users + people before cutover
  legacy_writes.py  the reverse sync's writes, composed for the discovered shape
  merge.py          the merge in chunks of emails, and its revert in chunks
  compat.py         users_compat and people_compat
  validation.py     reconciliation, checks, quarantine, hierarchy; the outcome gate
  report.py         the lookup benchmark, data quality before and after, the legacy checksums
  notebook.py       the notebook's cells
  deploy/ verify/ revert/: static SQL per step; templates/: SQL filled through psycopg.sql
"""

from __future__ import annotations

from ...common_steps import ComparesLegacyOnRevert, FlagStep, SnapshotLegacy, legacy_unchanged  # noqa: F401 - tests use it
from ...steps import Step
from ..base import Phase
from . import compat, legacy_writes, merge  # noqa: F401 - the folder's modules, by concern
from .compat import CompatViews
from .merge import MergeEmployees  # its bounds: merge.MERGE_CHUNK_ROWS, merge.MERGE_CHUNK_BYTES
from .reference import LoadReferenceData, role_mapping  # noqa: F401
from .report import benchmark, lookup_benchmark, quality_before_after, saved_checksums  # noqa: F401
from .shaped import FLAG, HERE, PHASE, ShapedSqlStep, _sql, shapes, template  # noqa: F401
from .sync import ReverseSync, SyncTriggers
from .validation import MAPPED, PEOPLE_KEYED, Validation, validate  # noqa: F401


BUILD_STEPS = ["snapshot_legacy", "create_reference_tables", "create_employees", "add_circular_keys",
               "load_reference_data", "enable_rls", "install_sync_triggers", "merge_employees",
               "create_compat_views", "install_reverse_sync"]
CUTOVER_STEPS = ["enable_feature_flag"]


def plan(ctx) -> list[Step]:
    return [
        SnapshotLegacy(PHASE, "snapshot_legacy", "checksum every legacy table (compared after revert)"),
        _sql("create_reference_tables", "roles, departments, teams, channels, countries"),
        _sql("create_employees", "employees + provenance + legacy email map"),
        _sql("add_circular_keys", "departments.manager_id and teams.supervisor_id foreign keys"),
        _sql("load_reference_data", "roles from params; reference rows from legacy values", LoadReferenceData),
        # policies before the sync: CREATE POLICY locks tables the sync writes; while nothing writes
        # them yet it waits for no one
        _sql("enable_rls", "row level security and grants for anon/authenticated/service_role"),
        SyncTriggers(PHASE, "install_sync_triggers", "users + people -> employees, live (statement triggers)"),
        _sql("merge_employees", "users + people -> employees, a chunk of emails per transaction; duplicates "
             "merged; invalid rows quarantined", MergeEmployees),
        _sql("create_compat_views", "users_compat and people_compat (security_invoker)", CompatViews),
        _sql("install_reverse_sync", "employees -> users + people (a rollback after cutover loses nothing)",
             ReverseSync),
        FlagStep(PHASE, "enable_feature_flag", f"{FLAG} on (only after validation)", flag=FLAG),
    ]


class Foundation(ComparesLegacyOnRevert, Phase):
    name = PHASE
    title = "Foundation: reference tables, employees, compat views"
    flag = FLAG
    build = tuple(BUILD_STEPS)
    cutover_steps = tuple(CUTOVER_STEPS)
    figures = ("outcome", "reconciliation", "checks", "quality", "advisor")
    creates_tables = ("roles", "departments", "teams", "channels", "countries", "employees")
    creates_schemas = ("cqms_security",)
    creates_views = ("users_compat", "people_compat")

    def plan(self, ctx) -> list[Step]:
        return plan(ctx)

    def validate(self, ctx) -> Validation:
        v = validate(ctx.conn, ctx.params)
        ctx.ledger.record_metric(PHASE, "outcome", v.outcome.record())
        ctx.ledger.record_metric(PHASE, "reconciliation", v.reconciliation.reset_index().to_dict("records"))
        ctx.ledger.record_metric(PHASE, "checks", v.checks.to_dict("records"))
        return v

    def verify(self, conn, limit: int = 20, helper=None) -> list:
        """employees against phase 01's mapping of the current users and people rows."""
        from ...verify import verify_employees
        return verify_employees(conn, limit, helper)

    def notebook(self) -> list:
        from .notebook import cells
        return cells()


PHASE_OBJECT = Foundation()


def steps(ctx) -> list[Step]:
    """The phase's steps with their ordinals (the phase object's plan)."""
    return PHASE_OBJECT.steps(ctx)
