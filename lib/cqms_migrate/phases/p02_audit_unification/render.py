"""SQL for one dynamic audit table, composed with psycopg.sql only (identifiers are never
formatted into strings). The same column expressions feed the batched backfill, the
forward sync trigger and — read back through the compat view — the reverse sync, so the three
paths cannot disagree about how a legacy row maps to an audits row.

A legacy row maps to exactly one of: an audits row (id = legacy id, legacy_table = its table)
or a quarantine row (the whole original row as JSONB, with the first reason that applies).
"""

from __future__ import annotations

import hashlib

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


def shaped_select(t: AuditTable, source: sql.Composable) -> sql.Composable:
    """SELECT the audits columns + reason + the whole source row (serialised to JSONB only
    for rows that are quarantined) for every row of ``source`` (alias t)."""
    emp, aud = col(t, "employee_email"), col(t, "auditor_email")
    status_norm = sql.SQL("lower(regexp_replace(btrim({}), '\\s+', ' ', 'g'))").format(col(t, "passing_status"))
    channel_code = sql.SQL("cqms_migration.ref_code({})").format(col(t, "channel"))
    legacy_values = sql.SQL("{} || jsonb_build_object('version', 1)").format(
        sql.SQL("jsonb_build_object({})").format(
            sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(c), col(t, c)) for c in LEGACY_TEXT)))
    reason = sql.SQL("""CASE
        WHEN emp.id IS NULL THEN 'unknown_employee_email'
        WHEN aud.id IS NULL THEN 'unknown_auditor_email'
        WHEN emp.id = aud.id THEN 'self_audit'
        WHEN {idate} IS NULL THEN 'null_interaction_date'
        WHEN {ps} IS NOT NULL AND psm.status IS NULL THEN 'unmapped_passing_status'
        WHEN {vs} IS NOT NULL AND {vs} NOT IN ('pending', 'approved', 'rejected', 'needs_revision') THEN 'unmapped_validation_status'
        WHEN {ack} IS NOT NULL AND {ack} NOT IN ('pending', 'acknowledged', 'disputed', 'not_required') THEN 'unmapped_acknowledgement_status'
        WHEN {end_} < {start} THEN 'end_before_start'
        WHEN {dur} < 0 THEN 'negative_duration'
        WHEN {score} < 0 THEN 'negative_score'
        WHEN dup.id IS NOT NULL THEN 'duplicate_id_across_tables'
      END""").format(idate=col(t, "interaction_date"), ps=col(t, "passing_status"), vs=col(t, "validation_status"),
                     ack=col(t, "acknowledgement_status"), end_=col(t, "audit_end_time"), start=col(t, "audit_start_time"),
                     dur=col(t, "audit_duration"), score=col(t, "average_score"), id=col(t, "id"),
                     tname=sql.Literal(t.table_name))
    idate = col(t, "interaction_date")
    return sql.SQL("""
      SELECT {id} AS id, {tname}::text AS legacy_table, {id} AS legacy_id,
             emp.id AS employee_id, aud.id AS auditor_id, {sid}::uuid AS scorecard_id,
             {interaction_id} AS interaction_id, {idate} AS interaction_date,
             CASE ch.code WHEN 'EMAIL' THEN 'email' WHEN 'CHAT' THEN 'chat' WHEN 'PHONE' THEN 'call'
                          WHEN 'CALL' THEN 'call' WHEN 'VOICE' THEN 'call' WHEN 'TICKET' THEN 'ticket'
                          ELSE 'other' END AS interaction_type,
             coalesce(ch.id, chu.id) AS channel_id, {transcript} AS transcript,
             {score} AS total_score, 100::numeric AS max_possible_score, psm.status AS passing_status,
             sc.passing_threshold AS passing_threshold,
             {crit} AS critical_errors_count, {tot} AS total_errors_count, {params} AS parameter_scores,
             CASE WHEN {submitted} IS NOT NULL THEN 'submitted' ELSE 'draft' END AS status,
             {vs} AS validation_status, {ack} AS acknowledgement_status,
             {start} AS audit_start_time, {end_} AS audit_end_time, {dur} AS audit_duration,
             {submitted} AS submitted_at, {rev_at} AS reversal_requested_at, {rev_ok} AS reversal_approved,
             'Q' || extract(quarter FROM {idate})::int AS quarter, extract(week FROM {idate})::int AS week,
             coalesce({created}, now()) AS created_at, coalesce({updated}, now()) AS updated_at,
             NULL::timestamptz AS deleted_at, {legacy_values} AS legacy_values,
             {reason} AS reason, t AS source_row
      FROM {source} t
      LEFT JOIN public.employees emp ON lower(btrim(emp.email)) = lower(btrim({emp}))
      LEFT JOIN public.employees aud ON lower(btrim(aud.email)) = lower(btrim({aud}))
      LEFT JOIN cqms_migration.p02_passing_status_map psm ON psm.legacy = {status_norm}
      LEFT JOIN public.channels ch ON ch.code = {channel_code}
      LEFT JOIN public.channels chu ON chu.code = 'UNASSIGNED'
      LEFT JOIN public.scorecards sc ON sc.id = {sid}::uuid
      -- an id another legacy table already migrated: a LATERAL probe per row (an EXISTS here
      -- lets the planner hash the whole, growing audits table on every batch)
      LEFT JOIN LATERAL (SELECT x.id FROM public.audits x
                         WHERE x.id = {id} AND x.legacy_table <> {tname} LIMIT 1) dup ON true
    """).format(
        id=col(t, "id"), tname=sql.Literal(t.table_name), sid=sql.Literal(t.scorecard_id),
        interaction_id=col(t, "interaction_id"), idate=idate, transcript=col(t, "transcript"),
        score=col(t, "average_score"), crit=col(t, "critical_errors"), tot=col(t, "total_errors_count"),
        params=_parameter_scores(t), submitted=col(t, "submitted_at"), vs=col(t, "validation_status"),
        ack=col(t, "acknowledgement_status"), start=col(t, "audit_start_time"), end_=col(t, "audit_end_time"),
        dur=col(t, "audit_duration"), rev_at=col(t, "reversal_requested_at"), rev_ok=col(t, "reversal_approved"),
        created=col(t, "created_at"), updated=col(t, "updated_at"), legacy_values=legacy_values, reason=reason,
        source=source, emp=emp, aud=aud, status_norm=status_norm, channel_code=channel_code)


