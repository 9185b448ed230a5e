"""The mapping of a legacy audit row to an audits row, for one dynamic table: the shaped SELECT
(templates/shaped_select.sql) that the backfill, the forward sync trigger and the benchmark's
baseline all use, so they cannot disagree; and the backfill's batch statements. Everything is
composed with psycopg.sql from templates (identifiers never formatted into strings).

A legacy row maps to exactly one of: an audits row (id = legacy id, legacy_table = its table)
or a quarantine row (the whole original row as JSONB, with the first reason that applies).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from psycopg import sql

from ... import convert, parameters, vocab
from ...inventory import COMMON_COLUMNS, AuditTable

PHASE = "02_audit_unification"

# legacy columns whose text the unified model normalises away: kept verbatim in
# audits.legacy_values so the compat view returns the legacy row exactly until it changes
LEGACY_TEXT = ["employee_email", "employee_name", "auditor_email", "auditor_name", "channel", "passing_status",
               "validation_status", "acknowledgement_status"]

# the constrained columns read through a vocabulary (vocab.py; cqms_migration.p02_value_map)
STATUS_COLUMNS = ("passing_status", "validation_status", "acknowledgement_status")

# audits columns written from a legacy row, in order
AUDIT_COLUMNS = [
    "id", "legacy_table", "legacy_id", "employee_id", "auditor_id", "scorecard_id", "interaction_id",
    "interaction_date", "interaction_type", "channel_id", "transcript", "total_score", "max_possible_score",
    "passing_status", "passing_threshold", "critical_errors_count", "total_errors_count", "parameter_scores",
    "parameter_feedback", "status", "validation_status", "acknowledgement_status", "audit_start_time", "audit_end_time",
    "audit_duration", "submitted_at", "reversal_requested_at", "reversal_approved", "quarter", "week",
    "created_at", "updated_at", "deleted_at", "legacy_values",
]


def short_name(table: str) -> str:
    """A safe, stable suffix for per-table objects (functions, triggers, jobs)."""
    return hashlib.md5(table.encode()).hexdigest()[:12]


def audit_id(t: AuditTable, expr: sql.Composable) -> sql.Composable:
    """The audits id of the legacy row whose id is ``expr``: the id itself in a uuid-keyed table;
    in a table keyed by anything else (bigint, integer, text) a name-based uuid of table and id
    (cqms_migration.audit_uuid), stable across re-runs and rollbacks (docs/decisions.md 2.37)."""
    if convert.base(t.columns.get("id", "uuid")) == "uuid":
        return expr
    return sql.SQL("cqms_migration.audit_uuid({}, ({})::text)").format(sql.Literal(t.table_name), expr)


def uuid_keyed(t: AuditTable) -> bool:
    return convert.base(t.columns.get("id", "uuid")) == "uuid"


def col(t: AuditTable, name: str, alias: str = "t") -> sql.Composable:
    """t.<name> as the audits type (convert.read: a lossless conversion, NULL where a value does
    not convert) when the legacy table has the column, else a typed NULL."""
    target = common_type(name)
    if name in t.columns:
        return convert.read(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name)), t.columns[name], target,
                            name)
    return sql.SQL("NULL::{}").format(sql.SQL(target))


_COMMON_TYPES = [("id", "uuid"), ("interaction_date", "date"), ("average_score", "numeric"),
                 ("critical_errors", "integer"), ("total_errors_count", "integer"), ("audit_duration", "integer"),
                 ("submitted_at", "timestamp with time zone"), ("audit_start_time", "timestamp with time zone"),
                 ("audit_end_time", "timestamp with time zone"), ("reversal_requested_at", "timestamp with time zone"),
                 ("reversal_approved", "boolean"), ("created_at", "timestamp with time zone"),
                 ("updated_at", "timestamp with time zone")]


def common_type(name: str) -> str:
    """The type audits holds a common column's value in (text unless listed)."""
    return dict(_COMMON_TYPES).get(name, "text")


# legacy columns audits holds NOT NULL (a NULL becomes now()): their legacy text is kept, so the
# compat view returns the NULL the legacy row holds (issue 21)
NOT_NULL_IN_AUDITS = ("created_at", "updated_at")


def kept_verbatim(t: AuditTable) -> list[str]:
    """Common columns whose legacy text audits.legacy_values keeps: the normalised ones, and those
    of another type than audits holds (a converted value's own spelling, or a value with no
    lossless conversion), so the compat view returns the legacy row exactly."""
    other = [c for c, typ in t.columns.items() if c in COMMON_COLUMNS and c not in LEGACY_TEXT and c != "id"
             and (convert.kind(typ, common_type(c)) not in ("same", "widen") or c in NOT_NULL_IN_AUDITS)]
    return LEGACY_TEXT + other


