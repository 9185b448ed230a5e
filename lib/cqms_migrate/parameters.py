"""What each parameter column of an audit table means (issue 26): an error count, an error
flag, points earned out of a maximum, or feedback text.

The seed's scorecards hold one column per parameter (scorecard_perameters.field_id). We read
every one as an error count once, and that silently corrupted the figures the product exists
for: 'Yes'/'No' and boolean error columns produced no errors at all, and a points-earned column
(full marks 30) made every perfect audit read as 30 errors. So each parameter column gets a
*meaning*, from params when the operator declared it, else from what is certain:

  count     a number of errors (field_type counter/count/number): an audit_errors row per
            positive count, penalty = count x the parameter's penalty_points;
  flag      an error or not (field_type checkbox/boolean/yes_no, or a boolean column, or only
            yes/no values): the values meaning an error (``error_values``; for a parameter whose
            type names an error or a severity, yes/true/1) give a row with count 1 and the
            parameter's penalty; 'N/A' and the other values give none;
  points    points earned out of ``max`` (field_type points/score/rating; max = penalty_points):
            fewer than max give a row with count 1 and the points lost as its penalty;
  feedback  text about a parameter (a textual column named <field>_feedback/_comment/_notes, or
            field_type text/comment): no error; it is also kept in parameter_feedback.

Where the meaning is not certain (no known field_type, values that fit several readings, a flag
whose error value is not said), preflight says NO-GO and prints the params stanza, per table and
column, to paste: ``parameters: {<table>: {<column>: {kind: flag, error_values: [yes]}}}``.
The meanings are loaded into cqms_migration.p02_parameter_kinds (step load_parameter_kinds);
the backfill, the sync, the reverse sync and verify read them as data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from . import convert, vocab
from .db import end_read
from .inventory import COMMON_COLUMNS, AuditTable

KINDS = ("count", "flag", "points", "feedback")
COUNT_TYPES = {"counter", "count", "number", "numeric", "integer", "int", "errors", "error count"}
FLAG_TYPES = {"checkbox", "boolean", "bool", "toggle", "yes no", "yesno", "switch", "flag"}
POINTS_TYPES = {"points", "score", "rating", "points earned", "scale"}
TEXT_TYPES = {"text", "textarea", "comment", "comments", "feedback", "notes", "note", "free text"}
FEEDBACK_SUFFIXES = ("_feedback", "_comment", "_comments", "_notes", "_note")
YES = ("yes", "y", "true", "t", "1")
NO = ("no", "n", "false", "f", "0")
NOT_APPLICABLE = ("n/a", "na", "not applicable", "none", "-")
# a column named as a check that was done ('greeting_done', 'is_verified'): its yes is not the
# error, whatever the seed's model (a parameter is an error with a penalty) would say
CHECK_NAME = re.compile(r"(^is_|^has_|^did_|_done$|_ok$|_met$|_followed$|_compliant$|_completed$|_passed$|_correct$|"
                        r"_offered$|_given$)", re.I)


@dataclass
class Meaning:
    table: str
    column: str
    field_id: str              # the parameter it belongs to (a feedback column: its parameter's)
    kind: str | None           # None: not known
    error_values: list[str] = field(default_factory=list)       # flag: vocab keys meaning an error
    max_points: float | None = None                             # points
    certain: bool = False
    why: str = ""
    proposal: dict | None = None                                # for the stanza, when not certain

    def spec(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.kind == "flag":
            out["error_values"] = self.error_values
        if self.kind == "points":
            out["max"] = self.max_points
        return out


def _profile(conn, t: AuditTable, columns: list[str]) -> dict[str, dict]:
    """Per column, from one scan of the table: non-blank values, how many are whole numbers,
    how many are yes/no/n-a words, their numeric min/max, mean length; and the distinct values
    of the columns with few of them (their words)."""
    if not columns:
        return {}
    words = list(YES + NO + NOT_APPLICABLE)
    parts = []
    for c in columns:
        v = sql.SQL("nullif(btrim(x.{}::text), '')").format(sql.Identifier(c))
        parts.append(sql.SQL(
            "count({v}), count(*) FILTER (WHERE {v} ~ '^[0-9]{{1,9}}$'), count(*) FILTER (WHERE {k} = ANY({w})), "
            "min(CASE WHEN {v} ~ '^[0-9]{{1,9}}([.][0-9]+)?$' THEN {v}::numeric END), "
            "max(CASE WHEN {v} ~ '^[0-9]{{1,9}}([.][0-9]+)?$' THEN {v}::numeric END), avg(length({v})), "
            "count(*) FILTER (WHERE {v} ~ '^0+$')").format(
            v=v, k=vocab.key_sql(v), w=sql.Literal(words)))
    row = conn.execute(sql.SQL("SELECT {} FROM public.{} x").format(sql.SQL(", ").join(parts),
                                                                     sql.Identifier(t.table_name))).fetchone()
    out = {}
    for i, c in enumerate(columns):
        n, whole, worded, lo, hi, length, zeros = row[i * 7:(i + 1) * 7]
        out[c] = {"values": n, "whole": whole, "worded": worded, "min": lo, "max": hi, "length": float(length or 0),
                  "zeros": zeros}
    for c in columns:
        if out[c]["values"] and out[c]["worded"] + out[c]["whole"] == out[c]["values"]:
            out[c]["distinct"] = [r[0] for r in conn.execute(sql.SQL(
                "SELECT DISTINCT {k} FROM public.{t} x WHERE {k} IS NOT NULL LIMIT 20").format(
                k=vocab.key_sql(sql.SQL("x.{}").format(sql.Identifier(c))), t=sql.Identifier(t.table_name))).fetchall()]
    end_read(conn)
    return out


def _parameters(conn, t: AuditTable) -> dict[str, dict]:
    """field_id -> the scorecard's parameter (the active one first by display order)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (field_id) field_id, field_type, parameter_type, penalty_points, error_name "
        "FROM public.scorecard_perameters WHERE scorecard_id = %s AND field_id IS NOT NULL "
        "ORDER BY field_id, coalesce(is_active, true) DESC, display_order NULLS LAST, id", (t.scorecard_id,)).fetchall()
    end_read(conn)
    return {r[0]: {"field_type": vocab.key(r[1]) or "", "parameter_type": r[2] or "", "penalty": r[3],
                   "error_name": r[4] or ""} for r in rows}


