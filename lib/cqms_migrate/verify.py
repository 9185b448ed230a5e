"""`cqms-migrate verify`: an independent, read-only check that the unified tables hold what the
current legacy rows say they must — column by column, both ways.

The compat views return the legacy text stored beside a row (legacy_values, legacy_snapshot) while
its version is unchanged, so checks made through them cannot see the normalized columns: a stray
write (or a trigger bypassed with session_replication_role = replica) that moved an audit to
another employee, turned 'pass' into 'fail', or made 30 employees admins passed every validation
(issue 11). Verify recomputes the expected unified rows from the legacy tables with its own SQL
(set-based joins, not the runbook's per-row mapping) and compares:

  audits         per legacy table: employee, auditor, scorecard, channel, interaction type,
                 passing status, scores, parameter scores, dates, statuses, timings; rows that
                 must be quarantined are compared with the quarantine
  audit_errors   per audit: the (parameter, count) rows its scores imply
  employees      role, access level, department, team, channel, country, designation, links to
                 supervisor and mentor, login, activity (phase 1's mapping of the current rows)

The comparison works the way reladiff compares tables: a checksum (count and sum of 64-bit row hashes)
per key bucket on both sides first, then row by row only inside the buckets that differ. It reads
one snapshot (REPEATABLE READ, READ ONLY), so it holds while the application writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from . import convert, inventory, parameters, vocab
from .db import one_snapshot
from .errors import CqmsError
from .inventory import COMMON_COLUMNS

BUCKETS = 256     # key buckets: the low 8 bits of the key's 64-bit text hash


class VerifyFailed(CqmsError):
    """The unified tables differ from what the legacy rows say."""

    exit_code = 13


@dataclass
class Comparison:
    """One expected-vs-actual comparison (a table, or a legacy table's slice of audits)."""

    name: str
    rows_expected: int = 0
    rows_actual: int = 0
    buckets: int = 0
    buckets_differing: int = 0
    per_column: dict[str, int] = field(default_factory=dict)   # column -> differing rows
    missing: int = 0     # expected, not there
    extra: int = 0       # there, not expected
    examples: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra and not any(self.per_column.values())


@dataclass
class Result:
    comparisons: list[Comparison]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "compared": c.name, "expected rows": c.rows_expected, "actual rows": c.rows_actual,
            "buckets differing": f"{c.buckets_differing}/{c.buckets}", "missing": c.missing, "extra": c.extra,
            "columns differing": ", ".join(f"{k} ({v})" for k, v in c.per_column.items() if v) or "",
            "ok": c.ok, "seconds": round(c.seconds, 2)} for c in self.comparisons])

    def examples(self) -> pd.DataFrame:
        rows = [{"compared": c.name, **e} for c in self.comparisons for e in c.examples]
        return pd.DataFrame(rows, columns=["compared", "key", "column", "expected", "actual"])

    def raise_if_failed(self) -> None:
        if self.ok:
            return
        bad = [c for c in self.comparisons if not c.ok]
        first = bad[0]
        cols = [k for k, v in first.per_column.items() if v]
        what = (f"{first.missing} missing, {first.extra} extra" if first.missing or first.extra else "") + \
               (f"{', ' if first.missing or first.extra else ''}columns {', '.join(cols)}" if cols else "")
        ex = first.examples[0] if first.examples else None
        at = f"; first: {ex['key']} {ex['column']} expected {ex['expected']!r}, found {ex['actual']!r}" if ex else ""
        raise VerifyFailed(f"verify: {len(bad)} of {len(self.comparisons)} comparisons differ; "
                           f"{first.name}: {what}{at}")


class Helper:
    """A second connection reading the same snapshot (exported by the main one): the two sides of
    each checksum pass run at once, on two cores. Same data, same moment: only faster."""

    def __init__(self, conn: psycopg.Connection, url: str):
        from concurrent.futures import ThreadPoolExecutor
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        self.conn = psycopg.connect(url, application_name="cqms-migrate:verify-helper")
        self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        self.pool = ThreadPoolExecutor(max_workers=1)

    def submit(self, query):
        return self.pool.submit(lambda: self.conn.execute(query).fetchall())

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.conn.close()