def _checked(t: AuditTable) -> list[str]:
    return [c for c, typ in t.columns.items() if c in COMMON_COLUMNS and c != "id"
            and convert.kind(typ, common_type(c)) == "checked"]


def unconvertible(t: AuditTable, alias: str = "t") -> sql.Composable:
    """A condition: a common column holds a value with no lossless conversion to the audits type
    (the row is quarantined as 'unconvertible_value')."""
    terms = [convert.unconvertible(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)), t.columns[c],
                                   common_type(c), c) for c in _checked(t)]
    return sql.SQL(" OR ").join(terms) if terms else sql.SQL("false")


def unconvertible_detail(t: AuditTable, alias: str = "t") -> sql.Composable:
    """The columns and values that do not convert, as one text ('average_score 'N/A' is not a
    numeric; ...'): the quarantine's detail for 'unconvertible_value'."""
    parts = [sql.SQL("CASE WHEN {cond} THEN {name} || ' ' || quote_literal(left({c}::text, 200)) || {what} END").format(
        cond=convert.unconvertible(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)), t.columns[c],
                                   common_type(c), c),
        name=sql.Literal(c), c=sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)),
        what=sql.Literal(" is not a duration (seconds, mm:ss or h:mm:ss)" if c in convert.CHECKED_BY_COLUMN
                         else f" is not a {common_type(c)}")) for c in _checked(t)]
    return sql.SQL("concat_ws('; ', {})").format(sql.SQL(", ").join(parts)) if parts else sql.SQL("NULL::text")


def extra_columns(t: AuditTable) -> list[str]:
    """Parameter columns and columns with no parameter: all kept in parameter_scores."""
    return t.param_columns + t.columns_without_parameter


def _parameter_feedback(t: AuditTable, raw: sql.Composable) -> sql.Composable:
    """{parameter: [text]} of the table's feedback columns that hold text (the seed's
    parameter_feedback), read from the row as it is (``raw``: a column dropped since is absent).
    Their text stays in parameter_scores too: the compat views return the legacy column from there."""
    if not t.feedback:
        return sql.SQL("'{}'::jsonb")   # (a value, never formatted: single braces)
    value = lambda c: sql.SQL("(to_jsonb({}) ->> {})").format(raw, sql.Literal(c))  # noqa: E731
    return sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(
        sql.SQL("{}, CASE WHEN nullif(btrim({}), '') IS NOT NULL THEN jsonb_build_array({}) END").format(
            sql.Literal(f), value(c), value(c)) for c, f in sorted(t.feedback.items())))


def _parameter_scores(raw: sql.Composable) -> sql.Composable:
    """Every column of the legacy row that is not one of the common columns, read from the row
    as it is now (not as it was inventoried): a parameter column added later is carried, a
    dropped one is simply absent."""
    return sql.SQL("(to_jsonb({}) - {}::text[])").format(raw, sql.Literal(list(COMMON_COLUMNS)))


def shape_type(table: str) -> sql.Identifier:
    """The row type the forward sync reads a legacy row through: the common columns the table had
    when it was adopted, with their types. jsonb_populate_record into it never fails: a column
    dropped or renamed since reads as NULL, an added one is ignored here (parameter_scores carries it)."""
    return sql.Identifier("cqms_migration", f"p02_shape_{short_name(table)}")


def shape_columns(t: AuditTable) -> dict[str, str]:
    return {c: typ for c, typ in t.columns.items() if c in COMMON_COLUMNS}


TEMPLATES = Path(__file__).resolve().parent / "templates"

# Session settings of every backfill batch (and of the baselines it is compared with):
#  * jit off: compiling these wide statements costs more than it saves at batch sizes
#    (measured: a 6.5k-row batch 1.30 s with JIT, 0.41 s without);
#  * enable_seqscan off: every lookup in a batch is a per-row LATERAL probe; with odd cost
#    settings or statistics the planner could probe a table by scanning it once per row (seen
#    with random_page_cost = 40). Off, each probe uses its index; the one scan each statement
#    needs (the TID range of the legacy table) is not a sequential scan.
#  * enable_tidscan on: the batches read the legacy table by TID ranges; a server with TID scans
#    off would read the whole table per batch (found by an independent attack on issue 7).
# the last marks the batch's writes as the forward direction: a re-run after cutover (adopting a
# new table or re-queued rows) must not echo its copies back to the legacy rows they came from
BATCH_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL enable_seqscan = off", "SET LOCAL enable_tidscan = on",
                  "SET LOCAL cqms.sync_echo = 'forward:backfill'")


