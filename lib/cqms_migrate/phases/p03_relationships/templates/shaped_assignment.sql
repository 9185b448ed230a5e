-- The one mapping of a legacy assignment row (alias t) to an assignments row (seed 2.4), plus why
-- it cannot migrate (NULL: it can), its emails' keys for the waiting list, and the whole legacy
-- row for the quarantine. Read by p03_apply (the sync, the backfill and the retries) and by
-- verify. Every lookup is a LATERAL probe with LIMIT 1: one index probe per row, whatever the plan.
SELECT t.{id_column}::text AS key,
       {id} AS id,
       emp.id AS employee_id, aud.id AS auditor_id, asg.id AS assigner_id, sc.id AS scorecard_id,
       stm.value AS status, 'normal'::text AS priority,
       {scheduled_date} AS scheduled_date, {week} AS week,
       'Q' || extract(quarter FROM {scheduled_date})::int AS quarter,
       {conversation_id} AS conversation_id, {intercom_alias} AS intercom_alias,
       srm.value AS source_type, {completed_at} AS completed_at,
       au.id AS audit_id, au.interaction_date AS audit_interaction_date,
       {created_at} AS created_at,
       r.reason, d.detail,
       -- what waits for an employee or an audit to appear (md5 of the normalized email: a bounded key)
       CASE WHEN emp.id IS NULL AND nullif(btrim({employee_email}), '') IS NOT NULL
            THEN md5(lower(btrim({employee_email}))) END AS employee_wait,
       CASE WHEN aud.id IS NULL AND nullif(btrim({auditor_email}), '') IS NOT NULL
            THEN md5(lower(btrim({auditor_email}))) END AS auditor_wait,
       CASE WHEN asg.id IS NULL AND nullif(btrim({assigned_by}), '') IS NOT NULL
            THEN md5(lower(btrim({assigned_by}))) END AS assigner_wait,
       CASE WHEN au.id IS NULL AND {audit_id} IS NOT NULL THEN {audit_id}::text END AS audit_wait,
       CASE WHEN r.reason IS NOT NULL THEN to_jsonb(t) END AS source_row
FROM {source}
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({employee_email})) LIMIT 1) emp ON true
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({auditor_email})) LIMIT 1) aud ON true
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({assigned_by})) LIMIT 1) asg ON true
LEFT JOIN LATERAL (SELECT s.id FROM public.scorecards s WHERE s.id = {scorecard_id} LIMIT 1) sc ON true
LEFT JOIN LATERAL (SELECT a.id, a.interaction_date FROM public.audits a WHERE a.id = {audit_id} LIMIT 1) au ON true
-- the constrained values through the phase's vocabularies (vocab_key's rule, inline)
CROSS JOIN LATERAL (SELECT {status_key} AS st, {source_key} AS src OFFSET 0) k
LEFT JOIN LATERAL (SELECT m.value FROM cqms_migration.p03_value_map m
                   WHERE m.vocabulary = 'assignment_status' AND m.legacy = k.st LIMIT 1) stm ON true
LEFT JOIN LATERAL (SELECT m.value FROM cqms_migration.p03_value_map m
                   WHERE m.vocabulary = 'source_type' AND m.legacy = k.src LIMIT 1) srm ON true
CROSS JOIN LATERAL (SELECT
         CASE
           WHEN {unconvertible} THEN 'unconvertible_value'
           WHEN nullif(btrim({employee_email}), '') IS NULL THEN 'null_employee_email'
           WHEN emp.id IS NULL THEN 'unknown_employee_email'
           WHEN nullif(btrim({auditor_email}), '') IS NULL THEN 'null_auditor_email'
           WHEN aud.id IS NULL THEN 'unknown_auditor_email'
           WHEN emp.id = aud.id THEN 'self_assignment'
           WHEN {scheduled_date} IS NULL THEN 'null_scheduled_date'
           WHEN {created_at} IS NULL THEN 'null_created_at'
           WHEN k.st IS NOT NULL AND stm.value IS NULL THEN 'unmapped_status'
           WHEN k.src IS NOT NULL AND srm.value IS NULL THEN 'unmapped_source_type'
           WHEN {scorecard_id} IS NOT NULL AND sc.id IS NULL THEN 'unknown_scorecard'
         END AS reason) r
CROSS JOIN LATERAL (SELECT
         CASE r.reason
           WHEN 'unconvertible_value' THEN {unconvertible_detail}
           WHEN 'null_employee_email' THEN 'employee_email is ' || coalesce(quote_literal({employee_email}), 'NULL')
           WHEN 'unknown_employee_email' THEN 'employee_email ' || quote_literal(left({employee_email}, 200)) || ' is no employee'
           WHEN 'null_auditor_email' THEN 'auditor_email is ' || coalesce(quote_literal({auditor_email}), 'NULL')
           WHEN 'unknown_auditor_email' THEN 'auditor_email ' || quote_literal(left({auditor_email}, 200)) || ' is no employee'
           WHEN 'self_assignment' THEN 'employee_email ' || quote_literal(left({employee_email}, 200))
                                       || ' is assigned to the same person (' || quote_literal(left({auditor_email}, 200)) || ')'
           WHEN 'null_scheduled_date' THEN 'scheduled_date is NULL'
           WHEN 'null_created_at' THEN 'created_at is NULL'
           WHEN 'unmapped_status' THEN 'status ' || quote_literal(left({status}, 200)) || ' has no unified value (assignment_status_map)'
           WHEN 'unmapped_source_type' THEN 'source_type ' || quote_literal(left({source_type}, 200))
                                            || ' has no unified value (source_type_map)'
           WHEN 'unknown_scorecard' THEN 'scorecard_id ' || {scorecard_id} || ' is no scorecard'
         END AS detail) d
