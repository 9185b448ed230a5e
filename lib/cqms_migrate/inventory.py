"""Discovery of the legacy schema: core tables, the dynamic audit tables (through
scorecards.table_name AND get_audit_tables(), reconciled), their columns matched against
scorecard_perameters.field_id, row counts and sizes. Identifiers are only ever composed with
psycopg.sql.Identifier."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from . import convert
from .db import end_read
from .errors import LegacyShapeError

CORE_TABLES = ["users", "people", "scorecards", "scorecard_perameters", "audit_assignments"]

# the columns every dynamic table is expected to have (seed 1.1, fix_audit_table_schema)
COMMON_COLUMNS = [
    "id", "employee_email", "employee_name", "auditor_email", "auditor_name", "interaction_id",
    "interaction_date", "channel", "transcript", "average_score", "critical_errors", "total_errors_count",
    "passing_status", "validation_status", "acknowledgement_status", "audit_duration", "submitted_at",
    "audit_start_time", "audit_end_time", "reversal_requested_at", "reversal_approved", "created_at", "updated_at",
]
# without these a row cannot be migrated at all
REQUIRED_COLUMNS = ["id", "employee_email", "auditor_email"]

# users and people: legacy_shape recognises their columns (names and variants)
REQUIRED_CORE_COLUMNS = {
    "scorecards": ["id", "table_name"],
    "scorecard_perameters": ["scorecard_id", "field_id"],
    "audit_assignments": ["id", "employee_email", "auditor_email"],
}

MAX_IDENT_BYTES = 63


def _common_type(name: str) -> str:
    from .phases.p02_audit_unification.mapping import common_type
    return common_type(name)

def core_names() -> list[str]:
    """The core legacy tables' names, and the names phases give them (a rename): a scorecard
    naming one of them is no audit table."""
    from .phases import renamed_tables
    return CORE_TABLES + [new for old, new in renamed_tables() if old in CORE_TABLES]


def runbook_tables() -> list[str]:
    """The runbook's own tables, as its phases declare them: a scorecard naming one is never
    read as audits."""
    from .phases import created_tables
    return created_tables()


def audit_uuid(table: str, legacy_id) -> "uuid.UUID":
    """cqms_migration.audit_uuid in Python: the audits id of a legacy row of a table not keyed
    by uuid (its canonical uuid text as that uuid, else md5 of 'cqms-audit:<table>:<id>')."""
    import hashlib
    import re
    import uuid
    text = str(legacy_id)
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        return uuid.UUID(text)
    return uuid.UUID(hashlib.md5(f"cqms-audit:{table}:{text}".encode()).hexdigest())


def needs_quoting(name: str) -> bool:
    import re
    return not re.fullmatch(r"[a-z_][a-z0-9_$]*", name or "")


def identifier_problem(name: str | None) -> str | None:
    """Why a legacy identifier cannot be used safely, or None."""
    if name is None or name == "":
        return "empty name"
    if len(name.encode()) > MAX_IDENT_BYTES:
        return f"longer than {MAX_IDENT_BYTES} bytes (PostgreSQL would truncate it)"
    if any(ord(ch) < 32 for ch in name):
        return "contains control characters"
    return None


@dataclass
class AuditTable:
    table_name: str
    scorecard_id: str | None
    scorecard_name: str | None
    in_scorecards: bool
    in_rpc: bool
    exists: bool
    allow_over_100: bool = False
    row_count: int = 0
    size_bytes: int = 0
    columns: dict[str, str] = field(default_factory=dict)      # name -> type
    parameters: list[str] = field(default_factory=list)         # active field_ids of its scorecard
    missing_common: list[str] = field(default_factory=list)
    param_columns: list[str] = field(default_factory=list)      # parameter columns present
    columns_without_parameter: list[str] = field(default_factory=list)
    parameters_without_column: list[str] = field(default_factory=list)
    identifier_problem: str | None = None
    # a scorecard names something that is not an audit table (a core legacy table, one outside
    # public, a view, nothing): never read as audits, never modified, reported everywhere
    not_audit: str | None = None
    # the operator excluded it in params (exclude_tables), with this reason
    excluded: str | None = None
    # other scorecards that name the same table (its audits belong to scorecard_name's)
    other_scorecards: list[str] = field(default_factory=list)
    # its feedback columns -> the parameter each is about (phase 02's parameter meanings, once loaded)
    feedback: dict[str, str] = field(default_factory=dict)

    @property
    def id_note(self) -> str | None:
        """An id of another type than uuid: its audits get a name-based uuid (the legacy id kept)."""
        typ = self.columns.get("id")
        if typ is None or convert.base(typ) == "uuid":
            return None
        return (f"its id column is {typ}: each audit gets a name-based uuid of table and id (stable across "
                "re-runs), the legacy id is kept and the compat view returns it")

    @property
    def migratable(self) -> bool:
        return (self.exists and self.scorecard_id is not None and self.identifier_problem is None
                and self.not_audit is None and self.excluded is None
                and not [c for c in REQUIRED_COLUMNS if c not in self.columns])

    @property
    def disposition(self) -> str:
        """What happens to the table's rows: for the reconciliations and the preflight."""
        if self.not_audit:
            return f"not migrated: not an audit table ({self.not_audit})"
        if self.excluded:
            return f"excluded by decision: {self.excluded}"
        return "migrated" if self.migratable else "blocked"

    @property
    def quoted_identifiers(self) -> list[str]:
        names = [self.table_name] + self.param_columns + self.columns_without_parameter
        return [n for n in names if needs_quoting(n)]