def compare(conn: psycopg.Connection, name: str, expected: sql.Composable, actual: sql.Composable,
            key: str, columns: list[str], limit: int = 20, helper: "Helper | None" = None) -> Comparison:
    """``expected`` and ``actual``: SELECTs with a column named ``key`` and the ``columns``.
    Pass 1: per bucket, count and sum of row hashes on both sides. Pass 2, only in the buckets
    whose checksums differ: a full join on the key, column by column."""
    t0 = time.perf_counter()
    out = Comparison(name)
    k = sql.Identifier(key)
    # hashtextextended: PostgreSQL's own 64-bit text hash, several times cheaper than md5 and
    # plenty for a checksum (sum(bigint) is numeric: no overflow)
    bucket = sql.SQL("(hashtextextended(x.{}::text, 0) & {})").format(k, sql.Literal(BUCKETS - 1))
    checksum = sql.SQL(
        "SELECT {bucket} AS b, count(*) AS n, sum(hashtextextended(row(x.{k}{xcols})::text, 0)) AS h "
        "FROM ({q}) x GROUP BY 1")
    xcols = sql.SQL("").join(sql.SQL(", x.{}").format(sql.Identifier(c)) for c in columns)
    sums = {}
    q_e, q_a = (checksum.format(bucket=bucket, k=k, xcols=xcols, q=q) for q in (expected, actual))
    pending = helper.submit(q_a) if helper else None  # the actual side on the helper, meanwhile
    for b, n, h in conn.execute(q_e).fetchall():
        sums.setdefault(b, {})["e"] = (n, h)
    for b, n, h in (pending.result() if pending else conn.execute(q_a).fetchall()):
        sums.setdefault(b, {})["a"] = (n, h)
    out.rows_expected = sum(v.get("e", (0, 0))[0] for v in sums.values())
    out.rows_actual = sum(v.get("a", (0, 0))[0] for v in sums.values())
    out.buckets = len(sums)
    differing = sorted(b for b, v in sums.items() if v.get("e") != v.get("a"))
    out.buckets_differing = len(differing)
    out.per_column = {c: 0 for c in columns}
    if differing:
        in_buckets = sql.SQL("(hashtextextended(x.{}::text, 0) & {}) = ANY({}::bigint[])").format(
            k, sql.Literal(BUCKETS - 1), sql.Literal(differing))
        per_col = sql.SQL("").join(
            sql.SQL(", count(*) FILTER (WHERE e.{k} IS NOT NULL AND a.{k} IS NOT NULL AND e.{c} IS DISTINCT FROM a.{c})")
            .format(k=k, c=sql.Identifier(c)) for c in columns)
        joined = sql.SQL("FROM (SELECT * FROM ({e}) x WHERE {f}) e FULL JOIN (SELECT * FROM ({a}) x WHERE {f}) a "
                         "ON a.{k} = e.{k}").format(e=expected, a=actual, f=in_buckets, k=k)
        row = conn.execute(sql.SQL("SELECT count(*) FILTER (WHERE a.{k} IS NULL), count(*) FILTER (WHERE e.{k} IS NULL)"
                                   "{per_col} {joined}").format(k=k, per_col=per_col, joined=joined)).fetchone()
        out.missing, out.extra = int(row[0]), int(row[1])
        out.per_column = {c: int(v) for c, v in zip(columns, row[2:])}
        # the first rows that differ, one line per (row, column)
        diffs = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT coalesce(e.{k}, a.{k})::text AS key, {name} AS column, e.{c}::text AS expected, "
                    "a.{c}::text AS actual {joined} WHERE e.{k} IS NOT NULL AND a.{k} IS NOT NULL "
                    "AND e.{c} IS DISTINCT FROM a.{c}").format(k=k, name=sql.Literal(c), c=sql.Identifier(c), joined=joined)
            for c in columns)
        gaps = sql.SQL("SELECT coalesce(e.{k}, a.{k})::text, CASE WHEN a.{k} IS NULL THEN '(row missing)' "
                       "ELSE '(row not expected)' END, CASE WHEN e.{k} IS NOT NULL THEN 'present' END, "
                       "CASE WHEN a.{k} IS NOT NULL THEN 'present' END {joined} "
                       "WHERE e.{k} IS NULL OR a.{k} IS NULL").format(k=k, joined=joined)
        union = sql.SQL(" UNION ALL ").join([gaps] + ([diffs] if columns else []))
        out.examples = [dict(zip(("key", "column", "expected", "actual"), r)) for r in conn.execute(
            sql.SQL("SELECT * FROM ({}) d ORDER BY 1, 2 LIMIT {}").format(union, sql.Literal(limit))).fetchall()]
    out.seconds = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------------------------
# phase 2: audits, audit_errors, quarantine — expected from each legacy table, set-based
# ---------------------------------------------------------------------------------------------

AUDIT_COMPARED = ["employee_id", "auditor_id", "scorecard_id", "channel_id", "interaction_type", "passing_status",
                  "total_score", "critical_errors_count", "total_errors_count", "parameter_scores", "parameter_feedback",
                  "interaction_date", "interaction_id", "transcript", "validation_status", "acknowledgement_status",
                  "audit_duration", "submitted_at", "audit_start_time", "audit_end_time", "reversal_requested_at",
                  "reversal_approved", "errors"]

