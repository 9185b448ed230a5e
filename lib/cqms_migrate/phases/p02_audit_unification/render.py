"""SQL for one dynamic audit table, composed with psycopg.sql only (identifiers are never
formatted into strings). The same column expressions feed the batched backfill, the
forward sync trigger and — read back through the compat view — the reverse sync, so the three
paths cannot disagree about how a legacy row maps to an audits row.

A legacy row maps to exactly one of: an audits row (id = legacy id, legacy_table = its table)
or a quarantine row (the whole original row as JSONB, with the first reason that applies).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from psycopg import sql

from ...inventory import AuditTable

PHASE = "02_audit_unification"

# legacy columns whose text the unified model normalises away: kept verbatim in
# audits.legacy_values so the compat view returns the legacy row exactly until it changes
LEGACY_TEXT = ["employee_email", "employee_name", "auditor_email", "auditor_name", "channel", "passing_status"]

VALIDATION_STATUSES = ("pending", "approved", "rejected", "needs_revision")
ACK_STATUSES = ("pending", "acknowledged", "disputed", "not_required")

# audits columns written from a legacy row, in order
AUDIT_COLUMNS = [
    "id", "legacy_table", "legacy_id", "employee_id", "auditor_id", "scorecard_id", "interaction_id",
    "interaction_date", "interaction_type", "channel_id", "transcript", "total_score", "max_possible_score",
    "passing_status", "passing_threshold", "critical_errors_count", "total_errors_count", "parameter_scores",
    "status", "validation_status", "acknowledgement_status", "audit_start_time", "audit_end_time",
    "audit_duration", "submitted_at", "reversal_requested_at", "reversal_approved", "quarter", "week",
    "created_at", "updated_at", "deleted_at", "legacy_values",
]


def short_name(table: str) -> str:
    """A safe, stable suffix for per-table objects (functions, triggers, jobs)."""
    return hashlib.md5(table.encode()).hexdigest()[:12]


def sync_function_name(table: str) -> sql.Identifier:
    return sql.Identifier("cqms_migration", f"p02_sync_{short_name(table)}")


def trigger_name(table: str) -> sql.Identifier:
    return sql.Identifier(f"cqms_p02_sync_{short_name(table)}")


def _legacy_status(spelling: dict[str, str]) -> sql.Composable:
    if not spelling:
        return sql.SQL("a.passing_status")
    whens = sql.SQL(" ").join(sql.SQL("WHEN {} THEN {}").format(sql.Literal(k), sql.Literal(v))
                              for k, v in sorted(spelling.items()))
    return sql.SQL("CASE a.passing_status {} ELSE a.passing_status END").format(whens)


def compat_view_name(table: str) -> str:
    name = f"{table}_compat"
    return name if len(name.encode()) <= 63 else f"compat_{short_name(table)}"


def col(t: AuditTable, name: str, alias: str = "t") -> sql.Composable:
    """t.<name> when the legacy table has the column, else a typed NULL."""
    if name in t.columns:
        return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))
    typ = dict(_COMMON_TYPES).get(name, "text")
    return sql.SQL("NULL::" + typ)


_COMMON_TYPES = [("id", "uuid"), ("interaction_date", "date"), ("average_score", "numeric"),
                 ("critical_errors", "integer"), ("total_errors_count", "integer"), ("audit_duration", "integer"),
                 ("submitted_at", "timestamptz"), ("audit_start_time", "timestamptz"),
                 ("audit_end_time", "timestamptz"), ("reversal_requested_at", "timestamptz"),
                 ("reversal_approved", "boolean"), ("created_at", "timestamptz"), ("updated_at", "timestamptz")]


def extra_columns(t: AuditTable) -> list[str]:
    """Parameter columns and columns with no parameter: all kept in parameter_scores."""
    return t.param_columns + t.columns_without_parameter


def _parameter_scores(t: AuditTable) -> sql.Composable:
    cols = extra_columns(t)
    if not cols:
        return sql.SQL("'{}'::jsonb")
    chunks = []
    for i in range(0, len(cols), 40):  # jsonb_build_object takes at most 100 arguments
        pairs = sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in cols[i:i + 40])
        chunks.append(sql.SQL("jsonb_build_object({})").format(pairs))
    return sql.SQL(" || ").join(chunks)


TEMPLATES = Path(__file__).resolve().parent / "templates"

# Session settings of every backfill batch (and of the baselines it is compared with):
#  * jit off: compiling these wide statements costs more than it saves at batch sizes
#    (measured: a 6.5k-row batch 1.30 s with JIT, 0.41 s without);
#  * enable_seqscan off: every lookup in a batch is a per-row LATERAL probe; with odd cost
#    settings or statistics the planner could probe a table by scanning it once per row (seen
#    with random_page_cost = 40). Off, each probe uses its index; the one scan each statement
#    needs (the TID range of the legacy table) is not a sequential scan.
BATCH_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL enable_seqscan = off")


def template(name: str) -> sql.SQL:
    """A per-table SQL template (templates/<name>.sql), filled through psycopg.sql.format."""
    return sql.SQL((TEMPLATES / f"{name}.sql").read_text())


def _legacy_values(t: AuditTable) -> sql.Composable:
    pairs = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(c), col(t, c)) for c in LEGACY_TEXT)
    return sql.SQL("jsonb_build_object({}) || jsonb_build_object('version', 1)").format(pairs)


def shaped_select(t: AuditTable, source: sql.Composable) -> sql.Composable:
    """SELECT the audits columns + reason + already_migrated + the whole source row for every
    row of ``source`` (alias t). See templates/shaped_select.sql."""
    legacy = {c: col(t, c) for c in ("id", "interaction_id", "interaction_date", "transcript", "average_score",
                                     "critical_errors", "total_errors_count", "submitted_at", "validation_status",
                                     "acknowledgement_status", "audit_start_time", "audit_end_time",
                                     "audit_duration", "reversal_requested_at", "reversal_approved", "created_at",
                                     "updated_at", "employee_email", "auditor_email", "passing_status", "channel")}
    return template("shaped_select").format(
        table_name=sql.Literal(t.table_name), scorecard_id=sql.Literal(t.scorecard_id),
        parameter_scores=_parameter_scores(t), legacy_values=_legacy_values(t), source=source, **legacy)


def _audit_cols() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in AUDIT_COLUMNS)


def _shaped_cols(prefix: str = "s") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(prefix), sql.Identifier(c)) for c in AUDIT_COLUMNS)


def parameter_map(t: AuditTable) -> sql.Composable:
    """{field_id: {id, type, penalty}} of the table's scorecard parameters (a scalar subquery)."""
    return sql.SQL("({})").format(template("parameter_map").format(
        scorecard_id=sql.Literal(t.scorecard_id), fields=sql.Literal(t.param_columns)))


