"""The outcome of a phase, judged before its flag turns on: what fraction of the legacy rows
really migrated, and whether what was quarantined is what preflight foresaw.

A run can reconcile exactly (legacy = migrated + quarantined) and still fail its purpose: 97.7%
of the audits quarantined for a spelling nobody mapped was reported SUCCEEDED (issue 20). So:

  forecast   preflight predicts, per audit table and reason, how many rows will be quarantined:
             its own SQL over the legacy rows (emails against people and users, or employees once
             they exist; statuses against params' maps; dates, scores, ids), independent of the
             runbook's mapping. Recorded in the ledger with the preflight run.
  gate       at cutover, in the validation's snapshot: the share quarantined over all tables and
             in each table against params' ceilings (max_quarantine_pct[_per_table]); and every
             (table, reason) that was quarantined against the latest forecast: a reason foreseen
             for no row of that table, beyond quarantine_forecast_slack_pct of its rows (writes
             since preflight), fails. A failed gate fails the phase before its flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from . import convert, vocab
from .db import end_read
from .inventory import AuditTable

EMAIL_FORMAT = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"   # employees' valid_email_format (seed 2.1)
def _key(expr: sql.Composable) -> sql.Composable:
    return vocab.key_sql(expr)


def _emails(conn) -> sql.Composable:
    """The normalized emails an audit can resolve to: live employees once phase 01 made them,
    else the valid emails of people and users (phase 01 quarantines the others)."""
    merged = False
    if conn.execute("SELECT to_regclass('cqms_migration.applied_steps') IS NOT NULL").fetchone()[0]:
        merged = conn.execute("SELECT EXISTS (SELECT 1 FROM cqms_migration.applied_steps "
                              "WHERE phase = '01_foundation' AND step = 'merge_employees')").fetchone()[0]
    if merged:   # (a phase 01 that stopped before its merge left employees empty: not a source)
        end_read(conn)
        return sql.SQL("SELECT DISTINCT lower(btrim(email)) AS ne FROM public.employees WHERE deleted_at IS NULL")
    from . import legacy_shape
    shapes = legacy_shape.discover(conn)
    end_read(conn)
    parts = [sql.SQL("SELECT lower(btrim({e}::text)) FROM public.{t} x WHERE btrim({e}::text) ~* {f}").format(
        e=shape.raw("email", "x"), t=sql.Identifier(name), f=sql.Literal(EMAIL_FORMAT)) for name, shape in shapes.items()]
    return sql.SQL("SELECT DISTINCT ne FROM ({}) u(ne)").format(sql.SQL(" UNION ALL ").join(parts))


def _typed(t: AuditTable, column: str, target: str, ledger: bool) -> sql.Composable | None:
    """t.<column> as ``target`` when it converts (NULL otherwise, or when the table lacks it);
    None when it cannot be known here (a checked conversion before the ledger's functions exist)."""
    if column not in t.columns:
        return sql.SQL("NULL::{}").format(sql.SQL(target))
    k = convert.kind(t.columns[column], target)
    if (k == "checked" and not ledger) or k == "zoned":   # (a time stamp's date: only its nullness is read here)
        return None
    return convert.read(sql.SQL("t.{}").format(sql.Identifier(column)), t.columns[column], target, column)


def _is_null(t: AuditTable, typed: sql.Composable | None, column: str) -> sql.Composable:
    return sql.SQL("{} IS NULL").format(typed if typed is not None else sql.SQL("t.{}").format(sql.Identifier(column)))


def _less(a: sql.Composable | None, b: sql.Composable | None) -> sql.Composable:
    return sql.SQL("{} < {}").format(a, b) if a is not None and b is not None else sql.SQL("false")


def _raw(t: AuditTable, column: str) -> sql.Composable:
    return sql.SQL("t.{}::text").format(sql.Identifier(column)) if column in t.columns else sql.SQL("NULL::text")


# the form an unknown email must have to become a placeholder employee (templates/placeholders.sql)
PLACEHOLDER_FORM = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"


def forecast_audits(conn: psycopg.Connection, tables: list[AuditTable], params) -> pd.DataFrame:
    """(table, reason, rows) of the audit rows that will be quarantined, per the legacy rows now."""
    from .phases.p02_audit_unification.mapping import common_type
    ledger = conn.execute("SELECT to_regprocedure('cqms_migration.to_integer(text)') IS NOT NULL").fetchone()[0]
    emails = _emails(conn)
    maps = {name: list(vocab.mapped(m)) for name, m in vocab.maps(params).items()}
    uuid_tables = [t for t in tables if convert.base(t.columns.get("id", "")) == "uuid"]
    shared: list = []
    if len(uuid_tables) > 1:  # an id in two tables: the second one migrated is quarantined (read once)
        shared = [r[0] for r in conn.execute(sql.SQL("SELECT id FROM ({}) u GROUP BY id HAVING count(DISTINCT tbl) > 1").format(
            sql.SQL(" UNION ALL ").join(sql.SQL("SELECT id, {} AS tbl FROM public.{} WHERE id IS NOT NULL").format(
                sql.Literal(t.table_name), sql.Identifier(t.table_name)) for t in uuid_tables))).fetchall()]
    rows = []
    for t in tables:
        typed = lambda c: _typed(t, c, common_type(c), ledger)  # noqa: E731
        checked = [c for c, typ in t.columns.items() if c != "id" and c in _COMMON
                   and convert.kind(typ, common_type(c)) == "checked"]
        unconvertible = (sql.SQL(" OR ").join(convert.unconvertible(sql.SQL("t.{}").format(sql.Identifier(c)), t.columns[c],
                                                                    common_type(c), c) for c in checked)
                         if checked and ledger else sql.SQL("false"))
        status = {c: sql.SQL("({k} IS NOT NULL AND NOT {k} = ANY({m}::text[]))").format(
            k=_key(_raw(t, c)), m=sql.Literal(maps[c])) for c in vocab.VOCABULARIES}
        dup = (sql.SQL("t.id = ANY({}::uuid[])").format(sql.Literal([str(x) for x in shared]))
               if shared and t in uuid_tables else sql.SQL("false"))
        q = sql.SQL("""
          WITH emails AS ({emails})
          SELECT r.reason, count(*) FROM public.{table} t
          LEFT JOIN emails ee ON ee.ne = lower(btrim({emp}))
          LEFT JOIN emails ea ON ea.ne = lower(btrim({aud}))
          CROSS JOIN LATERAL (SELECT CASE
              WHEN {id} IS NULL THEN 'null_id'
              WHEN {unconvertible} THEN 'unconvertible_value'
              WHEN nullif(btrim({emp}), '') IS NULL THEN 'null_employee_email'
              WHEN ee.ne IS NULL AND NOT ({placeholders} AND btrim({emp}) ~* {email_form}) THEN 'unknown_employee_email'
              WHEN nullif(btrim({aud}), '') IS NULL THEN 'null_auditor_email'
              WHEN ea.ne IS NULL AND NOT ({placeholders} AND btrim({aud}) ~* {email_form}) THEN 'unknown_auditor_email'
              WHEN coalesce(ee.ne, lower(btrim({emp}))) = coalesce(ea.ne, lower(btrim({aud}))) THEN 'self_audit'
              WHEN {date_null} THEN 'null_interaction_date'
              WHEN {ps} THEN 'unmapped_passing_status'
              WHEN {vs} THEN 'unmapped_validation_status'
              WHEN {acks} THEN 'unmapped_acknowledgement_status'
              WHEN {end_before_start} THEN 'end_before_start'
              WHEN {negative_duration} THEN 'negative_duration'
              WHEN {negative_score} THEN 'negative_score'
              WHEN {dup} THEN 'duplicate_id_across_tables'
            END AS reason) r
          WHERE r.reason IS NOT NULL GROUP BY 1""").format(
            emails=emails, table=sql.Identifier(t.table_name), emp=_raw(t, "employee_email"),
            aud=_raw(t, "auditor_email"), id=sql.SQL("t.id") if "id" in t.columns else sql.SQL("NULL"),
            unconvertible=unconvertible, date_null=_is_null(t, typed("interaction_date"), "interaction_date"),
            ps=status["passing_status"], vs=status["validation_status"], acks=status["acknowledgement_status"],
            end_before_start=_less(typed("audit_end_time"), typed("audit_start_time")),
            negative_duration=_less(typed("audit_duration"), sql.SQL("0")),
            negative_score=_less(typed("average_score"), sql.SQL("0")), dup=dup,
            # unknown_email_policy placeholder: an unknown email of a valid form becomes an
            # inactive employee to review (templates/placeholders.sql), not a quarantine
            placeholders=sql.Literal(params.unknown_email_policy == "placeholder"), email_form=sql.Literal(PLACEHOLDER_FORM))
        rows += [{"table": t.table_name, "reason": reason, "rows": int(n)} for reason, n in conn.execute(q).fetchall()]
    end_read(conn)
    out = pd.DataFrame(rows, columns=["table", "reason", "rows"])
    # before the ledger's conversion functions exist (a dry run of a never-migrated database), a
    # column of another type cannot be read: its values are not forecast, and the figure says so
    out.attrs["approximate"] = not ledger and any(
        convert.kind(typ, common_type(c)) == "checked" for t in tables for c, typ in t.columns.items() if c in _COMMON)
    return out


def _common():
    from .inventory import COMMON_COLUMNS
    return set(COMMON_COLUMNS)


_COMMON = _common()


# ---------------------------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """Per table: legacy rows, migrated, merged, quarantined, excluded; quarantine by reason with
    examples; what failed (empty: the outcome holds)."""
    tables: pd.DataFrame                 # table, disposition, legacy rows, migrated, merged, quarantined, quarantined %
    reasons: pd.DataFrame                # table, reason, rows, forecast, examples
    failures: list[str] = field(default_factory=list)
    forecast_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    def totals(self) -> dict:
        t = self.tables[self.tables["disposition"] == "migrated"]
        legacy = int(t["legacy rows"].sum())
        q = int(t["quarantined"].sum())
        return {"legacy rows": legacy, "migrated": int(t["migrated"].sum()), "merged": int(t["merged"].sum()),
                "quarantined": q, "quarantined %": round(100.0 * q / legacy, 2) if legacy else 0.0,
                "excluded rows": int(self.tables.loc[self.tables["disposition"] != "migrated", "legacy rows"].fillna(0).sum())}

    def summary(self) -> str:
        s = self.totals()
        n = s["legacy rows"]
        pct = lambda x: f"{100.0 * x / n:.2f}%" if n else "0%"  # noqa: E731
        return (f"{n:,} legacy rows: {s['migrated']:,} migrated ({pct(s['migrated'])})"
                + (f", {s['merged']:,} merged into a duplicate ({pct(s['merged'])})" if s["merged"] else "")
                + f", {s['quarantined']:,} quarantined ({pct(s['quarantined'])})"
                + (f"; {s['excluded rows']:,} rows in excluded tables" if s["excluded rows"] else ""))

    def record(self) -> dict:
        """What the ledger, the manifest and the review page keep."""
        return {"summary": self.summary(), "ok": self.ok, "failures": self.failures, "totals": self.totals(),
                "forecast": self.forecast_source, "tables": self.tables.to_dict("records"),
                "reasons": self.reasons.to_dict("records")}


def examples(conn, phase: str, per_reason: int = 3) -> dict[tuple[str, str], list[str]]:
    """(table, reason) -> the first rows' key and detail (what a reviewer reads to see why)."""
    rows = conn.execute(
        "SELECT source_table, reason, source_key, detail FROM (SELECT q.*, row_number() OVER (PARTITION BY source_table, "
        "reason ORDER BY id) n FROM cqms_migration.quarantine q WHERE phase = %s) x WHERE n <= %s ORDER BY 1, 2, n",
        (phase, per_reason)).fetchall()
    out: dict[tuple[str, str], list[str]] = {}
    for table, reason, key, detail in rows:
        out.setdefault((table, reason), []).append(f"{key}: {detail}" if detail else key)
    return out


def latest_forecast(conn) -> tuple[pd.DataFrame | None, str]:
    """The audit quarantine forecast of the latest preflight run that recorded one."""
    row = conn.execute("SELECT m.value, m.run_id, m.recorded_at FROM cqms_migration.metrics m "
                       "WHERE m.phase = '00_preflight' AND m.name = 'quarantine_forecast' ORDER BY m.id DESC LIMIT 1").fetchone()
    if not row:
        return None, ""
    return pd.DataFrame(row[0], columns=["table", "reason", "rows"]), f"preflight run {row[1]} ({row[2]:%Y-%m-%d %H:%M} UTC)"


def gate(conn, phase: str, tables: pd.DataFrame, params, forecast: pd.DataFrame | None, forecast_source: str) -> Outcome:
    """``tables``: per table (index: table name) disposition, legacy rows, migrated, merged,
    quarantined. Reads the phase's quarantine by reason (in the caller's snapshot)."""
    t = tables.copy()
    t["merged"] = t["merged"] if "merged" in t else 0
    legacy = t["legacy rows"].fillna(0).astype(int)
    t["quarantined %"] = [round(100.0 * q / n, 2) if n else 0.0 for q, n in zip(t["quarantined"].fillna(0), legacy)]
    actual = pd.DataFrame(conn.execute(
        "SELECT source_table, reason, count(*) FROM cqms_migration.quarantine WHERE phase = %s GROUP BY 1, 2 ORDER BY 1, 3 DESC",
        (phase,)).fetchall(), columns=["table", "reason", "rows"])
    ex = examples(conn, phase)
    fc = {} if forecast is None else {(r.table, r.reason): int(r.rows) for r in forecast.itertuples()}
    actual["forecast"] = [fc.get((a.table, a.reason)) if forecast is not None else None for a in actual.itertuples()]
    actual["examples"] = ["; ".join(ex.get((a.table, a.reason), [])) for a in actual.itertuples()]
    failures = []
    migrated = t[t["disposition"] == "migrated"]
    total_legacy, total_q = int(migrated["legacy rows"].sum()), int(migrated["quarantined"].sum())
    pct = 100.0 * total_q / total_legacy if total_legacy else 0.0
    if pct > params.max_quarantine_pct:
        failures.append(f"{pct:.2f}% of the legacy rows ({total_q:,} of {total_legacy:,}) quarantined, above "
                        f"max_quarantine_pct {params.max_quarantine_pct}%")
    for name, r in migrated.iterrows():
        if r["quarantined %"] > params.max_quarantine_pct_per_table:
            top = actual[actual["table"] == name].head(1)
            why = f" (mostly {top.iloc[0]['reason']}: {int(top.iloc[0]['rows']):,})" if len(top) else ""
            failures.append(f"{name}: {r['quarantined %']}% quarantined ({int(r['quarantined']):,} of "
                            f"{int(r['legacy rows']):,}){why}, above max_quarantine_pct_per_table "
                            f"{params.max_quarantine_pct_per_table}%")
    if forecast is not None:
        for a in actual.itertuples():
            n = int(legacy.get(a.table, 0) or 0)
            slack = params.quarantine_forecast_slack_pct * n / 100.0
            if not fc.get((a.table, a.reason)) and a.rows > slack:
                failures.append(f"{a.table}: {a.rows:,} rows quarantined as {a.reason}, which {forecast_source or 'preflight'} "
                                f"did not forecast for this table (re-run 00_preflight to see why)")
    return Outcome(t.reset_index().rename(columns={"index": "table", "legacy table": "table"}), actual, failures,
                   forecast_source)


def bar(migrated: int, merged: int, quarantined: int, width: int = 30) -> str:
    """A text bar for terminals and notebooks: '#' migrated, '=' merged, '!' quarantined."""
    total = migrated + merged + quarantined
    if not total:
        return ""
    cells = [round(width * x / total) for x in (migrated, merged, quarantined)]
    if quarantined and not cells[2]:
        cells[2] = 1
    return "#" * max(0, width - cells[1] - cells[2]) + "=" * cells[1] + "!" * cells[2]