_TYPES = {"employee_id": "uuid", "auditor_id": "uuid", "scorecard_id": "uuid", "channel_id": "uuid",
          "interaction_type": "text", "passing_status": "text", "total_score": "numeric",
          "critical_errors_count": "integer", "total_errors_count": "integer", "parameter_scores": "jsonb",
          "parameter_feedback": "jsonb",
          "interaction_date": "date", "interaction_id": "text", "transcript": "text", "validation_status": "text",
          "acknowledgement_status": "text", "audit_duration": "integer", "submitted_at": "timestamptz",
          "audit_start_time": "timestamptz", "audit_end_time": "timestamptz", "reversal_requested_at": "timestamptz",
          "reversal_approved": "boolean"}
_LEGACY = {"total_score": "average_score", "critical_errors_count": "critical_errors"}
# compared columns read from the legacy column of the same (or _LEGACY's) name
_FROM_COLUMN = {"total_score", "critical_errors_count", "total_errors_count", "interaction_date", "interaction_id",
                "transcript", "validation_status", "acknowledgement_status", "audit_duration", "submitted_at",
                "audit_start_time", "audit_end_time", "reversal_requested_at", "reversal_approved"}


def _legacy(t: inventory.AuditTable, column: str) -> sql.Composable:
    """t.<column> as the audits type, or a typed NULL when the table lacks it. A column of another
    type is converted by the lossless rule (convert.py: the cqms_migration.to_<type> functions);
    a value that does not convert reads NULL and the row is expected in the quarantine as
    'unconvertible_value'."""
    name = _LEGACY.get(column, column)
    if name not in t.columns:
        return sql.SQL("NULL::{}").format(sql.SQL(_TYPES[column]))
    return convert.read(sql.SQL("t.{}").format(sql.Identifier(name)), t.columns[name], _TYPES[column], name)


def _uncastable(t: inventory.AuditTable) -> sql.Composable:
    """A condition: a column of another type holds a value with no lossless conversion."""
    terms = []
    for column, target in _TYPES.items():
        name = _LEGACY.get(column, column)
        if name in t.columns:
            terms.append(convert.unconvertible(sql.SQL("t.{}").format(sql.Identifier(name)), t.columns[name], target, name))
    terms = [x for x in terms if x.as_string(None) != "false"]
    return sql.SQL(" OR ").join(terms) if terms else sql.SQL("false")


ERRORS_TEXT = ("concat_ws(':', e.field_id, e.error_count, coalesce(trim_scale(e.penalty_points)::text, ''), "
               "coalesce(e.parameter_type, ''), coalesce(e.scorecard_parameter_id::text, ''))")