def _audit_cols() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in AUDIT_COLUMNS)


def _shaped_cols(prefix: str = "s") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(prefix), sql.Identifier(c)) for c in AUDIT_COLUMNS)


def errors_insert(t: AuditTable, source: sql.Composable, *, in_cte: bool) -> sql.Composable:
    """audit_errors: one row per (audit, parameter) that recorded an error (value > 0), for the
    shaped rows (alias ``s``) that ``source`` yields. ``in_cte``: part of the backfill's WITH
    statement, else a statement of the sync trigger's PL/pgSQL body."""
    if not t.param_columns:
        return sql.SQL("SELECT 0" if in_cte else "NULL")  # NULL is a PL/pgSQL no-op
    return sql.SQL("""
      INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id,
                                       parameter_type, error_count, penalty_points)
      SELECT s.id, s.interaction_date, sp.id, sp.field_id, sp.parameter_type, (s.parameter_scores ->> sp.field_id)::int,
             sp.penalty_points * (s.parameter_scores ->> sp.field_id)::int
      FROM {source}
      JOIN public.scorecard_perameters sp ON sp.scorecard_id = s.scorecard_id AND sp.field_id = ANY({fields})
                                          AND coalesce(sp.is_active, true)
      WHERE s.reason IS NULL AND (s.parameter_scores ->> sp.field_id)::int > 0
    """).format(source=source, fields=sql.Literal(t.param_columns))


# the backfill's new audits: errors only for rows this batch actually inserted
NEW_AUDITS_SOURCE = sql.SQL("shaped s JOIN new_audits n ON n.id = s.id")