def errors_insert(t: AuditTable, source: sql.Composable, returning: bool = False) -> sql.Composable | None:
    """audit_errors rows for the audits ``source`` yields (alias n: id, interaction_date,
    parameter_scores); None when the table has no parameter column. ``returning``: as a
    data-modifying CTE (RETURNING 1), else a plain statement (the trigger's body)."""
    if not t.param_columns:
        return None
    return template("errors_insert").format(source=source, parameter_map=parameter_map(t),
                                            returning=sql.SQL("RETURNING 1" if returning else ""))


def _tid(page: int) -> sql.Literal:
    return sql.Literal(f"({int(page)},0)")


def backfill_claim(t: AuditTable, from_page: int, to_page: int) -> sql.Composable:
    """Statement 1 of a backfill batch: claim the rows of heap pages [from_page, to_page).
    Page bounds are literals, never query parameters: a legacy identifier may contain '%'."""
    return template("backfill_claim").format(table=sql.Identifier("public", t.table_name),
                                             table_name=sql.Literal(t.table_name),
                                             from_tid=_tid(from_page), to_tid=_tid(to_page))


def backfill_move(t: AuditTable, from_page: int, to_page: int) -> sql.Composable:
    """Statement 2 of a backfill batch: shape and write the rows statement 1 claimed. Both run
    in one transaction with the checkpoint (batching.Engine)."""
    source = template("backfill_source").format(table=sql.Identifier("public", t.table_name),
                                                table_name=sql.Literal(t.table_name),
                                                from_tid=_tid(from_page), to_tid=_tid(to_page))
    return _move(t, source)


