-- The active parameters of one scorecard, as {{field_id: {{id, type, penalty}}}} (the first by
-- display order when a field_id repeats). Only those with a column have a score to count.
SELECT coalesce(jsonb_object_agg(p.field_id, p.info), '{{}}'::jsonb)
FROM (SELECT DISTINCT ON (sp.field_id) sp.field_id,
             jsonb_build_object('id', sp.id, 'type', sp.parameter_type, 'penalty', sp.penalty_points) AS info
      FROM public.scorecard_perameters sp
      WHERE sp.scorecard_id = {scorecard_id}::uuid AND coalesce(sp.is_active, true)
      ORDER BY sp.field_id, sp.display_order NULLS LAST, sp.id) p
