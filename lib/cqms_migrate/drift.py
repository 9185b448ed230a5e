"""Schema drift: what moved in the legacy tables since phase 02 adopted them.

Supabase lets its `postgres` role create event triggers only through its own extension
(supautils); plain PostgreSQL 15 reserves them to superusers, and the runbook connects as a
non-superuser owner. So drift is found by comparing, at the moments that matter, the registry
phase 02 wrote when it adopted each table (cqms_migration.p02_legacy_tables: the table by OID and
its columns) with the catalog: before every phase the runner runs, in `cqms-migrate status`, and
in the phase-02 notebook.

What each change does to a live migration (decisions 2.24) — application writes keep working in
every case, and a rollback finishes:
  column added         a parameter column is carried both ways in parameter_scores at once; the
                       compat view gains it when phase 02 is re-run
  column dropped       the sync reads it as NULL; the reverse sync no longer writes it; the compat
                       view is re-created without it on a re-run
  column retyped       the compat view is re-created on a re-run
  table renamed        the sync trigger moves with the table; the reverse sync finds it by OID;
                       the compat view keeps the name the scorecard gave the table
  table dropped        its audits stay; writes through audits for it are listed in
                       cqms_migration.p02_unsynced
  new scorecard table  writes through audits reach it by name at once; a re-run of phase 02
                       adopts it (sync trigger, backfill, compat view)
"""

from __future__ import annotations

import json

import pandas as pd
import psycopg

from .db import end_read
from .inventory import COMMON_COLUMNS

COLUMNS = ["table", "change", "detail", "what happens", "to adopt"]

RERUN = "re-run phase 02 (cqms-migrate run --through 02_audit_unification)"


def report(conn: psycopg.Connection) -> pd.DataFrame:
    """One row per change since adoption (empty: nothing moved, or phase 02 never adopted)."""
    if not conn.execute("SELECT to_regclass('cqms_migration.p02_legacy_tables') IS NOT NULL").fetchone()[0]:
        end_read(conn)
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    adopted = conn.execute(
        "SELECT r.legacy_table, r.columns, c.relname, n.nspname, "
        "       (SELECT jsonb_object_agg(a.attname, format_type(a.atttypid, a.atttypmod)) FROM pg_attribute a "
        "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) "
        "FROM cqms_migration.p02_legacy_tables r LEFT JOIN pg_class c ON c.oid = r.relid "
        "LEFT JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1").fetchall()
    for name, was, relname, schema, now in adopted:
        was = was if isinstance(was, dict) else json.loads(was or "{}")
        if relname is None:
            rows.append((name, "table dropped", "", "its audits stay; writes through audits for it are listed in "
                         "cqms_migration.p02_unsynced", "nothing to adopt; archive or restore the table"))
            continue
        if (schema, relname) != ("public", name):
            rows.append((name, "table renamed", f"now {schema}.{relname}",
                         "the sync trigger moved with it; the reverse sync finds it by OID",
                         "rename it back, or update its scorecard's table_name and re-run phase 02"))
        now = now or {}
        for col in [c for c in now if c not in was]:
            effect = ("carried both ways in parameter_scores" if col not in COMMON_COLUMNS
                      else "not read by the sync until adopted")
            rows.append((name, "column added", f"{col} {now[col]}", effect + "; the compat view lacks it", RERUN))
        for col in [c for c in was if c not in now]:
            rows.append((name, "column dropped", col, "the sync reads it as NULL, the reverse sync skips it; "
                         "the compat view still has it", RERUN))
        for col in [c for c in was if c in now and now[c] != was[c]]:
            rows.append((name, "column retyped", f"{col}: {was[col]} -> {now[col]}",
                         "the compat view has the old type", RERUN))
    adopted_names = {r[0] for r in adopted}
    # (tables phase 02 decided not to migrate, by rule or by params, are not new)
    if conn.execute("SELECT to_regclass('cqms_migration.p02_not_migrated') IS NOT NULL").fetchone()[0]:
        adopted_names |= {r[0] for r in conn.execute("SELECT legacy_table FROM cqms_migration.p02_not_migrated").fetchall()}
    for (table,) in conn.execute(
            "SELECT s.table_name FROM public.scorecards s WHERE s.table_name IS NOT NULL "
            "AND to_regclass(format('public.%I', s.table_name)) IS NOT NULL ORDER BY 1").fetchall():
        if table not in adopted_names:
            rows.append((table, "new scorecard table", "", "writes through audits reach it by name; legacy writes "
                         "do not reach audits yet", RERUN))
    unsynced = conn.execute("SELECT legacy_table, count(*) FROM cqms_migration.p02_unsynced GROUP BY 1 ORDER BY 1"
                            if conn.execute("SELECT to_regclass('cqms_migration.p02_unsynced') IS NOT NULL").fetchone()[0]
                            else "SELECT NULL, 0 WHERE false").fetchall()
    for table, n in unsynced:
        rows.append((table, "writes with no legacy table", f"{n} audit(s)", "kept in audits only",
                     "restore the table, or accept them in audits before cleanup"))
    end_read(conn)
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_lines(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    return [f"legacy schema drift: {len(frame)} change(s) since phase 02 adopted the tables"] + [
        f"  {r['table']}: {r['change']}{' (' + r['detail'] + ')' if r['detail'] else ''} — {r['what happens']}; "
        f"{r['to adopt']}" for _, r in frame.iterrows()]
