-- The one mapping of a legacy audit row (alias t of the source) to an audits row, plus the reason
-- it cannot migrate (NULL when it can) and the whole source row for the quarantine. Used by the
-- backfill, the forward sync trigger and the benchmark's unbatched baseline.
--
-- Every lookup is a LATERAL probe with LIMIT 1 (one index probe per row) or an uncorrelated
-- scalar subquery (evaluated once): the planner cannot turn any of them into a join that
-- rescans the batch, whatever the statistics or work_mem say (issue 7: a join back to a
-- materialized CTE went quadratic).
SELECT {id} AS id, {table_name}::text AS legacy_table, {id} AS legacy_id,
       emp.id AS employee_id, aud.id AS auditor_id, {scorecard_id}::uuid AS scorecard_id,
       {interaction_id} AS interaction_id, {interaction_date} AS interaction_date,
       CASE ch.code WHEN 'EMAIL' THEN 'email' WHEN 'CHAT' THEN 'chat' WHEN 'PHONE' THEN 'call'
                    WHEN 'CALL' THEN 'call' WHEN 'VOICE' THEN 'call' WHEN 'TICKET' THEN 'ticket'
                    ELSE 'other' END AS interaction_type,
       coalesce(ch.id, (SELECT u.id FROM public.channels u WHERE u.code = 'UNASSIGNED')) AS channel_id,
       {transcript} AS transcript,
       {average_score} AS total_score, 100::numeric AS max_possible_score, psm.status AS passing_status,
       (SELECT sc.passing_threshold FROM public.scorecards sc WHERE sc.id = {scorecard_id}::uuid) AS passing_threshold,
       {critical_errors} AS critical_errors_count, {total_errors_count} AS total_errors_count,
       {parameter_scores} AS parameter_scores,
       CASE WHEN {submitted_at} IS NOT NULL THEN 'submitted' ELSE 'draft' END AS status,
       {validation_status} AS validation_status, {acknowledgement_status} AS acknowledgement_status,
       {audit_start_time} AS audit_start_time, {audit_end_time} AS audit_end_time, {audit_duration} AS audit_duration,
       {submitted_at} AS submitted_at, {reversal_requested_at} AS reversal_requested_at,
       {reversal_approved} AS reversal_approved,
       'Q' || extract(quarter FROM {interaction_date})::int AS quarter,
       extract(week FROM {interaction_date})::int AS week,
       coalesce({created_at}, now()) AS created_at, coalesce({updated_at}, now()) AS updated_at,
       NULL::timestamptz AS deleted_at, {legacy_values} AS legacy_values,
       r.reason,
       coalesce(ex.found AND ex.legacy_table IS NOT DISTINCT FROM {table_name}, false) AS already_migrated,
       -- the whole legacy row, for the quarantine: only where there is a reason (the CTE stays narrow)
       CASE WHEN r.reason IS NOT NULL THEN {raw} END AS source_row
FROM {source} t
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({employee_email})) LIMIT 1) emp ON true
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({auditor_email})) LIMIT 1) aud ON true
LEFT JOIN LATERAL (SELECT m.status FROM cqms_migration.p02_passing_status_map m
                   WHERE m.legacy = lower(regexp_replace(btrim({passing_status}), '\s+', ' ', 'g')) LIMIT 1) psm ON true
LEFT JOIN LATERAL (SELECT c.id, c.code FROM public.channels c
                   WHERE c.code = cqms_migration.ref_code({channel}) LIMIT 1) ch ON true
-- the id already in audits: migrated from this table (skip) or from another one (quarantine)
LEFT JOIN LATERAL (SELECT true AS found, x.legacy_table FROM public.audits x WHERE x.id = {id} LIMIT 1) ex ON true
-- why the row cannot migrate (NULL: it can); an expression-only subquery, flattened by the planner
CROSS JOIN LATERAL (SELECT
         CASE
           WHEN {id} IS NULL THEN 'null_id'
           WHEN {unconvertible} THEN 'unconvertible_value'
           WHEN emp.id IS NULL THEN 'unknown_employee_email'
           WHEN aud.id IS NULL THEN 'unknown_auditor_email'
           WHEN emp.id = aud.id THEN 'self_audit'
           WHEN {interaction_date} IS NULL THEN 'null_interaction_date'
           WHEN {passing_status} IS NOT NULL AND psm.status IS NULL THEN 'unmapped_passing_status'
           WHEN {validation_status} IS NOT NULL
                AND {validation_status} NOT IN ('pending', 'approved', 'rejected', 'needs_revision')
             THEN 'unmapped_validation_status'
           WHEN {acknowledgement_status} IS NOT NULL
                AND {acknowledgement_status} NOT IN ('pending', 'acknowledged', 'disputed', 'not_required')
             THEN 'unmapped_acknowledgement_status'
           WHEN {audit_end_time} < {audit_start_time} THEN 'end_before_start'
           WHEN {audit_duration} < 0 THEN 'negative_duration'
           WHEN {average_score} < 0 THEN 'negative_score'
           WHEN ex.found AND ex.legacy_table IS DISTINCT FROM {table_name} THEN 'duplicate_id_across_tables'
         END AS reason) r