def backfill_unbatched(t: AuditTable) -> sql.Composable:
    """The same shaping and writes as a batch, for a whole table in one statement without
    claims: the benchmark's and the notebook's baseline ("one INSERT ... SELECT per table")."""
    return _move(t, sql.Identifier("public", t.table_name))


def _move(t: AuditTable, source: sql.Composable) -> sql.Composable:
    errors = errors_insert(t, sql.SQL("new_audits n"), returning=True)
    return template("backfill_move").format(
        shaped=shaped_select(t, source), columns=_audit_cols(), shaped_columns=_shaped_cols(),
        errors=errors if errors is not None else sql.SQL("SELECT 0"), phase=sql.Literal(PHASE))


def sync_function(t: AuditTable, conn) -> sql.Composable:
    """Forward sync: every INSERT/UPDATE/DELETE on the legacy table is reflected in audits
    (or quarantine) in the same transaction. A DELETE soft-deletes. SECURITY DEFINER so the
    application's role needs no privilege on audits; depth guard stops the reverse trigger's
    writes from echoing back. The legacy row is shaped once per write (one pass of the
    mapping's index probes), then written from the record."""
    rec = lambda c: sql.SQL("v_row.{}").format(sql.Identifier(c))
    upd_set = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), rec(c)) for c in AUDIT_COLUMNS
        if c not in ("id", "legacy_values", "created_at"))
    values = sql.SQL(", ").join(rec(c) for c in AUDIT_COLUMNS)
    errors = errors_insert(t, sql.SQL("(SELECT v_row.id AS id, v_row.interaction_date AS interaction_date, "
                                      "v_row.parameter_scores AS parameter_scores) n"))
    body = sql.SQL("""
DECLARE
  v_row record;
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RETURN NULL;
  END IF;
  -- claim the row(s): waits for a backfill batch holding the claim, then this newer version wins
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id, claimed_by) VALUES ({tname}, OLD.id, 'trigger')
    ON CONFLICT (legacy_table, id) DO UPDATE SET claimed_by = 'trigger';
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id, claimed_by) VALUES ({tname}, NEW.id, 'trigger')
    ON CONFLICT (legacy_table, id) DO UPDATE SET claimed_by = 'trigger';
  END IF;
  IF TG_OP = 'DELETE' THEN
    UPDATE public.audits SET deleted_at = now() WHERE id = OLD.id AND legacy_table = {tname} AND deleted_at IS NULL;
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {tname} AND source_key = OLD.id::text;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id THEN
    DELETE FROM public.audits WHERE id = OLD.id AND legacy_table = {tname};
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {tname} AND source_key = OLD.id::text;
  END IF;
  SELECT * INTO v_row FROM ({shaped_new}) z;
  IF v_row.reason IS NULL THEN
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {tname} AND source_key = NEW.id::text;
    DELETE FROM public.audit_errors WHERE audit_id = NEW.id;
    UPDATE public.audits a SET {upd_set}, legacy_values = v_row.legacy_values || jsonb_build_object('version', a.version + 1)
      WHERE a.id = v_row.id;
    IF NOT FOUND THEN
      INSERT INTO public.audits ({cols}) VALUES ({values});
    END IF;
    {errors};
  ELSE
    DELETE FROM public.audits WHERE id = NEW.id AND legacy_table = {tname};
    INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, original_row, run_id)
    VALUES ({phase}, v_row.legacy_table, v_row.legacy_id::text, v_row.reason, to_jsonb(v_row.source_row), 'sync-trigger')
    ON CONFLICT (phase, source_table, source_key)
      DO UPDATE SET reason = EXCLUDED.reason, original_row = EXCLUDED.original_row, quarantined_at = clock_timestamp();
  END IF;
  RETURN NULL;
END
""").format(tname=sql.Literal(t.table_name), phase=sql.Literal(PHASE),
            shaped_new=shaped_select(t, sql.SQL("(SELECT NEW.*)")), upd_set=upd_set, cols=_audit_cols(),
            values=values, errors=errors if errors is not None else sql.SQL("NULL"))  # NULL: a PL/pgSQL no-op
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog, pg_temp AS {body}"
    ).format(fn=sync_function_name(t.table_name), body=_body_literal(body, conn))


