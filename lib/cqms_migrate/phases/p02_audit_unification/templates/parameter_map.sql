-- The meaning of each parameter column of one legacy table, as {{column: {{id, field, type,
-- penalty, kind, ev, max}}}} (p02_parameter_kinds with the scorecard's parameter, the first active
-- one by display order): what an audit's scores say of its errors. Feedback columns have none.
-- A parameter the scorecard gained after load_parameter_kinds (a column added mid-transition,
-- drift.py) is read by its field_type as parameters.py reads a certain one: a flag type is a flag
-- whose yes is the error, a points type is points out of its penalty_points, a text type is
-- feedback, anything else a count; a re-run of phase 02 records its meaning.
SELECT coalesce(jsonb_object_agg(m.column_name, m.p), '{{}}'::jsonb)
FROM (
  SELECT k.column_name, jsonb_build_object(
           'id', sp.id, 'field', k.field_id, 'type', sp.parameter_type, 'penalty', sp.penalty_points, 'kind', k.kind,
           'ev', to_jsonb(k.error_values), 'max', k.max_points) AS p
  FROM cqms_migration.p02_parameter_kinds k
  LEFT JOIN LATERAL (SELECT p.id, p.parameter_type, p.penalty_points FROM public.scorecard_perameters p
                     WHERE p.scorecard_id = {scorecard_id}::uuid AND p.field_id = k.field_id AND coalesce(p.is_active, true)
                     ORDER BY p.display_order NULLS LAST, p.id LIMIT 1) sp ON true
  WHERE k.legacy_table = {table_name} AND k.kind <> 'feedback'
  UNION ALL
  -- (no join: a derived table and an array read once, so no plan rescans anything per row)
  (SELECT DISTINCT ON (q.field_id) q.field_id, jsonb_build_object(
           'id', q.id, 'field', q.field_id, 'type', q.parameter_type, 'penalty', q.penalty_points, 'kind', q.kind,
           'ev', to_jsonb({yes}::text[]), 'max', CASE WHEN q.kind = 'points' THEN q.penalty_points END)
   FROM (SELECT p.id, p.field_id, p.parameter_type, p.penalty_points, p.display_order,
                CASE WHEN {ftype} = ANY({flag_types}) THEN 'flag'
                     WHEN {ftype} = ANY({points_types}) THEN 'points'
                     WHEN {ftype} = ANY({text_types}) THEN 'feedback' ELSE 'count' END AS kind
         FROM public.scorecard_perameters p
         WHERE p.scorecard_id = {scorecard_id}::uuid AND p.field_id IS NOT NULL AND coalesce(p.is_active, true)
           AND p.field_id <> ALL (ARRAY(SELECT k2.column_name FROM cqms_migration.p02_parameter_kinds k2
                                        WHERE k2.legacy_table = {table_name}))) q
   WHERE q.kind <> 'feedback'
   ORDER BY q.field_id, q.display_order NULLS LAST, q.id)
) m