@dataclass
class Inventory:
    tables: list[AuditTable]
    core: dict[str, int]  # table -> rows
    rpc_available: bool

    def frame(self) -> pd.DataFrame:
        rows = []
        for t in self.tables:
            rows.append({
                "table": t.table_name, "scorecard": t.scorecard_name, "in scorecards": t.in_scorecards,
                "in get_audit_tables()": t.in_rpc, "exists": t.exists, "rows": t.row_count,
                "size MB": round(t.size_bytes / 1e6, 2), "parameters": len(t.parameters),
                "param columns": len(t.param_columns),
                "columns without parameter": ", ".join(f"{c} ({t.columns[c]})" for c in t.columns_without_parameter),
                "parameters without column": ", ".join(t.parameters_without_column),
                "missing common columns": ", ".join(t.missing_common),
                "needs quoting": ", ".join(t.quoted_identifiers),
                "problem": t.identifier_problem or "",
                "disposition": t.disposition,
            })
        return pd.DataFrame(rows)

    def migratable(self) -> list[AuditTable]:
        return [t for t in self.tables if t.migratable]

    def not_migrated(self) -> list[AuditTable]:
        """Tables a scorecard names that are not migrated by rule (not an audit table) or by the
        operator's decision (excluded): every reconciliation lists them."""
        return [t for t in self.tables if t.not_audit or t.excluded]

    def legacy_table_names(self) -> list[str]:
        names = list(self.core) + [t.table_name for t in self.tables
                                   if t.exists and t.identifier_problem is None and t.not_audit is None]
        return list(dict.fromkeys(names))

    def mismatches(self) -> list[str]:
        out = []
        for t in self.tables:
            if t.not_audit:
                out.append(f"scorecard {t.scorecard_name!r} names {t.table_name!r}: {t.disposition}")
                continue
            if t.excluded:
                out.append(f"{t.table_name}: {t.disposition}")
                continue
            if t.other_scorecards:
                out.append(f"{t.table_name}: also named by scorecard(s) {', '.join(map(repr, t.other_scorecards))}; "
                           f"its audits belong to {t.scorecard_name!r}")
            if t.in_scorecards and not t.exists:
                out.append(f"scorecard {t.scorecard_name!r} names table {t.table_name!r}, which does not exist")
            if t.exists and not t.in_scorecards:
                out.append(f"table {t.table_name!r} is listed by get_audit_tables() but no scorecard names it")
            if t.in_scorecards and t.exists and self.rpc_available and not t.in_rpc:
                out.append(f"table {t.table_name!r} is named by a scorecard but get_audit_tables() does not list it")
            for c in t.columns_without_parameter:
                out.append(f"{t.table_name}.{c} ({t.columns[c]}): column with no scorecard parameter")
            for c in t.parameters_without_column:
                out.append(f"{t.table_name}: parameter {c!r} has no column")
            if t.missing_common:
                out.append(f"{t.table_name}: missing common columns {', '.join(t.missing_common)}")
            if t.identifier_problem:
                out.append(f"{t.table_name!r}: unusable identifier ({t.identifier_problem})")
            if t.exists and t.id_note:
                out.append(f"{t.table_name}: {t.id_note}")
            for c, typ in t.columns.items():
                if c in COMMON_COLUMNS and c != "id":
                    k = convert.kind(typ, _common_type(c))
                    if k == "zoned":
                        out.append(f"{t.table_name}.{c} ({typ}): read as its date"
                                   + (" in business_time_zone" if "with time zone" in typ else "")
                                   + "; the time of day stays in the legacy row and the compat view")
                    elif k == "checked":
                        out.append(f"{t.table_name}.{c} ({typ}): converted to {_common_type(c)} where the value "
                                   "allows it; other rows are quarantined as unconvertible_value")
                    elif k is None:
                        out.append(f"{t.table_name}.{c} ({typ}): no lossless conversion to {_common_type(c)}; "
                                   "kept as legacy text, not mapped")
        return out