def template(name: str) -> sql.SQL:
    """A per-table SQL template (templates/<name>.sql), filled through psycopg.sql.format."""
    return sql.SQL((TEMPLATES / f"{name}.sql").read_text())


def _legacy_values(t: AuditTable) -> sql.Composable:
    def verbatim(c):
        return col(t, c) if c in LEGACY_TEXT else sql.SQL("t.{}::text").format(sql.Identifier(c))
    pairs = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(c), verbatim(c)) for c in kept_verbatim(t))
    return sql.SQL("jsonb_build_object({}) || jsonb_build_object('version', 1)").format(pairs)


def shaped_select(t: AuditTable, source: sql.Composable, raw: sql.Composable = sql.SQL("t")) -> sql.Composable:
    """SELECT the audits columns + reason + already_migrated + the whole source row for every
    row of ``source`` (alias t). ``raw``: the whole legacy row (the parameter columns and the
    quarantine's copy come from it): the alias itself, or NEW in the forward sync, which reads
    the common columns through its shape type. See templates/shaped_select.sql."""
    legacy = {c: col(t, c) for c in ("interaction_id", "interaction_date", "transcript", "average_score",
                                     "critical_errors", "total_errors_count", "submitted_at", "validation_status",
                                     "acknowledgement_status", "audit_start_time", "audit_end_time",
                                     "audit_duration", "reversal_requested_at", "reversal_approved", "created_at",
                                     "updated_at", "employee_email", "auditor_email", "passing_status", "channel")}
    raw_id = sql.SQL("t.id") if "id" in t.columns else sql.SQL("NULL")
    return template("shaped_select").format(
        table_name=sql.Literal(t.table_name), scorecard_id=sql.Literal(t.scorecard_id),
        parameter_scores=_parameter_scores(raw), parameter_feedback=_parameter_feedback(t, raw),
        legacy_values=_legacy_values(t), source=source, raw=raw,
        unconvertible=unconvertible(t), unconvertible_detail=unconvertible_detail(t),
        ps_key=vocab.key_sql(legacy["passing_status"]), vs_key=vocab.key_sql(legacy["validation_status"]),
        acs_key=vocab.key_sql(legacy["acknowledgement_status"]), ch_key=vocab.key_sql(legacy["channel"]),
        id=audit_id(t, raw_id), legacy_id=sql.SQL("({})::text").format(raw_id), raw_id=raw_id, **legacy)


def _audit_cols() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in AUDIT_COLUMNS)


def _shaped_cols(prefix: str = "s") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(prefix), sql.Identifier(c)) for c in AUDIT_COLUMNS)


def parameter_map(table_name: sql.Composable, scorecard_id: sql.Composable) -> sql.Composable:
    """{column: {id, field, type, penalty, kind, ev, max}}: what each parameter column of the
    table means (cqms_migration.p02_parameter_kinds) with its scorecard parameter as it is now (a
    scalar subquery). Literals for one table's SQL; a row's columns in the reverse sync's."""
    return sql.SQL("({})").format(template("parameter_map").format(
        scorecard_id=scorecard_id, table_name=table_name, ftype=vocab.key_sql(sql.SQL("p.field_type")),
        yes=sql.Literal(sorted(parameters.YES)), flag_types=sql.Literal(sorted(parameters.FLAG_TYPES)),
        points_types=sql.Literal(sorted(parameters.POINTS_TYPES)), text_types=sql.Literal(sorted(parameters.TEXT_TYPES))))


def error_of() -> sql.Composable:
    """templates/error_of.sql: what a score kv says under its meaning pm.p (count and penalty)."""
    return template("error_of").format(key=vocab.key_sql(sql.SQL("kv.value")))


def errors_insert(t: AuditTable, source: sql.Composable, returning: bool = False) -> sql.Composable:
    """audit_errors rows for the audits ``source`` yields (alias n: id, interaction_date,
    parameter_scores); None when the table has no parameter column. ``returning``: as a
    data-modifying CTE (RETURNING 1), else a plain statement (the trigger's body). A table
    without parameter columns today may gain one, so every table gets the statement."""
    return errors_insert_for(sql.Literal(t.table_name), sql.Literal(t.scorecard_id), source, returning)


def errors_insert_for(table_name: sql.Composable, scorecard_id: sql.Composable, source: sql.Composable,
                      returning: bool = False) -> sql.Composable:
    """errors_insert for a table and scorecard named by expressions (the reverse sync's: the
    audit's own legacy_table and scorecard_id)."""
    return template("errors_insert").format(
        source=source, parameter_map=parameter_map(table_name, scorecard_id), error_of=error_of(),
        returning=sql.SQL("RETURNING 1" if returning else ""))