def _errors_of(scores: sql.Composable, scorecard: sql.Composable, table: str) -> sql.Composable:
    """The audit_errors an audit's parameter scores imply, as one sorted text
    (field:count:penalty:type:parameter id, ...), by each column's declared meaning
    (cqms_migration.p02_parameter_kinds, read as data): a count is its positive whole number
    (whitespace allowed), a flag one error when its value is an error value, points one error
    with the points lost as penalty when below the maximum; of a parameter of the scorecard, the
    first active one by display order. Written apart from the runbook's mapping (its own SQL)."""
    # the table's meanings with their parameters as one JSON map: an uncorrelated subquery
    pmap = sql.SQL(
        "(coalesce((SELECT jsonb_object_agg(k.column_name, jsonb_build_array(p.id, p.parameter_type, p.penalty_points, k.kind, "
        "k.error_values, k.max_points)) FROM cqms_migration.p02_parameter_kinds k "
        "JOIN (SELECT DISTINCT ON (sp.field_id) sp.field_id, sp.id, sp.parameter_type, sp.penalty_points "
        "      FROM public.scorecard_perameters sp WHERE sp.scorecard_id = {sc} AND coalesce(sp.is_active, true) "
        "      ORDER BY sp.field_id, sp.display_order NULLS LAST, sp.id) p ON p.field_id = k.field_id "
        "WHERE k.legacy_table = {t} AND k.kind IN ('count', 'flag', 'points')), '{{}}'::jsonb)"
        # a parameter the scorecard gained after phase 02 recorded the meanings: by its field_type
        " || coalesce((SELECT jsonb_object_agg(sp.field_id, jsonb_build_array(sp.id, sp.parameter_type, sp.penalty_points, "
        "      sp.kind, {yes}::text[], CASE WHEN sp.kind = 'points' THEN sp.penalty_points END)) "
        "  FROM (SELECT DISTINCT ON (q.field_id) q.field_id, q.id, q.parameter_type, q.penalty_points, "
        "               CASE WHEN {ft} = ANY({flag}) THEN 'flag' WHEN {ft} = ANY({points}) THEN 'points' "
        "                    WHEN {ft} = ANY({text}) THEN 'feedback' ELSE 'count' END AS kind "
        "        FROM public.scorecard_perameters q WHERE q.scorecard_id = {sc} AND coalesce(q.is_active, true) "
        "          AND q.field_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cqms_migration.p02_parameter_kinds k2 "
        "          WHERE k2.legacy_table = {t} AND k2.column_name = q.field_id) "
        "        ORDER BY q.field_id, q.display_order NULLS LAST, q.id) sp WHERE sp.kind <> 'feedback'), '{{}}'::jsonb))"
    ).format(sc=scorecard, t=sql.Literal(table), yes=sql.Literal(sorted(parameters.YES)),
             ft=sql.SQL(vocab.KEY_SQL).format(sql.SQL("q.field_type::text")),
             flag=sql.Literal(sorted(parameters.FLAG_TYPES)), points=sql.Literal(sorted(parameters.POINTS_TYPES)),
             text=sql.Literal(sorted(parameters.TEXT_TYPES)))
    number = "^\\s*[0-9]{{1,9}}([.][0-9]+)?\\s*$"
    return sql.SQL(
        "(SELECT string_agg(concat_ws(':', x.key, x.n, coalesce(trim_scale(x.penalty)::text, ''), x.type, x.id), ',' "
        "                   ORDER BY x.key) "
        " FROM (SELECT kv.key, pm.p ->> 1 AS type, pm.p ->> 0 AS id, "
        "              CASE pm.p ->> 3 WHEN 'count' THEN kv.value::int ELSE 1 END AS n, "
        "              CASE pm.p ->> 3 WHEN 'count' THEN (pm.p ->> 2)::numeric * kv.value::int "
        "                              WHEN 'flag' THEN (pm.p ->> 2)::numeric "
        "                              ELSE (pm.p ->> 5)::numeric - kv.value::numeric END AS penalty "
        "       FROM jsonb_each_text({s}) kv CROSS JOIN LATERAL (SELECT {pmap} -> kv.key AS p) pm "
        "       WHERE pm.p IS NOT NULL AND CASE pm.p ->> 3 "
        "         WHEN 'count' THEN kv.value ~ '^\\s*[0-9]{{1,9}}\\s*$' AND kv.value::int > 0 "
        "         WHEN 'flag' THEN " + vocab.KEY_SQL.replace("{}", "kv.value").replace("{", "{{").replace("}", "}}")
        + " IN (SELECT jsonb_array_elements_text(pm.p -> 4)) "
        "              OR (kv.value ~ '^\\s*[1-9][0-9]{{0,8}}\\s*$' AND '1' IN (SELECT jsonb_array_elements_text(pm.p -> 4))) "
        "         WHEN 'points' THEN kv.value ~ '" + number + "' AND kv.value::numeric < (pm.p ->> 5)::numeric END) x)"
    ).format(s=scores, pmap=pmap)


