-- The meaning of each parameter column of one legacy table, as {{column: {{id, field, type,
-- penalty, kind, ev, max}}}} (p02_parameter_kinds with the scorecard's parameter, the first active
-- one by display order): what an audit's scores say of its errors. Feedback columns have none.
SELECT coalesce(jsonb_object_agg(k.column_name, jsonb_build_object(
         'id', sp.id, 'field', k.field_id, 'type', sp.parameter_type, 'penalty', sp.penalty_points, 'kind', k.kind,
         'ev', to_jsonb(k.error_values), 'max', k.max_points)), '{{}}'::jsonb)
FROM cqms_migration.p02_parameter_kinds k
LEFT JOIN LATERAL (SELECT p.id, p.parameter_type, p.penalty_points FROM public.scorecard_perameters p
                   WHERE p.scorecard_id = {scorecard_id}::uuid AND p.field_id = k.field_id AND coalesce(p.is_active, true)
                   ORDER BY p.display_order NULLS LAST, p.id LIMIT 1) sp ON true
WHERE k.legacy_table = {table_name} AND k.kind <> 'feedback'