def _table_columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def check_core_shape(conn: psycopg.Connection) -> dict[str, int]:
    """Raise LegacyShapeError if a core legacy table or a column the runbook needs is missing."""
    from . import legacy_shape

    counts = {}
    for table in legacy_shape.discover(conn):
        counts[table] = conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))).fetchone()[0]
    for table, needed in REQUIRED_CORE_COLUMNS.items():
        cols = _table_columns(conn, table)
        if not cols:
            raise LegacyShapeError(f"legacy table public.{table} not found (the runbook reads its columns "
                                   f"{', '.join(needed)}): is this the CQMS database?")
        missing = [c for c in needed if c not in cols]
        if missing:
            raise LegacyShapeError(f"legacy table public.{table} lacks column(s) {', '.join(missing)}")
        counts[table] = conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))).fetchone()[0]
    return counts


def exclusions(params) -> dict[str, str]:
    """{table: reason} from params.exclude_tables."""
    return {x.table: x.reason for x in getattr(params, "exclude_tables", [])}


def of_params(conn: psycopg.Connection, params, with_counts: bool = True) -> Inventory:
    """discover() with the operator's decisions from params (exclusions, scorecard choices)."""
    return discover(conn, with_counts=with_counts, exclude=exclusions(params),
                    scorecard_for=dict(getattr(params, "scorecard_for_table", {}) or {}))


def _not_audit(conn: psycopg.Connection, name: str) -> str | None:
    """Why a name a scorecard gives is not an audit table, or None (an ordinary table of public,
    or no relation at all: that is reported as missing)."""
    if name in core_names():
        return "a core legacy table"
    if name in runbook_tables() or name.endswith("_compat"):
        return "a table of the migration itself"
    if "." in name:
        return "a table outside the public schema" if conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0] else "a schema-qualified name that names nothing"
    kind = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = %s", (name,)).fetchone()
    if kind and kind[0] not in ("r", "p"):
        return {"v": "a view", "m": "a materialized view", "f": "a foreign table", "S": "a sequence",
                "i": "an index"}.get(kind[0], f"not a table (relkind {kind[0]})")
    return None