def backfill_batch(t: AuditTable) -> sql.Composable:
    """One batch over a range of heap pages (keyset on the physical position: a TID range scan
    reads the table sequentially, so the cost per row does not grow with the table). Each row is
    first claimed in cqms_migration.p02_sync_claims: a row a sync trigger already claimed is
    skipped (the trigger wrote its newer version), and a trigger that fires while this batch
    holds a claim waits for it and then writes its newer version. So the backfill never
    overwrites a trigger's row, never resurrects a deleted one, and takes no lock on the legacy
    table. Parameters: %(from_page)s, %(to_page)s."""
    source = sql.SQL("(SELECT p.* FROM page p JOIN claimed c ON c.id = p.id)")
    claim = sql.SQL("""page AS (SELECT * FROM {tbl} WHERE ctid >= ('(' || %(from_page)s::bigint || ',0)')::tid
                         AND ctid < ('(' || %(to_page)s::bigint || ',0)')::tid),
      claimed AS (INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id)
                  SELECT {tname}, p.id FROM page p ON CONFLICT DO NOTHING RETURNING id),""").format(
        tbl=sql.Identifier("public", t.table_name), tname=sql.Literal(t.table_name))
    return sql.SQL("""
      WITH {claim}
      shaped AS MATERIALIZED ({shaped}),
      new_audits AS (
        INSERT INTO public.audits ({cols})
        SELECT {scols} FROM shaped s
        WHERE s.reason IS NULL AND NOT EXISTS (SELECT 1 FROM public.audits a WHERE a.id = s.id)
        ON CONFLICT DO NOTHING  -- belt and braces: a concurrent writer's committed row wins
        RETURNING id),
      new_errors AS ({errors}),
      quarantined AS (
        INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
        SELECT {phase}, s.legacy_table, s.legacy_id::text, s.reason, NULL, to_jsonb(s.source_row), current_setting('cqms.run_id', true)
        FROM shaped s WHERE s.reason IS NOT NULL
        ON CONFLICT (phase, source_table, source_key) DO NOTHING
        RETURNING 1)
      SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM new_audits), (SELECT count(*) FROM quarantined)
    """).format(claim=claim, shaped=shaped_select(t, source), cols=_audit_cols(), scols=_shaped_cols(),
                errors=errors_insert(t, NEW_AUDITS_SOURCE, in_cte=True), phase=sql.Literal(PHASE))


def sync_function(t: AuditTable, conn) -> sql.Composable:
    """Forward sync: every INSERT/UPDATE/DELETE on the legacy table is reflected in audits
    (or quarantine) in the same transaction. A DELETE soft-deletes. SECURITY DEFINER so the
    application's role needs no privilege on audits; depth guard stops the reverse trigger's
    writes from echoing back."""
    upd_set = sql.SQL(", ").join(
        sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in AUDIT_COLUMNS
        if c not in ("id", "legacy_values", "created_at"))
    shaped_new = sql.SQL("({})").format(shaped_select(t, sql.SQL("(SELECT NEW.*)")))
    body = sql.SQL("""
DECLARE
  v_reason text;
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
  SELECT z.reason INTO v_reason FROM {shaped_new} z;
  IF v_reason IS NULL THEN
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {tname} AND source_key = NEW.id::text;
    DELETE FROM public.audit_errors WHERE audit_id = NEW.id;
    UPDATE public.audits a SET {upd_set}, legacy_values = s.legacy_values || jsonb_build_object('version', a.version + 1)
      FROM {shaped_new} s WHERE a.id = s.id;
    IF NOT FOUND THEN
      INSERT INTO public.audits ({cols}) SELECT {scols} FROM {shaped_new} s;
    END IF;
    {errors};
  ELSE
    DELETE FROM public.audits WHERE id = NEW.id AND legacy_table = {tname};
    INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, original_row, run_id)
    SELECT {phase}, s.legacy_table, s.legacy_id::text, s.reason, to_jsonb(s.source_row), 'sync-trigger' FROM {shaped_new} s
    ON CONFLICT (phase, source_table, source_key)
      DO UPDATE SET reason = EXCLUDED.reason, original_row = EXCLUDED.original_row, quarantined_at = clock_timestamp();
  END IF;
  RETURN NULL;
END
""").format(tname=sql.Literal(t.table_name), phase=sql.Literal(PHASE),
            shaped_new=shaped_new, upd_set=upd_set, cols=_audit_cols(),
            scols=_shaped_cols(), errors=errors_insert(t, sql.SQL("{} s").format(shaped_new), in_cte=False))
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog, pg_temp AS {body}"
    ).format(fn=sync_function_name(t.table_name), body=_body_literal(body, conn))


def sync_trigger(t: AuditTable) -> sql.Composable:
    return sql.SQL("CREATE TRIGGER {trg} AFTER INSERT OR UPDATE OR DELETE ON {tbl} "
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