def infer(conn: psycopg.Connection, t: AuditTable, declared: dict | None = None) -> list[Meaning]:
    """The meaning of every non-common column of a migratable table."""
    params = _parameters(conn, t)
    columns = [c for c in t.columns if c not in COMMON_COLUMNS]
    prof = _profile(conn, t, columns)
    out = []
    for c in columns:
        out.append(_meaning(t, c, t.columns[c], params, prof.get(c, {}), (declared or {}).get(c)))
    return out


def _feedback_of(column: str, params: dict) -> str | None:
    for suffix in FEEDBACK_SUFFIXES:
        if column.lower().endswith(suffix) and column[:-len(suffix)] in params:
            return column[:-len(suffix)]
    return None


def _meaning(t: AuditTable, c: str, typ: str, params: dict, p: dict, declared: dict | None) -> Meaning:
    base = convert.base(typ)
    owner = _feedback_of(c, params)
    meta = params.get(c) or {}
    ftype = meta.get("field_type", "")
    m = Meaning(t.table_name, c, owner or c, None)
    if declared:
        m.kind, m.certain, m.why = declared["kind"], True, "declared in params"
        m.error_values = [vocab.key(v) for v in declared.get("error_values", [])]
        m.max_points = declared.get("max")
        return m
    textual = base in convert.TEXTUAL
    n = p.get("values", 0)
    if owner is not None and textual or (ftype in TEXT_TYPES and textual):
        m.kind, m.certain, m.why = "feedback", True, (f"text about parameter {owner!r}" if owner else f"field_type {ftype}")
        return m
    if c not in params:
        m.why = "no parameter names this column: kept in parameter_scores, no error"
        m.kind, m.certain = None, True
        return m
    words = set(p.get("distinct") or [])
    numeric = base in convert.INTEGERS or base == "numeric"
    if numeric and ftype in FLAG_TYPES and p.get("whole", 0) == n and (p.get("max") or 0) <= 1 \
            and not CHECK_NAME.search(c):
        # a checkbox kept as a number: 0/1 read as a count are the flag's reading, and a later 2
        # stays two errors (a flag would read it as no error); writes back stay numbers
        m.kind, m.certain = "count", True
        m.why = f"a flag (field_type {ftype!r}) held as a number: its errors counted"
        return m
    # only yes/no words, and not only digits: 0 and 1 in a number column are a count of errors
    # (a later 2 is two errors), read as a flag it would cap at one
    flag_like = base == "boolean" or ftype in FLAG_TYPES or (
        ftype not in COUNT_TYPES and n and p.get("worded", 0) == n and p.get("whole", 0) < n)
    if ftype in POINTS_TYPES or (ftype not in COUNT_TYPES and not flag_like and _looks_like_points(p, meta)):
        m.kind = "points"
        m.max_points = float(meta["penalty"]) if meta.get("penalty") else (float(p["max"]) if p.get("max") else None)
        m.certain = ftype in POINTS_TYPES and m.max_points is not None and (p.get("max") is None or p["max"] <= m.max_points)
        m.why = f"field_type {ftype!r}" if ftype in POINTS_TYPES else "most values equal penalty_points, none above"
        if not m.certain:
            m.proposal = {"kind": "points", "max": m.max_points}
        return m
    if flag_like:
        # the seed's parameters are errors (an error_name, a penalty): yes means the error happened;
        # a column named as a check done says the opposite, and that is for the operator to say
        m.kind = "flag"
        if not CHECK_NAME.search(c):
            m.error_values, m.certain = sorted(set(YES)), True
            m.why = (f"a flag (field_type {ftype!r})" if ftype else "a flag") + ": a parameter is an error, yes means it happened"
        else:
            m.error_values = list(NO)
            m.why = f"a flag named as a check done ({c!r}): which value is the error is not certain"
            m.proposal = {"kind": "flag", "error_values": sorted(words & set(NO)) or ["no"]}
        return m
    pen = float(meta["penalty"]) if meta.get("penalty") else None
    # whole numbers that are no marks: none above 1, or mostly 0 (few audits have an error), or
    # some above the parameter's penalty_points (points earned never exceed their maximum)
    counted = n and p.get("whole", 0) == n and (
        (p.get("max") or 0) <= 1 or 2 * p.get("zeros", 0) >= n or (pen is not None and float(p.get("max") or 0) > pen))
    if ftype in COUNT_TYPES or counted:
        m.kind, m.certain = "count", bool(ftype in COUNT_TYPES or n == 0 or counted)
        m.why = f"field_type {ftype!r}" if ftype in COUNT_TYPES else "whole numbers, no marks out of a maximum"
        if n and p.get("whole", 0) < n:
            m.certain, m.why = False, f"field_type {ftype!r}, but {n - p['whole']:,} values are not whole numbers"
        if not m.certain:
            m.proposal = {"kind": "count"}
        return m
    if not n:
        m.kind, m.certain, m.why = "count", True, "no value yet"
        return m
    m.kind = "count" if p.get("whole", 0) == n else ("feedback" if textual and p.get("length", 0) > 12 else "count")
    m.why = "values that fit more than one reading"
    m.proposal = {"kind": m.kind}
    return m