def discover(conn: psycopg.Connection, with_counts: bool = True, exclude: dict[str, str] | None = None,
             scorecard_for: dict[str, str] | None = None) -> Inventory:
    """``exclude``: {table: reason} from params (exclude_tables); ``scorecard_for``: {table:
    scorecard name or id} from params (scorecard_for_table), for a table several scorecards name."""
    core = check_core_shape(conn)
    rpc_available = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname = 'get_audit_tables')"
    ).fetchone()[0]
    rpc_names: list[str] = []
    if rpc_available:
        rpc_names = [r[0] for r in conn.execute("SELECT * FROM public.get_audit_tables()").fetchall()]
    has_active = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.scorecards'::regclass "
                              "AND attname = 'is_active' AND NOT attisdropped)").fetchone()[0]
    cards = conn.execute(
        "SELECT id::text, name, table_name, coalesce(allow_over_100, false), "
        + ("coalesce(is_active::text, 'true') IN ('true', 't', 'yes', '1') " if has_active else "true ")
        + "FROM public.scorecards WHERE table_name IS NOT NULL ORDER BY name, id"
    ).fetchall()
    params = conn.execute(
        "SELECT scorecard_id::text, field_id FROM public.scorecard_perameters "
        "WHERE coalesce(is_active, true) AND field_id IS NOT NULL ORDER BY display_order NULLS LAST, field_id"
    ).fetchall()
    by_card: dict[str, list[str]] = {}
    for sid, fid in params:
        by_card.setdefault(sid, [])
        if fid not in by_card[sid]:
            by_card[sid].append(fid)

    # a table several scorecards name (a scorecard and its inactive copy, versions): its audits
    # belong to the one params name (scorecard_for_table: table -> scorecard name or id), else
    # to the only active one; with none of those it blocks, naming the way out
    by_table: dict[str, list] = {}
    for card in cards:
        by_table.setdefault(card[2], []).append(card)
    tables: dict[str, AuditTable] = {}
    for tname, named in by_table.items():
        wanted = (scorecard_for or {}).get(tname)
        chosen = ([c for c in named if wanted in (c[0], c[1])] if wanted else
                  named if len(named) == 1 else [c for c in named if c[4]])
        sid, name, _, over, _ = chosen[0] if len(chosen) == 1 else named[0]
        t = AuditTable(tname, sid, name, True, tname in rpc_names, False, allow_over_100=over,
                       parameters=by_card.get(sid, []))
        if len(chosen) != 1:
            t.identifier_problem = (
                f"named by {len(named)} scorecards ({', '.join(repr(c[1]) + (' active' if c[4] else ' inactive') for c in named)})"
                + (f" and params' scorecard_for_table names {wanted!r}, which is none of them" if wanted else
                   ": name the one its audits belong to in params (scorecard_for_table: {" + f"{tname}: <scorecard name>" + "})"))
        else:
            t.other_scorecards = [c[1] for c in named if c is not chosen[0]]
        tables[tname] = t
    for tname in rpc_names:
        # the runbook's own relations, should a discovery function list them (phase 02 wraps it
        # so that it does not): never counted as legacy tables
        if tname not in tables and tname not in runbook_tables() and not tname.endswith("_compat"):
            tables[tname] = AuditTable(tname, None, None, False, True, False)

    for t in tables.values():
        t.identifier_problem = t.identifier_problem or identifier_problem(t.table_name)
        if t.identifier_problem and "scorecards" not in t.identifier_problem:
            continue
        t.not_audit = _not_audit(conn, t.table_name)
        t.excluded = (exclude or {}).get(t.table_name)
        if t.not_audit:
            t.exists = t.not_audit not in ("a schema-qualified name that names nothing",)
            continue  # never read: its columns are not an audit table's
        t.columns = _table_columns(conn, t.table_name)
        t.exists = bool(t.columns)
        if not t.exists:
            continue
        t.missing_common = [c for c in COMMON_COLUMNS if c not in t.columns]
        extra = [c for c in t.columns if c not in COMMON_COLUMNS]
        t.param_columns = [c for c in extra if c in t.parameters]
        t.columns_without_parameter = [c for c in extra if c not in t.parameters]
        t.parameters_without_column = [p for p in t.parameters if p not in t.columns]
        if with_counts:
            ident = sql.Identifier("public", t.table_name)
            t.row_count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
            t.size_bytes = conn.execute("SELECT pg_total_relation_size(%s::regclass)",
                                        (ident.as_string(conn),)).fetchone()[0]
    end_read(conn)
    return Inventory(sorted(tables.values(), key=lambda t: t.table_name), core, rpc_available)


def with_feedback(conn: psycopg.Connection, tables: list[AuditTable]) -> list[AuditTable]:
    """The tables with their feedback columns as phase 02 loaded the parameter meanings
    (cqms_migration.p02_parameter_kinds; none before)."""
    if conn.execute("SELECT to_regclass('cqms_migration.p02_parameter_kinds') IS NOT NULL").fetchone()[0]:
        found: dict[str, dict[str, str]] = {}
        for table, column, fid in conn.execute("SELECT legacy_table, column_name, field_id FROM "
                                               "cqms_migration.p02_parameter_kinds WHERE kind = 'feedback'").fetchall():
            found.setdefault(table, {})[column] = fid
        for t in tables:
            t.feedback = {c: f for c, f in found.get(t.table_name, {}).items() if c in t.columns}
    end_read(conn)
    return tables