def expected_audits(t: inventory.AuditTable) -> tuple[sql.Composable, sql.Composable]:
    """(expected audits rows, expected quarantine keys) of one legacy table, with plain joins."""
    lg = lambda c: _legacy(t, c)  # noqa: E731
    raw = lambda c: sql.SQL("t.{}").format(sql.Identifier(c)) if c in t.columns else sql.SQL("NULL")  # noqa: E731
    scorecard = sql.SQL("{}::uuid").format(sql.Literal(t.scorecard_id))
    # the parameter columns only (never to_jsonb of the whole row: it would serialize every
    # transcript twice per row); the same object as the sync's to_jsonb(row) - common columns
    params = [c for c in t.columns if c not in COMMON_COLUMNS]
    chunks = [params[i:i + 40] for i in range(0, len(params), 40)] or [[]]
    scores = sql.SQL("({})").format(sql.SQL(" || ").join(
        sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
            sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in chunk)) for chunk in chunks))
    # the audit's id: the legacy uuid, or the name-based uuid of a table keyed otherwise
    aid = (sql.SQL("t.id") if convert.base(t.columns.get("id", "uuid")) == "uuid" else
           sql.SQL("cqms_migration.audit_uuid({}, t.id::text)").format(sql.Literal(t.table_name)))
    # the feedback columns' text, per parameter (the meanings phase 02 loaded)
    feedback = (sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(
        sql.SQL("{f}, CASE WHEN btrim(t.{c}::text) <> '' THEN jsonb_build_array(t.{c}::text) END").format(
            f=sql.Literal(f), c=sql.Identifier(c)) for c, f in sorted(t.feedback.items())))
        if t.feedback else sql.SQL("'{}'::jsonb"))
    base = sql.SQL("""
      SELECT {aid} AS id, t.id AS legacy_id, emp.id AS employee_id, aud.id AS auditor_id, {scorecard} AS scorecard_id,
             coalesce(ch.id, (SELECT u.id FROM public.channels u WHERE u.code = 'UNASSIGNED')) AS channel_id,
             CASE ch.code WHEN 'EMAIL' THEN 'email' WHEN 'CHAT' THEN 'chat' WHEN 'PHONE' THEN 'call' WHEN 'CALL' THEN 'call'
                          WHEN 'VOICE' THEN 'call' WHEN 'TICKET' THEN 'ticket' ELSE 'other' END AS interaction_type,
             psm.value AS passing_status, {total_score} AS total_score, {critical} AS critical_errors_count,
             {total_errors} AS total_errors_count,
             (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), jsonb_build_object()) FROM jsonb_each_text({scores}) kv
              WHERE kv.value IS NOT NULL) AS parameter_scores,
             {feedback} AS parameter_feedback,
             {interaction_date} AS interaction_date,
             {interaction_id} AS interaction_id, {transcript} AS transcript, vsm.value AS validation_status,
             asm.value AS acknowledgement_status, {duration} AS audit_duration, {submitted} AS submitted_at,
             {start} AS audit_start_time, {end} AS audit_end_time, {reversal_at} AS reversal_requested_at,
             {reversal} AS reversal_approved, {errors} AS errors,
             CASE WHEN t.id IS NULL THEN 'null_id'
                  WHEN {uncastable} THEN 'unconvertible_value'
                  WHEN nullif(btrim({employee_email}::text), '') IS NULL THEN 'null_employee_email'
                  WHEN emp.id IS NULL THEN 'unknown_employee_email'
                  WHEN nullif(btrim({auditor_email}::text), '') IS NULL THEN 'null_auditor_email'
                  WHEN aud.id IS NULL THEN 'unknown_auditor_email'
                  WHEN emp.id = aud.id THEN 'self_audit'
                  WHEN {interaction_date} IS NULL THEN 'null_interaction_date'
                  WHEN cqms_migration.vocab_key({raw_status}::text) IS NOT NULL AND psm.value IS NULL
                    THEN 'unmapped_passing_status'
                  WHEN cqms_migration.vocab_key({validation}) IS NOT NULL AND vsm.value IS NULL THEN 'unmapped_validation_status'
                  WHEN cqms_migration.vocab_key({ack}) IS NOT NULL AND asm.value IS NULL THEN 'unmapped_acknowledgement_status'
                  WHEN {end} < {start} THEN 'end_before_start'
                  WHEN {duration} < 0 THEN 'negative_duration'
                  WHEN {total_score} < 0 THEN 'negative_score'
                  WHEN other.legacy_table IS NOT NULL THEN 'duplicate_id_across_tables'
             END AS reason
      FROM public.{table} t
      LEFT JOIN public.employees emp ON lower(btrim(emp.email)) = lower(btrim({employee_email}))
      LEFT JOIN public.employees aud ON lower(btrim(aud.email)) = lower(btrim({auditor_email}))
      LEFT JOIN cqms_migration.p02_value_map psm
             ON psm.vocabulary = 'passing_status' AND psm.legacy = cqms_migration.vocab_key({raw_status}::text)
      LEFT JOIN cqms_migration.p02_value_map vsm
             ON vsm.vocabulary = 'validation_status' AND vsm.legacy = cqms_migration.vocab_key({validation})
      LEFT JOIN cqms_migration.p02_value_map asm
             ON asm.vocabulary = 'acknowledgement_status' AND asm.legacy = cqms_migration.vocab_key({ack})
      LEFT JOIN cqms_migration.p02_value_map chm
             ON chm.vocabulary = 'channel' AND chm.legacy = cqms_migration.vocab_key({channel}::text)
      LEFT JOIN public.channels ch ON ch.code = coalesce(chm.value, cqms_migration.ref_code({channel}::text))
      LEFT JOIN public.audits other ON other.id = {aid} AND other.legacy_table IS DISTINCT FROM {table_name}""").format(
        aid=aid,
        scorecard=scorecard, total_score=lg("total_score"), critical=lg("critical_errors_count"),
        total_errors=lg("total_errors_count"), scores=scores, interaction_date=lg("interaction_date"),
        interaction_id=lg("interaction_id"), transcript=lg("transcript"), validation=lg("validation_status"),
        ack=lg("acknowledgement_status"), duration=lg("audit_duration"), submitted=lg("submitted_at"),
        start=lg("audit_start_time"), end=lg("audit_end_time"), reversal_at=lg("reversal_requested_at"),
        reversal=lg("reversal_approved"), errors=_errors_of(scores, scorecard, t.table_name), feedback=feedback, raw_status=raw("passing_status"),
        employee_email=raw("employee_email"), auditor_email=raw("auditor_email"), channel=raw("channel"),
        table=sql.Identifier(t.table_name), table_name=sql.Literal(t.table_name), uncastable=_uncastable(t))
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in ["id"] + AUDIT_COMPARED)
    migrated = sql.SQL("SELECT {} FROM ({}) s WHERE s.reason IS NULL").format(cols, base)
    quarantined = sql.SQL("SELECT s.legacy_id::text AS key, s.reason FROM ({}) s "
                          "WHERE s.reason IS NOT NULL AND s.legacy_id IS NOT NULL").format(base)
    return migrated, quarantined


