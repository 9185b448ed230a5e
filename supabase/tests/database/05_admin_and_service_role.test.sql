-- An admin reads and writes everything through RLS; service_role bypasses RLS (server side).
BEGIN;
\ir ../helpers.psql
SELECT plan(9);

SELECT is(pg_temp.as_user('admin', 'SELECT count(*) FROM public.audits'), (SELECT count(*) FROM public.audits),
          'admin: reads every audit');
SELECT is(pg_temp.as_user('admin', 'SELECT count(*) FROM public.employees'), (SELECT count(*) FROM public.employees),
          'admin: reads every employee');
SELECT is(pg_temp.as_user('admin', 'SELECT count(*) FROM public.people_compat'), (SELECT count(*) FROM public.people_compat),
          'admin: people_compat shows every row');
SELECT is(pg_temp.write_as('admin', format('UPDATE public.employees SET access_level = ''elevated'' WHERE id = %L',
            pg_temp.eid('agent'))), 1::bigint, 'admin: changes an access level');
SELECT is(pg_temp.write_as('admin', format('UPDATE public.audits SET auditor_id = %L WHERE id = %L', pg_temp.eid('supervisor'),
            (SELECT id FROM public.audits WHERE auditor_id = pg_temp.eid('auditor') AND employee_id <> pg_temp.eid('supervisor')
             ORDER BY id LIMIT 1))), 1::bigint, 'admin: reassigns an audit');
SELECT is(pg_temp.write_as('admin', 'INSERT INTO public.channels (name, code) VALUES (''Carrier pigeon'', ''PIGEON'')'),
          1::bigint, 'admin: writes reference tables');
SELECT is(pg_temp.write_as('admin', format('DELETE FROM public.audit_errors WHERE audit_id = %L',
            (SELECT audit_id FROM public.audit_errors ORDER BY id LIMIT 1))),
          (SELECT count(*) FROM public.audit_errors WHERE audit_id = (SELECT audit_id FROM public.audit_errors ORDER BY id LIMIT 1)),
          'admin: deletes audit errors');
SELECT is(pg_temp.as_role('service_role', NULL, 'SELECT count(*) FROM public.audits'), (SELECT count(*) FROM public.audits),
          'service_role: reads every audit');
SELECT is(pg_temp.as_role('service_role', NULL, 'SELECT count(*) FROM public.employees'),
          (SELECT count(*) FROM public.employees), 'service_role: reads every employee');

SELECT * FROM finish();
ROLLBACK;
