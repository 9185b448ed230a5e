-- The one mapping of a legacy audit row (alias t of the source) to an audits row, plus the reason
-- it cannot migrate (NULL when it can) and the whole source row for the quarantine. Used by the
-- backfill, the forward sync trigger and the benchmark's unbatched baseline.
--
-- Every lookup is a LATERAL probe with LIMIT 1 (one index probe per row) or an uncorrelated
-- scalar subquery (evaluated once): the planner cannot turn any of them into a join that
-- rescans the batch, whatever the statistics or work_mem say (issue 7: a join back to a
-- materialized CTE went quadratic).
SELECT {id} AS id, {table_name}::text AS legacy_table, {legacy_id} AS legacy_id,
       emp.id AS employee_id, aud.id AS auditor_id, {scorecard_id}::uuid AS scorecard_id,
       {interaction_id} AS interaction_id, {interaction_date} AS interaction_date,
       CASE ch.code WHEN 'EMAIL' THEN 'email' WHEN 'CHAT' THEN 'chat' WHEN 'PHONE' THEN 'call'
                    WHEN 'CALL' THEN 'call' WHEN 'VOICE' THEN 'call' WHEN 'TICKET' THEN 'ticket'
                    ELSE 'other' END AS interaction_type,
       coalesce(ch.id, (SELECT u.id FROM public.channels u WHERE u.code = 'UNASSIGNED')) AS channel_id,
       {transcript} AS transcript,
       {average_score} AS total_score, 100::numeric AS max_possible_score, psm.value AS passing_status,
       (SELECT sc.passing_threshold FROM public.scorecards sc WHERE sc.id = {scorecard_id}::uuid) AS passing_threshold,
       {critical_errors} AS critical_errors_count, {total_errors_count} AS total_errors_count,
       {parameter_scores} AS parameter_scores, {parameter_feedback} AS parameter_feedback,
       CASE WHEN {submitted_at} IS NOT NULL THEN 'submitted' ELSE 'draft' END AS status,
       vsm.value AS validation_status, asm.value AS acknowledgement_status,
       {audit_start_time} AS audit_start_time, {audit_end_time} AS audit_end_time, {audit_duration} AS audit_duration,
       {submitted_at} AS submitted_at, {reversal_requested_at} AS reversal_requested_at,
       {reversal_approved} AS reversal_approved,
       'Q' || extract(quarter FROM {interaction_date})::int AS quarter,
       extract(week FROM {interaction_date})::int AS week,
       coalesce({created_at}, now()) AS created_at, coalesce({updated_at}, now()) AS updated_at,
       NULL::timestamptz AS deleted_at, {legacy_values} AS legacy_values,
       r.reason, d.detail,
       coalesce(ex.found AND ex.legacy_table IS NOT DISTINCT FROM {table_name}, false) AS already_migrated,
       -- the whole legacy row, for the quarantine: only where there is a reason (the CTE stays narrow)
       CASE WHEN r.reason IS NOT NULL THEN {raw} END AS source_row
FROM {source} t
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({employee_email})) LIMIT 1) emp ON true
LEFT JOIN LATERAL (SELECT e.id FROM public.employees e
                   WHERE lower(btrim(e.email)) = lower(btrim({auditor_email})) LIMIT 1) aud ON true
