-- <table>_compat: exactly the legacy columns, in order, with their types. A row unchanged since the
-- migration (version as in legacy_values) returns the legacy text verbatim; a changed row, values
-- derived from audits. security_invoker: RLS on audits applies to the caller.
CREATE VIEW {view} WITH (security_invoker = true) AS
SELECT {expressions}
FROM public.audits a
CROSS JOIN LATERAL (SELECT a.legacy_values IS NOT NULL AND a.version = (a.legacy_values ->> 'version')::integer AS same) s
LEFT JOIN public.employees emp ON emp.id = a.employee_id
LEFT JOIN public.employees aud ON aud.id = a.auditor_id
LEFT JOIN public.channels ch ON ch.id = a.channel_id
WHERE a.legacy_table = {table_name} AND a.deleted_at IS NULL
