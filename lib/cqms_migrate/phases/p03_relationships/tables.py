"""assignments and its bookkeeping (create_assignments), the vocabularies (load_value_maps), the
seed's indexes (create_indexes) and the foreign keys (add_foreign_keys)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...db import end_read
from ...constraints import ForeignKey, ValidatedConstraints
from ...ddl import ConcurrentIndexes
from ...steps import Rendered, SqlStep, Step, compose
from .mapping import HERE, PHASE, template, value_map


def partitioned(ctx) -> bool:
    """Whether audits is partitioned (its key is then (id, interaction_date))."""
    row = ctx.conn.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('public.audits')").fetchone()
    end_read(ctx.conn)
    return bool(row and row[0])


@dataclass
class CreateAssignments(SqlStep):
    def render_deploy(self, ctx) -> Rendered:
        col = sql.SQL("audit_interaction_date date," if partitioned(ctx) else "")
        return Rendered([compose(ctx.conn, template("create_assignments").format(audit_date_column=col))])


@dataclass
class ValueMaps(Step):
    """cqms_migration.p03_value_map from the built-in vocabularies (mapping.VOCABULARIES)."""

    def render_deploy(self, ctx) -> Rendered:
        out = [compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p03_value_map"))]
        for name, m in sorted(value_map().items()):
            for k, v in sorted(m.items()):
                out.append(compose(ctx.conn, sql.SQL(
                    "INSERT INTO cqms_migration.p03_value_map (vocabulary, legacy, value) VALUES ({}, {}, {})").format(
                    sql.Literal(name), sql.Literal(k), sql.Literal(v))))
        return Rendered(out)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p03_value_map"))])

    def render_verify(self, ctx) -> Rendered:
        n = sum(len(m) for m in value_map().values())
        return Rendered([compose(ctx.conn, sql.SQL(
            "DO $$ BEGIN IF (SELECT count(*) FROM cqms_migration.p03_value_map) <> {} THEN "
            "RAISE EXCEPTION 'the assignment vocabularies are not loaded'; END IF; END $$").format(sql.Literal(n)))])


@dataclass
class AssignmentIndexes(ConcurrentIndexes):
    """templates/assignment_indexes.sql."""


def foreign_keys(ctx) -> tuple[ForeignKey, ...]:
    t = "assignments"
    keys = [ForeignKey(t, f"assignments_{c}_fkey", (c,), "employees", ("id",))
            for c in ("employee_id", "auditor_id", "assigner_id", "cancelled_by")]
    # a scorecard deleted in the statement that deletes its legacy assignments (the legacy key
    # accepts that): the key is checked before the sync's statement trigger removes the assignments,
    # so it lets go (SET NULL) rather than refuse the application's statement
    keys.append(ForeignKey(t, "assignments_scorecard_id_fkey", ("scorecard_id",), "scorecards", ("id",),
                           on_delete="SET NULL"))
    # an audit removed (an admin's hard delete) leaves the assignment, unlinked, as the legacy row did;
    # partitioned, an audit moved to another date (its key changes) takes its assignments along
    if partitioned(ctx):
        keys.append(ForeignKey(t, "assignments_audit_id_fkey", ("audit_id", "audit_interaction_date"), "audits",
                               ("id", "interaction_date"), on_delete="SET NULL", on_update="CASCADE"))
    else:
        keys.append(ForeignKey(t, "assignments_audit_id_fkey", ("audit_id",), "audits", ("id",), on_delete="SET NULL"))
    return tuple(keys)


@dataclass
class ForeignKeys(ValidatedConstraints):
    """The seed's foreign keys, NOT VALID then validated (constraints.ValidatedConstraints); the
    set depends on whether audits is partitioned, so it is decided when rendered."""

    def _bind(self, ctx) -> None:
        self.constraints = foreign_keys(ctx)

    def render_deploy(self, ctx) -> Rendered:
        self._bind(ctx)
        return super().render_deploy(ctx)

    def render_revert(self, ctx) -> Rendered:
        self._bind(ctx)
        return super().render_revert(ctx)

    def render_verify(self, ctx) -> Rendered:
        self._bind(ctx)
        return super().render_verify(ctx)

    def execution_units(self, ctx, action: str):
        self._bind(ctx)
        return super().execution_units(ctx, action)


INDEX_FILE = HERE / "templates" / "assignment_indexes.sql"
__all__ = ["CreateAssignments", "ValueMaps", "AssignmentIndexes", "ForeignKeys", "foreign_keys", "partitioned",
           "INDEX_FILE", "PHASE"]