def _looks_like_points(p: dict, meta: dict) -> bool:
    """Whole numbers up to penalty_points (above 1), most of them at it: marks earned, not errors."""
    pen = meta.get("penalty")
    return bool(pen and float(pen) > 1 and p.get("values") and p.get("whole") == p.get("values")
                and p.get("max") is not None and float(p["max"]) <= float(pen) and float(p["max"]) == float(pen))


def uncertain(meanings: list[Meaning]) -> list[Meaning]:
    return [m for m in meanings if not m.certain]


def stanza(meanings: list[Meaning], existing: dict | None = None) -> str:
    """``parameters:`` for every uncertain meaning (and the declarations params already hold),
    per table and column, each proposal marked REVIEW with why it is not certain."""
    import json
    by_table: dict[str, list[str]] = {}
    for table, cols in (existing or {}).items():
        for c, spec in cols.items():
            by_table.setdefault(table, []).append(f"    {json.dumps(c)}: {json.dumps(spec)}")
    for m in meanings:
        by_table.setdefault(m.table, []).append(
            f"    {json.dumps(m.column)}: {json.dumps(m.proposal or {'kind': m.kind or 'count'})}   # REVIEW: {m.why}; "
            "kind one of count, flag (error_values), points (max), feedback")
    lines = ["parameters:"]
    for table, entries in by_table.items():
        lines.append(f"  {json.dumps(table)}:")
        lines += entries
    return "\n".join(lines)


def frame(meanings: list[Meaning]) -> pd.DataFrame:
    return pd.DataFrame([{"table": m.table, "column": m.column, "parameter": m.field_id, "meaning": m.kind or "(none)",
                          "error values": ", ".join(m.error_values) if m.kind == "flag" else "",
                          "max": m.max_points if m.kind == "points" else None,
                          "certain": m.certain, "why": m.why} for m in meanings])
