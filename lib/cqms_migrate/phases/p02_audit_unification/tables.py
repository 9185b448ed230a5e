"""The new tables of phase 2 (audits, audit_errors, their yearly partitions when params say so)
and what phase 2 knows of the legacy tables: the inventory, discovered once per context."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from ... import inventory
from ...db import end_read
from ...ddl import ConcurrentIndexes
from ...steps import Rendered, SqlStep, compose
from .mapping import template


def _inventory(ctx) -> inventory.Inventory:
    if getattr(ctx, "_p02_inventory", None) is None:
        ctx._p02_inventory = inventory.of_params(ctx.conn, ctx.params)
    return ctx._p02_inventory


def migratable(ctx) -> list[inventory.AuditTable]:
    """The tables to migrate, with their feedback columns as loaded now (load_parameter_kinds)."""
    return inventory.with_feedback(ctx.conn, _inventory(ctx).migratable())


def partitioned(ctx) -> bool:
    return ctx.params.partition_audits == "yearly"


def year_range(ctx) -> tuple[int, int]:
    """The first and last year a partition is needed for: the data's, up to next year."""
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
    lo, hi = year_range(ctx)
    return [f"audits_y{y}" for y in range(lo, hi + 1)] + ["audits_default"]


@dataclass
class CreateAudits(SqlStep):
    """audits and audit_errors (templates/create_audits.sql, filled per partitioning mode), the
    yearly partitions, and the ledger tables phase 2 keeps (claims, adopted tables, vocabularies)."""

    def render_deploy(self, ctx) -> Rendered:
        if partitioned(ctx):
            lo, hi = year_range(ctx)
            parts = [template("partition").format(partition=sql.Identifier("public", f"audits_y{y}"),
                                                  from_date=sql.Literal(dt.date(y, 1, 1)),
                                                  to_date=sql.Literal(dt.date(y + 1, 1, 1)))
                     for y in range(lo, hi + 1)]
            parts.append(template("default_partition").format(partition=sql.Identifier("public", "audits_default")))
            fill = dict(primary_key=sql.SQL("PRIMARY KEY (id, interaction_date)"),
                        partition_by=sql.SQL("PARTITION BY RANGE (interaction_date)"), parent_fk=sql.SQL(""),
                        partitions=sql.SQL(";\n").join(parts) + sql.SQL(";"),
                        errors_fk=sql.SQL("(audit_id, interaction_date) REFERENCES public.audits (id, interaction_date) "
                                          "ON UPDATE CASCADE"),
                        id_lookup=sql.SQL("CREATE INDEX audits_id_lookup ON public.audits (id);"))
        else:
            fill = dict(primary_key=sql.SQL("PRIMARY KEY (id)"), partition_by=sql.SQL(""),
                        parent_fk=sql.SQL("REFERENCES public.audits(id)"), partitions=sql.SQL(""),
                        errors_fk=sql.SQL("(audit_id) REFERENCES public.audits (id)"), id_lookup=sql.SQL(""))
        # never a write target through audits: the core legacy tables and the runbook's own
        fill["not_targets"] = sql.Literal(sorted(set(inventory.core_names()) | set(inventory.runbook_tables())))
        # the table itself, whatever its name now: phase 03 renames it and leaves a view under
        # the legacy name, which a foreign key cannot reference (a re-applied step must not try)
        from ... import phases
        fill["parameters"] = sql.Identifier("public", phases.table_now(ctx.conn, "scorecard_perameters"))
        return Rendered([compose(ctx.conn, template("create_audits").format(**fill))])


@dataclass
class AuditIndexes(ConcurrentIndexes):
    """templates/audit_indexes.sql, on audits or each of its partitions."""

    def partitions(self, ctx) -> list[str]:
        return partition_names(ctx)