def revoke_execute(fn: sql.Identifier) -> sql.Composable:
    """Functions are executable by PUBLIC when created: the runbook's are executable by nobody
    (a trigger fires whatever EXECUTE says)."""
    return sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(fn)


def sync_trigger(t: AuditTable) -> sql.Composable:
    return sql.SQL("CREATE OR REPLACE TRIGGER {trg} AFTER INSERT OR UPDATE OR DELETE ON {tbl} "
                   "FOR EACH ROW EXECUTE FUNCTION {fn}()").format(
        trg=trigger_name(t.table_name), tbl=sql.Identifier("public", t.table_name), fn=sync_function_name(t.table_name))


def drop_sync(t: AuditTable) -> list[sql.Composable]:
    return [sql.SQL("DROP TRIGGER IF EXISTS {trg} ON {tbl}").format(trg=trigger_name(t.table_name),
                                                                     tbl=sql.Identifier("public", t.table_name)),
            sql.SQL("DROP FUNCTION IF EXISTS {fn}()").format(fn=sync_function_name(t.table_name))]


def legacy_column_list(t: AuditTable) -> list[str]:
    return list(t.columns)  # legacy order


def compat_view(t: AuditTable, legacy_spelling: dict[str, str] | None = None) -> sql.Composable:
    """<table>_compat: exactly the legacy columns, in order, with their types. A row changed
    through audits shows its passing_status in the legacy spelling from params (which the
    passing_status_map reads back), so legacy readers and the reverse sync see 'Passed', not 'pass'."""
    exprs = []
    lv = lambda c: sql.SQL("a.legacy_values ->> {}").format(sql.Literal(c))
    derived = {
        "id": sql.SQL("a.id"),
        "employee_email": sql.SQL("CASE WHEN s.same THEN {} ELSE emp.email END").format(lv("employee_email")),
        "employee_name": sql.SQL("CASE WHEN s.same THEN {} ELSE emp.name END").format(lv("employee_name")),
        "auditor_email": sql.SQL("CASE WHEN s.same THEN {} ELSE aud.email END").format(lv("auditor_email")),
        "auditor_name": sql.SQL("CASE WHEN s.same THEN {} ELSE aud.name END").format(lv("auditor_name")),
        "interaction_id": sql.SQL("a.interaction_id"),
        "interaction_date": sql.SQL("a.interaction_date"),
        "channel": sql.SQL("CASE WHEN s.same THEN {} ELSE nullif(ch.name, 'Unassigned') END").format(lv("channel")),
        "transcript": sql.SQL("a.transcript"),
        "average_score": sql.SQL("a.total_score"),
        "critical_errors": sql.SQL("a.critical_errors_count"),
        "total_errors_count": sql.SQL("a.total_errors_count"),
        "passing_status": sql.SQL("CASE WHEN s.same THEN {} ELSE {} END").format(
            lv("passing_status"), _legacy_status(legacy_spelling or {})),
        "validation_status": sql.SQL("a.validation_status"),
        "acknowledgement_status": sql.SQL("a.acknowledgement_status"),
        "audit_duration": sql.SQL("a.audit_duration"),
        "submitted_at": sql.SQL("a.submitted_at"),
        "audit_start_time": sql.SQL("a.audit_start_time"),
        "audit_end_time": sql.SQL("a.audit_end_time"),
        "reversal_requested_at": sql.SQL("a.reversal_requested_at"),
        "reversal_approved": sql.SQL("a.reversal_approved"),
        "created_at": sql.SQL("a.created_at"),
        "updated_at": sql.SQL("a.updated_at"),
    }
    for name, typ in t.columns.items():
        if name in derived:
            expr = derived[name]
        else:  # parameter column or column without parameter, from parameter_scores
            expr = sql.SQL("a.parameter_scores ->> {}").format(sql.Literal(name))
        exprs.append(sql.SQL("({})::{} AS {}").format(expr, sql.SQL(typ), sql.Identifier(name)))
    return sql.SQL("""CREATE VIEW {view} WITH (security_invoker = true) AS
      SELECT {exprs}
      FROM public.audits a
      CROSS JOIN LATERAL (SELECT a.legacy_values IS NOT NULL
                                 AND a.version = (a.legacy_values ->> 'version')::integer AS same) s
      LEFT JOIN public.employees emp ON emp.id = a.employee_id
      LEFT JOIN public.employees aud ON aud.id = a.auditor_id
      LEFT JOIN public.channels ch ON ch.id = a.channel_id
      WHERE a.legacy_table = {tname} AND a.deleted_at IS NULL""").format(
        view=sql.Identifier("public", compat_view_name(t.table_name)), exprs=sql.SQL(",\n        ").join(exprs),
        tname=sql.Literal(t.table_name))