def _tid(page: int) -> sql.Literal:
    return sql.Literal(f"({int(page)},0)")


def backfill_claim(t: AuditTable, from_page: int, to_page: int) -> sql.Composable:
    """Statement 1 of a backfill batch: claim the rows of heap pages [from_page, to_page).
    Page bounds are literals, never query parameters: a legacy identifier may contain '%'."""
    return template("backfill_claim").format(table=sql.Identifier("public", t.table_name),
                                             audit_id=audit_id(t, sql.SQL("t.id")),
                                             table_name=sql.Literal(t.table_name), phase=sql.Literal(PHASE),
                                             from_tid=_tid(from_page), to_tid=_tid(to_page))


def backfill_move(t: AuditTable, from_page: int, to_page: int) -> sql.Composable:
    """Statement 2 of a backfill batch: shape and write the rows statement 1 claimed. Both run
    in one transaction with the checkpoint (batching.Engine)."""
    source = template("backfill_source").format(table=sql.Identifier("public", t.table_name),
                                                audit_id=audit_id(t, sql.SQL("r.id")),
                                                table_name=sql.Literal(t.table_name),
                                                from_tid=_tid(from_page), to_tid=_tid(to_page))
    return _move(t, source)


def backfill_unbatched(t: AuditTable) -> sql.Composable:
    """The same shaping and writes as a batch, for a whole table in one statement without
    claims: the benchmark's and the notebook's baseline ("one INSERT ... SELECT per table")."""
    return _move(t, sql.Identifier("public", t.table_name))


# quarantine reasons a change of params can address (the vocabularies): a re-run tries those rows again
RETRIABLE = ("unmapped_passing_status", "unmapped_validation_status", "unmapped_acknowledgement_status")
# retried when params' unknown_email_policy is placeholder (their emails become placeholders)
RETRIABLE_BY_PLACEHOLDER = ("unknown_employee_email", "unknown_auditor_email")


def placeholders(t: AuditTable, rows: sql.Composable) -> sql.Composable:
    """templates/placeholders.sql for the rows of t that ``rows`` (a condition) selects."""
    from ...outcome import PLACEHOLDER_FORM
    refs = [template("placeholder_refs").format(email=sql.Identifier(email), name=col(t, name, alias="batch"))
            for email, name in (("employee_email", "employee_name"), ("auditor_email", "auditor_name"))
            if email in t.columns]
    return template("placeholders").format(table=sql.Identifier("public", t.table_name), rows=rows,
                                           refs=sql.SQL(" UNION ALL ").join(refs), phase=sql.Literal(PHASE),
                                           email_form=sql.Literal(PLACEHOLDER_FORM))


def retry_statements(t: AuditTable, keys: list[str], with_placeholders: bool = False) -> list[sql.Composable]:
    """Try the quarantined rows ``keys`` (legacy ids, as text) of t again, under the maps as
    they are now: take their claims (a sync trigger on one of them waits for this transaction),
    drop their quarantine rows, and shape and write them as a backfill batch does (each one
    migrates, or is quarantined again with the reason it has now). The ids are literals typed as
    the legacy id (an index probe each)."""
    idtype = sql.SQL(t.columns.get("id", "uuid"))
    rows = sql.SQL("(SELECT r.* FROM {table} r WHERE r.id = ANY({keys}::{idtype}[]))").format(
        table=sql.Identifier("public", t.table_name), keys=sql.Literal(keys), idtype=idtype)
    # (unknown_email_policy placeholder: their unknown emails become placeholder employees first)
    made = ([placeholders(t, sql.SQL("id = ANY({}::{}[])").format(sql.Literal(keys), idtype))]
            if with_placeholders else [])
    return [*(sql.SQL(x) for x in BATCH_SETTINGS), *made,
            template("retry_claims").format(table=sql.Identifier("public", t.table_name),
                                            table_name=sql.Literal(t.table_name), audit_id=audit_id(t, sql.SQL("t.id")),
                                            keys=sql.Literal(keys), idtype=idtype),
            sql.SQL("DELETE FROM cqms_migration.quarantine WHERE phase = {} AND source_table = {} AND source_key = "
                    "ANY({}::text[])").format(sql.Literal(PHASE), sql.Literal(t.table_name), sql.Literal(keys)),
            _move(t, rows)]


def _move(t: AuditTable, source: sql.Composable) -> sql.Composable:
    errors = errors_insert(t, sql.SQL("new_audits n"), returning=True)
    return template("backfill_move").format(
        shaped=shaped_select(t, source), columns=_audit_cols(), shaped_columns=_shaped_cols(),
        errors=errors if errors is not None else sql.SQL("SELECT 0"), phase=sql.Literal(PHASE))


