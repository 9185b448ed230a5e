-- audit_errors for the audits the source yields (alias n: id, interaction_date,
-- parameter_scores), as each parameter's meaning says (templates/error_of.sql): a count of
-- errors, a flag whose value means an error, points below the maximum. The table's parameter
-- meanings are read once per statement into a JSON map (an uncorrelated scalar subquery); each
-- audit's scores are expanded per row. No join whose inner side the planner could rescan.
INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id,
                                 parameter_type, error_count, penalty_points)
SELECT n.id, n.interaction_date, (pm.p ->> 'id')::uuid, kv.key, pm.p ->> 'type', e.error_count, e.penalty
FROM {source}
CROSS JOIN LATERAL jsonb_each_text(n.parameter_scores) kv
CROSS JOIN LATERAL (SELECT ({parameter_map}) -> kv.key AS p) pm
CROSS JOIN LATERAL ({error_of}) e
WHERE pm.p IS NOT NULL AND pm.p ->> 'id' IS NOT NULL AND e.error_count > 0
{returning}