def actual_audits(t: inventory.AuditTable, dropped: list[str] = ()) -> sql.Composable:
    # parameter scores and audit_errors without the scorecard's parameters whose column is gone
    # (``dropped``): their history stays in audits and drift reports the drop; a NULL score says
    # what an absent one says
    gone = sql.Literal(list(dropped))

    def actual(c: str) -> sql.Composable:
        if c == "parameter_scores":
            return sql.SQL("(SELECT coalesce(jsonb_object_agg(kv.key, kv.value), jsonb_build_object()) FROM "
                           "jsonb_each_text(a.parameter_scores) kv WHERE kv.value IS NOT NULL AND NOT kv.key = "
                           "ANY({}::text[])) AS parameter_scores").format(gone)
        if c in _TYPES and c in _FROM_COLUMN and _LEGACY.get(c, c) not in t.columns:
            # a column the legacy table does not have: it cannot say what the audit holds (an audit
            # written through audits has its default there); not compared, as expected_audits
            return sql.SQL("NULL::{} AS {}").format(sql.SQL(_TYPES[c]), sql.Identifier(c))
        return sql.SQL("a.{}").format(sql.Identifier(c))
    cols = sql.SQL(", ").join(actual(c) for c in AUDIT_COMPARED if c != "errors")
    # an audit's errors by a per-row index probe (audit_errors by audit_id), never a join with a
    # grouped subquery the planner could rescan per audit (it did: quadratic)
    return sql.SQL(
        "SELECT a.id, {cols}, (SELECT string_agg(" + ERRORS_TEXT + ", ',' ORDER BY e.field_id) "
        "FROM public.audit_errors e WHERE e.audit_id = a.id AND NOT e.field_id = ANY({gone}::text[])) AS errors "
        "FROM public.audits a "
        "WHERE a.legacy_table = {name} AND a.deleted_at IS NULL").format(cols=cols, name=sql.Literal(t.table_name),
                                                                         gone=gone)


def verify_audits(conn: psycopg.Connection, tables: list[inventory.AuditTable], limit: int = 20,
                  helper: Helper | None = None) -> list[Comparison]:
    out = []
    for t in tables:
        migrated, quarantined = expected_audits(t)
        # parameters of the scorecard (any, active or not) whose column the table no longer has:
        # scores and errors they left in audits are history, not compared
        dropped = [r[0] for r in conn.execute(
            "SELECT DISTINCT field_id FROM public.scorecard_perameters WHERE scorecard_id = %s AND field_id IS NOT NULL",
            (t.scorecard_id,)).fetchall() if r[0] not in t.columns]
        out.append(compare(conn, f"audits <- {t.table_name}", migrated, actual_audits(t, dropped), "id", AUDIT_COMPARED,
                           limit, helper))
        # 'unmappable_row': the sync could not read a row after drift; what the current shape
        # says of it is 'unconvertible_value' (a re-run of phase 02 records it so)
        actual_q = sql.SQL("SELECT q.source_key AS key, CASE q.reason WHEN 'unmappable_row' THEN 'unconvertible_value' "
                           "ELSE q.reason END AS reason FROM cqms_migration.quarantine q "
                           "WHERE q.phase = '02_audit_unification' AND q.source_table = {} "
                           "AND q.source_key NOT LIKE 'null-id:%'").format(sql.Literal(t.table_name))
        out.append(compare(conn, f"quarantine <- {t.table_name}", quarantined, actual_q, "key", ["reason"], limit,
                           helper))
        # the compat view (what legacy readers see) returns each migrated legacy row exactly: it
        # reads the legacy text stored beside the audit, which the columns above do not cover
        view = f"{t.table_name}_compat"
        same = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND (SELECT array_agg((a.attname, a.atttypid) ORDER BY a.attnum) "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped) "
            "IS NOT DISTINCT FROM (SELECT array_agg((a.attname, a.atttypid) ORDER BY a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped)",
            (sql.Identifier("public", view).as_string(conn),) * 2 + (sql.Identifier("public", t.table_name).as_string(conn),)
        ).fetchone()[0]
        if same:  # (a view out of date after drift is reported by the phase's validation)
            cols = [c for c in t.columns if c != "id"]
            legacy = sql.SQL("SELECT t.* FROM public.{} t WHERE t.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                             "cqms_migration.quarantine q WHERE q.phase = '02_audit_unification' AND q.source_table = {} "
                             "AND q.source_key = t.id::text)").format(sql.Identifier(t.table_name), sql.Literal(t.table_name))
            out.append(compare(conn, f"{view} <- {t.table_name}", legacy,
                               sql.SQL("SELECT * FROM public.{}").format(sql.Identifier(view)), "id", cols, limit, helper))
    # an audit no legacy row explains: without a legacy table, and not listed as written through
    # audits after its table was dropped (p02_unsynced)
    orphans = sql.SQL("SELECT a.id FROM public.audits a WHERE a.legacy_table IS NULL AND a.deleted_at IS NULL "
                      "AND NOT EXISTS (SELECT 1 FROM cqms_migration.p02_unsynced u WHERE u.audit_id = a.id)")
    out.append(compare(conn, "audits without a legacy table", sql.SQL("SELECT NULL::uuid AS id WHERE false"),
                       orphans, "id", [], limit, helper))
    return out


