"""Phase 3's validation, in one snapshot: every legacy assignment is migrated or quarantined,
exactly; assignments equals the mapping of the legacy rows as they are now (EXCEPT both ways on
every column the legacy rows decide); every foreign key is validated; and the outcome's verdict
(outcome.gate: the quarantined share under params' ceilings). It also reports the objects that
still join on email (email_joins.scan)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from ... import email_joins, outcome
from ...db import one_snapshot
from ...errors import CheckFailed
from ...outcome import Outcome
from . import mapping
from .mapping import PHASE, TABLE

# the columns the legacy rows decide (priority, due dates and cancellation are the unified path's)
COMPARED = ("id", "employee_id", "auditor_id", "assigner_id", "scorecard_id", "status", "scheduled_date", "week",
            "quarter", "conversation_id", "intercom_alias", "source_type", "completed_at", "audit_id", "created_at")


@dataclass
class Validation:
    reconciliation: pd.DataFrame
    checks: pd.DataFrame
    quarantine: pd.DataFrame
    outcome: "Outcome | None" = None
    # every object that still joins on email, runbook's and application's (email_joins.scan)
    email_joins: "pd.DataFrame | None" = None

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and (self.outcome is None or self.outcome.ok)

    def raise_if_failed(self) -> None:
        if not self.ok:
            bad = list(self.outcome.failures) if self.outcome is not None else []
            bad += list(self.checks.loc[~self.checks["ok"], "check"])
            raise CheckFailed(f"phase {PHASE} validation failed: {'; '.join(bad)}; the feature flag stays off")


def expected(shape) -> sql.Composed:
    """What assignments must hold now: the mapping of every legacy row that resolves and is the
    only holder of its id (p03_apply's rule: one uuid held twice is quarantined as duplicate_id).
    Validation and verify (Relationships.verify) both compare against this."""
    return sql.SQL("SELECT {cols} FROM (SELECT x.*, count(*) OVER (PARTITION BY coalesce(x.id::text, x.key)) AS holders "
                   "FROM ({shaped}) x) y WHERE y.reason IS NULL AND y.holders = 1").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, COMPARED)),
        shaped=mapping.shaped(shape, sql.SQL("public.{} t").format(sql.Identifier(TABLE))))


def differences(conn: psycopg.Connection, shape, limit: int = 20) -> tuple[int, int, list[str]]:
    """(rows only in assignments, rows only in the mapping, examples) over COMPARED."""
    cols = sql.SQL(", ").join(map(sql.Identifier, COMPARED))
    expected_rows = expected(shape)
    actual = sql.SQL("SELECT {} FROM public.assignments").format(cols)
    extra = conn.execute(sql.SQL("SELECT count(*), (array_agg(z.id::text))[1:{}] FROM ({} EXCEPT ALL {}) z").format(
        sql.Literal(limit), actual, expected_rows)).fetchone()
    missing = conn.execute(sql.SQL("SELECT count(*), (array_agg(z.id::text))[1:{}] FROM ({} EXCEPT ALL {}) z").format(
        sql.Literal(limit), expected_rows, actual)).fetchone()
    return int(extra[0]), int(missing[0]), list(extra[1] or []) + list(missing[1] or [])


def validate(conn: psycopg.Connection, params=None) -> Validation:
    shape = mapping.shape(conn)
    with one_snapshot(conn):
        legacy, no_id = conn.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE t.{} IS NULL) FROM public.{} t").format(
            sql.Identifier(shape.name("id")), sql.Identifier(TABLE))).fetchone()
        migrated = conn.execute("SELECT count(*) FROM public.assignments").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                                   (PHASE, TABLE)).fetchone()[0]
        by_reason = pd.DataFrame(conn.execute(
            "SELECT reason, count(*) AS rows FROM cqms_migration.quarantine WHERE phase = %s GROUP BY 1 ORDER BY 2 DESC",
            (PHASE,)).fetchall(), columns=["reason", "rows"])
        extra, missing, examples = differences(conn, shape)
        not_valid = [r[0] for r in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'public.assignments'::regclass AND NOT convalidated").fetchall()]
        fks = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.assignments'::regclass "
                           "AND contype = 'f' AND convalidated").fetchone()[0]
        rec = pd.DataFrame([{"table": TABLE, "disposition": "migrated", "legacy rows": int(legacy), "migrated": int(migrated),
                             "quarantined": int(quarantined), "reconciles": legacy == migrated + quarantined}]).set_index("table")
        checks = pd.DataFrame([
            {"check": f"{TABLE}: legacy rows = migrated + quarantined ({legacy:,} = {migrated:,} + {quarantined:,})",
             "ok": legacy == migrated + quarantined},
            {"check": f"assignments equals the mapping of the legacy rows now ({extra:,} extra, {missing:,} missing"
                      + (f"; e.g. {', '.join(examples[:5])}" if examples else "") + ")", "ok": extra == 0 and missing == 0},
            {"check": f"foreign keys validated ({fks}; NOT VALID: {', '.join(not_valid) or 'none'})",
             "ok": not not_valid},
        ])
        # the independent verification (Relationships.verify: the ids recomputed, compared by checksums)
        from ... import verify
        checks = pd.concat([checks, pd.DataFrame([{"check": c["check"], "ok": c["ok"]}
                                                  for c in verify.checks(verify.run(conn, PHASE))])], ignore_index=True)
        v = Validation(rec, checks, by_reason)
        if params is not None:
            v.outcome = outcome.gate(conn, PHASE, rec.assign(merged=0), params, None, "")
    # a report, not a gate (decision 3.10): the application's own email joins keep working while
    # the legacy tables stand; phase 05 must not drop them under it
    v.email_joins = email_joins.scan(conn)
    return v