-- the matching keys of the constrained values (vocab_key's expression, inline), once per row
-- (OFFSET 0: not pulled up, so the expressions are not repeated at every reference)
CROSS JOIN LATERAL (SELECT {ps_key} AS ps, {vs_key} AS vs, {acs_key} AS acs, {ch_key} AS chk OFFSET 0) k
-- the constrained values through the operator's vocabularies (vocab.py; p02_value_map); a blank
-- value is no value; a channel spelling the channels do not know through channel_map
LEFT JOIN LATERAL (SELECT m.value FROM cqms_migration.p02_value_map m WHERE m.vocabulary = 'passing_status'
                   AND m.legacy = k.ps LIMIT 1) psm ON true
LEFT JOIN LATERAL (SELECT m.value FROM cqms_migration.p02_value_map m WHERE m.vocabulary = 'validation_status'
                   AND m.legacy = k.vs LIMIT 1) vsm ON true
LEFT JOIN LATERAL (SELECT m.value FROM cqms_migration.p02_value_map m WHERE m.vocabulary = 'acknowledgement_status'
                   AND m.legacy = k.acs LIMIT 1) asm ON true
LEFT JOIN LATERAL (SELECT c.id, c.code FROM public.channels c
                   WHERE c.code = coalesce((SELECT m.value FROM cqms_migration.p02_value_map m
                                            WHERE m.vocabulary = 'channel' AND m.legacy = k.chk),
                                           cqms_migration.ref_code({channel})) LIMIT 1) ch ON true
-- the id already in audits: migrated from this table (skip) or from another one (quarantine)
LEFT JOIN LATERAL (SELECT true AS found, x.legacy_table FROM public.audits x WHERE x.id = {id} LIMIT 1) ex ON true
-- why the row cannot migrate (NULL: it can); an expression-only subquery, flattened by the planner
CROSS JOIN LATERAL (SELECT
         CASE
           WHEN {raw_id} IS NULL THEN 'null_id'
           WHEN {unconvertible} THEN 'unconvertible_value'
           WHEN nullif(btrim({employee_email}), '') IS NULL THEN 'null_employee_email'
           WHEN emp.id IS NULL THEN 'unknown_employee_email'
           WHEN nullif(btrim({auditor_email}), '') IS NULL THEN 'null_auditor_email'
           WHEN aud.id IS NULL THEN 'unknown_auditor_email'
           WHEN emp.id = aud.id THEN 'self_audit'
           WHEN {interaction_date} IS NULL THEN 'null_interaction_date'
           WHEN k.ps IS NOT NULL AND psm.value IS NULL THEN 'unmapped_passing_status'
           WHEN k.vs IS NOT NULL AND vsm.value IS NULL THEN 'unmapped_validation_status'
           WHEN k.acs IS NOT NULL AND asm.value IS NULL THEN 'unmapped_acknowledgement_status'
           WHEN {audit_end_time} < {audit_start_time} THEN 'end_before_start'
           WHEN {audit_duration} < 0 THEN 'negative_duration'
           WHEN {average_score} < 0 THEN 'negative_score'
           WHEN ex.found AND ex.legacy_table IS DISTINCT FROM {table_name} THEN 'duplicate_id_across_tables'
         END AS reason) r
-- the column and value behind the reason, for the reviewer (only where there is one)
CROSS JOIN LATERAL (SELECT
         CASE r.reason
           WHEN 'null_id' THEN 'id is NULL'
           WHEN 'unconvertible_value' THEN {unconvertible_detail}
           WHEN 'null_employee_email' THEN 'employee_email is ' || coalesce(quote_literal({employee_email}), 'NULL')
           WHEN 'unknown_employee_email' THEN 'employee_email ' || quote_literal(left({employee_email}, 200)) || ' is no employee'
           WHEN 'null_auditor_email' THEN 'auditor_email is ' || coalesce(quote_literal({auditor_email}), 'NULL')
           WHEN 'unknown_auditor_email' THEN 'auditor_email ' || quote_literal(left({auditor_email}, 200)) || ' is no employee'
           WHEN 'self_audit' THEN 'employee_email ' || quote_literal(left({employee_email}, 200)) || ' audited by the same person ('
                                  || quote_literal(left({auditor_email}, 200)) || ')'
           WHEN 'null_interaction_date' THEN 'interaction_date is NULL'
           WHEN 'unmapped_passing_status' THEN 'passing_status ' || quote_literal(left({passing_status}, 200)) || ' has no unified value (passing_status_map)'
           WHEN 'unmapped_validation_status' THEN 'validation_status ' || quote_literal(left({validation_status}, 200))
                                                  || ' has no unified value (validation_status_map)'
           WHEN 'unmapped_acknowledgement_status' THEN 'acknowledgement_status ' || quote_literal(left({acknowledgement_status}, 200))
                                                       || ' has no unified value (acknowledgement_status_map)'
           WHEN 'end_before_start' THEN 'audit_end_time ' || {audit_end_time} || ' is before audit_start_time ' || {audit_start_time}
           WHEN 'negative_duration' THEN 'audit_duration ' || {audit_duration} || ' is negative'
           WHEN 'negative_score' THEN 'average_score ' || {average_score} || ' is negative'
           WHEN 'duplicate_id_across_tables' THEN 'id ' || {raw_id} || ' is already the audit of ' || quote_literal(ex.legacy_table)
         END AS detail) d