# ---------------------------------------------------------------------------------------------
# phase 1: employees — phase 1's mapping of the current users and people rows
# ---------------------------------------------------------------------------------------------

EMPLOYEE_COMPARED = ["auth_user_id", "email", "employee_id", "avatar_url", "name", "role_id", "access_level", "department_id", "team_id", "channel_id",
                     "country_code", "designation", "is_active", "intercom_admin_alias", "last_login_at",
                     "login_count", "supervisor", "mentor"]


def verify_employees(conn: psycopg.Connection, limit: int = 20, helper: Helper | None = None) -> list[Comparison]:
    if not conn.execute("SELECT to_regprocedure('cqms_migration.p01_expected(text[])') IS NOT NULL").fetchone()[0]:
        return []   # phase 01's build has not reached its mapping functions
    # access_level: the role's, unless a grant through employees (recorded with the role it was
    # made under) says otherwise; a level changed behind the triggers' back has no grant
    grants = conn.execute("SELECT to_regclass('cqms_migration.p01_access_grants') IS NOT NULL").fetchone()[0]
    level = sql.SQL("coalesce((SELECT g.access_level FROM cqms_migration.p01_access_grants g JOIN public.employees ge "
                    "ON ge.id = g.employee_id WHERE lower(btrim(ge.email)) = x.ne AND g.role_id = x.role_id), "
                    "x.access_level)" if grants else "x.access_level")
    expected = sql.SQL("""
      SELECT x.ne, x.auth_user_id, x.email,
             -- the legacy code, unless another employee holds it (a code shared in the legacy rows)
             CASE WHEN NOT EXISTS (SELECT 1 FROM public.employees h WHERE h.employee_id = x.legacy_employee_id
                                   AND lower(btrim(h.email)) <> x.ne) THEN x.legacy_employee_id END AS employee_id,
             x.avatar_url, x.name, x.role_id, {level} AS access_level, x.department_id, x.team_id, x.channel_id,
             x.country_code, x.designation, x.is_active, x.intercom_admin_alias, x.last_login_at, x.login_count,
             CASE WHEN x.supervisor_ne <> x.ne AND EXISTS (SELECT 1 FROM public.employees s
               WHERE lower(btrim(s.email)) = x.supervisor_ne AND s.deleted_at IS NULL) THEN x.supervisor_ne END AS supervisor,
             CASE WHEN x.mentor_ne <> x.ne AND EXISTS (SELECT 1 FROM public.employees s
               WHERE lower(btrim(s.email)) = x.mentor_ne AND s.deleted_at IS NULL) THEN x.mentor_ne END AS mentor
      FROM cqms_migration.p01_expected(NULL) x""").format(level=level)
    actual = sql.SQL("""
      SELECT lower(btrim(e.email)) AS ne, e.auth_user_id, e.email, e.employee_id, e.avatar_url, e.name, e.role_id, e.access_level, e.department_id, e.team_id,
             e.channel_id, e.country_code, e.designation, e.is_active, e.intercom_admin_alias, e.last_login_at,
             e.login_count, lower(btrim(s.email)) AS supervisor, lower(btrim(m.email)) AS mentor
      FROM public.employees e
      LEFT JOIN public.employees s ON s.id = e.supervisor_id
      LEFT JOIN public.employees m ON m.id = e.quality_mentor_id
      WHERE e.deleted_at IS NULL AND e.legacy_snapshot IS NOT NULL AND NOT e.legacy_snapshot ? 'placeholder_phase'""")
    return [compare(conn, "employees <- users + people", expected, actual, "ne", EMPLOYEE_COMPARED, limit, helper)]


