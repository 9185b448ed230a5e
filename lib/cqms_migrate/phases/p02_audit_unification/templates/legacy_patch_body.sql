SELECT coalesce(a.parameter_scores, '{{}}'::jsonb) || jsonb_build_object(
    {pairs})
FROM (SELECT a.legacy_values IS NOT NULL AND a.version = (a.legacy_values ->> 'version')::integer AS same) s
LEFT JOIN public.employees emp ON emp.id = a.employee_id
LEFT JOIN public.employees aud ON aud.id = a.auditor_id
LEFT JOIN public.channels ch ON ch.id = a.channel_id
