-- audit_errors: one row per (audit, parameter of its scorecard) whose count is a positive
-- integer, for the audits the source yields (alias n: id, interaction_date,
-- parameter_scores). The scorecard's parameters are read once per statement into a JSON map
-- (an uncorrelated scalar subquery); each audit's scores are expanded per row. No join whose
-- inner side the planner could rescan.
INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id,
                                 parameter_type, error_count, penalty_points)
SELECT n.id, n.interaction_date, (pm.p ->> 'id')::uuid, kv.key, pm.p ->> 'type', kv.value::int,
       (pm.p ->> 'penalty')::numeric * kv.value::int
FROM {source}
CROSS JOIN LATERAL jsonb_each_text(n.parameter_scores) kv
CROSS JOIN LATERAL (SELECT ({parameter_map}) -> kv.key AS p) pm
WHERE CASE WHEN pm.p IS NULL OR kv.value !~ '^\s*[0-9]{{1,9}}\s*$' THEN false ELSE kv.value::int > 0 END
{returning}
