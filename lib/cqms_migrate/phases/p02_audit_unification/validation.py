"""Phase 2's validation: per legacy table, rows = migrated + quarantined exactly; the compat
view's checksum equals the checksum of the legacy rows it stands for; EXCEPT ALL both ways is
empty; no constraint left NOT VALID; every backfill job finished."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from ... import inventory, outcome
from ...outcome import Outcome
from ...db import one_snapshot
from ...errors import CheckFailed
from .compat import compat_view_name
from .mapping import PHASE


@dataclass
class Validation:
    reconciliation: pd.DataFrame
    checks: pd.DataFrame
    quarantine: pd.DataFrame
    outcome: "Outcome | None" = None

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and bool(self.reconciliation["reconciles"].all()) \
            and bool(self.reconciliation["checksum equal"].fillna(True).all()) \
            and (self.outcome is None or self.outcome.ok)

    def raise_if_failed(self) -> None:
        if not self.ok:
            bad = list(self.outcome.failures) if self.outcome is not None else []
            bad += list(self.checks.loc[~self.checks["ok"], "check"])
            bad += [f"{t} does not reconcile" for t in self.reconciliation.index[
                ~(self.reconciliation["reconciles"] & self.reconciliation["checksum equal"])]]
            raise CheckFailed(f"phase {PHASE} validation failed: {'; '.join(bad)}; the feature flag stays off")


def _row_hash_sum(conn, relation: sql.Composable, where: sql.Composable = sql.SQL("true")) -> tuple[int, str]:
    return conn.execute(sql.SQL(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text "
        "FROM {} t WHERE {}").format(relation, where)).fetchone()


def validate(conn: psycopg.Connection, tables: list[inventory.AuditTable],
             not_migrated: list[inventory.AuditTable] = (), params=None) -> Validation:
    """In one snapshot: the application may be writing the legacy tables or audits meanwhile.
    With ``params``, the outcome gate too (outcome.py: ceilings, the forecast)."""
    with one_snapshot(conn):
        v = _validate(conn, tables, not_migrated)
        if params is not None:
            forecast, source = outcome.latest_forecast(conn)
            if forecast is None:
                forecast, source = (outcome.forecast_audits(conn, tables, params),
                                    "the forecast computed at the gate (no preflight forecast in the ledger)")
            v.outcome = outcome.gate(conn, PHASE, v.reconciliation.assign(merged=0), params, forecast, source)
        return v


def _validate(conn: psycopg.Connection, tables: list[inventory.AuditTable],
              not_migrated: list[inventory.AuditTable] = ()) -> Validation:
    rows, checks = [], []
    for t in tables:
        legacy = sql.Identifier("public", t.table_name)
        view = sql.Identifier("public", compat_view_name(t.table_name))
        # a row without an id is quarantined under a content key (null-id:<md5>): never compared
        not_quarantined = sql.SQL("t.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q "
                                  "WHERE q.phase = {} AND q.source_table = {} AND q.source_key = t.id::text)").format(
            sql.Literal(PHASE), sql.Literal(t.table_name))
        n_legacy = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(legacy)).fetchone()[0]
        n_migrated = conn.execute("SELECT count(*) FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL",
                                  (t.table_name,)).fetchone()[0]
        n_quarantined = conn.execute("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                                     (PHASE, t.table_name)).fetchone()[0]
        # the legacy table's columns moved since its compat view was made (drift): the rows cannot
        # be compared until a re-run adopts the new shape; reported, never a crash
        same_shape = conn.execute(
            "SELECT coalesce((SELECT array_agg((a.attname, format_type(a.atttypid, a.atttypmod))::text ORDER BY a.attnum) "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped), '{}') "
            "IS NOT DISTINCT FROM coalesce((SELECT array_agg((a.attname, format_type(a.atttypid, a.atttypmod))::text "
            "ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped), '{}')",
            (legacy.as_string(conn), view.as_string(conn))).fetchone()[0]
        legacy_sum = _row_hash_sum(conn, legacy, not_quarantined)
        compat_sum = _row_hash_sum(conn, view) if same_shape else None
        if same_shape:
            missing = conn.execute(sql.SQL("SELECT count(*) FROM (SELECT * FROM {} t WHERE {} EXCEPT ALL SELECT * FROM {}) x")
                                   .format(legacy, not_quarantined, view)).fetchone()[0]
            extra = conn.execute(sql.SQL("SELECT count(*) FROM (SELECT * FROM {} EXCEPT ALL SELECT * FROM {}) x")
                                 .format(view, legacy)).fetchone()[0]
        else:
            missing = extra = n_legacy
        rows.append({"legacy table": t.table_name, "scorecard": t.scorecard_name, "legacy rows": n_legacy,
                     "migrated": n_migrated, "quarantined": n_quarantined,
                     "reconciles": n_legacy == n_migrated + n_quarantined,
                     "checksum equal": legacy_sum == compat_sum, "legacy EXCEPT compat": missing,
                     "compat EXCEPT legacy": extra, "same columns": bool(same_shape), "disposition": "migrated"})
    # tables a scorecard names that are not migrated, by rule or by the operator's decision:
    # listed, never read as audits (an excluded table's rows are counted: it is an ordinary table)
    for t in not_migrated:
        n = (conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", t.table_name))).fetchone()[0]
             if t.excluded and t.exists else None)
        # (listed as what they are: excluded or not an audit table, never as a table that reconciles)
        rows.append({"legacy table": t.table_name, "scorecard": t.scorecard_name, "legacy rows": n, "migrated": 0,
                     "quarantined": 0, "reconciles": True, "checksum equal": None, "legacy EXCEPT compat": None,
                     "compat EXCEPT legacy": None, "same columns": True, "disposition": t.disposition})
    recon = pd.DataFrame(rows).set_index("legacy table") if rows else pd.DataFrame(
        columns=["reconciles", "checksum equal"])

    def check(name, bad):
        checks.append({"check": name, "violations": int(bad), "ok": bad == 0})

    for r in rows:
        if r["disposition"] != "migrated":
            continue
        check(f"{r['legacy table']}: compat view has the legacy table's current columns (else re-run phase 02)",
              0 if r["same columns"] else 1)
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
    unmappable = conn.execute("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s "
                              "AND reason = 'unmappable_row'", (PHASE,)).fetchone()[0]
    check("no row left unmappable by drift (else re-run phase 02)", unmappable)
    # the independent verification (cqms-migrate verify), in this snapshot: every mapped column,
    # the audit_errors rows and the quarantine, recomputed from the legacy rows
    from ... import verify
    checks += [{k: v for k, v in c.items() if k != "detail"} for c in verify.checks(verify.run(conn, PHASE))]

    quarantine = pd.DataFrame(conn.execute(
        "SELECT reason, count(*) AS rows, count(DISTINCT source_table) AS tables FROM cqms_migration.quarantine "
        "WHERE phase = %s GROUP BY 1 ORDER BY 2 DESC", (PHASE,)).fetchall(), columns=["reason", "rows", "tables"])
    return Validation(recon, pd.DataFrame(checks), quarantine)