# ---------------------------------------------------------------------------------------------

def applied_phases(conn: psycopg.Connection) -> list[str]:
    if not conn.execute("SELECT to_regclass('cqms_migration.applied_steps') IS NOT NULL").fetchone()[0]:
        return []
    return [r[0] for r in conn.execute("SELECT DISTINCT phase FROM cqms_migration.applied_steps ORDER BY 1").fetchall()]


def run(conn: psycopg.Connection, phase: str | None = None, limit: int = 20, helper_url: str | None = None) -> Result:
    """Verify the given phase (default: every applied phase that has unified tables), in one
    snapshot. With ``helper_url`` (and ``conn`` idle), a second connection imports that snapshot
    and computes the actual side of each checksum pass meanwhile."""
    t0 = time.perf_counter()
    comparisons: list[Comparison] = []
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with one_snapshot(conn):
        helper = Helper(conn, helper_url) if helper_url and idle else None
        try:
            from . import phases
            wanted = [phase] if phase else applied_phases(conn)
            for ph in phases.PHASES:   # each phase's own hook (Phase.verify), in order
                if ph.name in wanted:
                    comparisons += ph.verify(conn, limit, helper)
        finally:
            if helper:
                helper.close()
    return Result(comparisons, time.perf_counter() - t0)


def run_env(env: str, params_file: str = "", phase: str = "", limit: int = 20) -> Result:
    """Connect to an environment (params/<env>.yaml) and verify, read-only (the session itself is
    READ ONLY: verify can change nothing)."""
    from . import db
    from .params import load_params
    params = load_params(env, params_file or None)
    target = db.resolve_target(params)
    with db.connection(target, application_name=f"{params.application_name}:verify") as conn:
        conn.execute("SET default_transaction_read_only = on")
        conn.commit()
        return run(conn, _canonical(phase) if phase else None, limit, helper_url=target.url)


def _canonical(phase: str) -> str:
    from . import phases
    return phases.get(phase).name


def key_figures(result: Result) -> dict:
    bad = [c.name for c in result.comparisons if not c.ok]
    rows = sum(int(c.rows_expected or 0) for c in result.comparisons)
    return {"comparisons": (f"{len(result.comparisons) - len(bad)}/{len(result.comparisons)} equal"
                            + (f"; FAILED: {', '.join(bad)} differ" if bad else "")),
            "rows compared": f"{rows:,} expected rows in {result.seconds:.1f} s"}


def checks(result: Result) -> list[dict]:
    """The comparisons as validation checks (a phase's validation includes them)."""
    return [{"check": f"verify: {c.name}: every mapped column equals what the legacy rows say",
             "violations": c.missing + c.extra + sum(c.per_column.values()), "ok": c.ok,
             "detail": ", ".join(f"{k} ({v})" for k, v in c.per_column.items() if v)
                       + (f" missing {c.missing}" if c.missing else "") + (f" extra {c.extra}" if c.extra else "")}
            for c in result.comparisons]


NOTEBOOK = "98_verify.ipynb"


def notebook() -> list:
    """The cells of notebooks/98_verify.ipynb."""
    from .notebook_cells import md, code
    return [
        md("""
# 98 · Verify — the unified tables against what the legacy rows say, column by column
Read-only (the session is READ ONLY) and independent of the compat views: from the current legacy
rows it recomputes every mapped column of `audits`, `audit_errors` and `employees` and the
quarantine, and compares them with the unified tables both ways in one snapshot, checksums per key
bucket first, row by row only where a bucket differs. Any difference fails this notebook.

Run with `cqms-migrate verify --env ENV [--phase NAME]`."""),
        code('''# Parameters (papermill injects the run's values below this cell). Defaults: the local env.
env: str = "local"          # local | staging | prod
params_file: str = ""       # default: params/<env>.yaml
run_id: str = ""            # the runner passes its own
confirm: str = ""           # unused: verify is read-only (the runner passes it to every notebook)
dry_run: bool = False       # unused: verify changes nothing anyway (passed to every notebook)
target_phase: str = ""      # a phase name; empty: every applied phase
limit: int = 20             # differing rows named per comparison''', "parameters"),
        code("""
from cqms_migrate import notebook as nb, verify
result = verify.run_env(env, params_file, target_phase, limit)
print(f"verified in {result.seconds:.1f}s")"""),
        md("## 1. Comparisons"),
        code("nb.show(result.summary())"),
        md("## 2. Differing rows (the first per comparison)"),
        code("nb.show(result.examples())"),
        md("## 3. Verdict"),
        code("nb.key_figures(verify.key_figures(result))\nresult.raise_if_failed()\nprint('verify: every comparison equal')"),
    ]