def reverse_sync_function(tables: list[AuditTable], conn) -> sql.Composable:
    """After cutover: writes to audits flow back into the legacy table of their scorecard
    (read through its compat view), so a rollback after cutover loses nothing."""
    branches = []
    for t in tables:
        cols = [c for c in t.columns]
        collist = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        updates = sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                                     for c in cols if c != "id")
        branches.append(sql.SQL("""
    IF rec.legacy_table = {tname} THEN
      IF TG_OP = 'DELETE' OR rec.deleted_at IS NOT NULL THEN
        DELETE FROM {tbl} WHERE id = rec.id;
      ELSE
        INSERT INTO {tbl} ({cols}) SELECT {cols} FROM {view} WHERE id = rec.id
        ON CONFLICT (id) DO UPDATE SET {updates};
      END IF;
      RETURN NULL;
    END IF;""").format(tname=sql.Literal(t.table_name), tbl=sql.Identifier("public", t.table_name), cols=collist,
                       view=sql.Identifier("public", compat_view_name(t.table_name)), updates=updates))
    body = sql.SQL("""
DECLARE
  rec public.audits%ROWTYPE;
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
  {branches}
  RETURN NULL;
END
""").format(branches=sql.SQL("\n").join(branches))
    return sql.SQL("CREATE OR REPLACE FUNCTION cqms_migration.p02_reverse_sync() RETURNS trigger LANGUAGE plpgsql "
                   "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS {}").format(_body_literal(body, conn))


def provenance_function(tables: list[AuditTable], conn) -> sql.Composable:
    """BEFORE INSERT on audits: a row the new application writes gets the legacy table of its
    scorecard as provenance, so the reverse sync knows where it belongs."""
    body = sql.SQL("""
BEGIN
  IF NEW.legacy_table IS NULL THEN
    SELECT s.table_name INTO NEW.legacy_table FROM public.scorecards s
    WHERE s.id = NEW.scorecard_id AND s.table_name = ANY({names});
    NEW.legacy_id := CASE WHEN NEW.legacy_table IS NOT NULL THEN NEW.id END;
  END IF;
  RETURN NEW;
END""").format(names=sql.Literal([t.table_name for t in tables]))
    return sql.SQL("CREATE OR REPLACE FUNCTION cqms_migration.p02_audit_provenance() RETURNS trigger LANGUAGE plpgsql "
                   "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS {}").format(_body_literal(body, conn))


def _body_literal(body: sql.Composable, conn) -> sql.Literal:
    """A function body as a quoted string literal: never dollar-quoted, because a hostile
    identifier inside the body could contain the closing dollar tag."""
    return sql.Literal(body.as_string(conn))
