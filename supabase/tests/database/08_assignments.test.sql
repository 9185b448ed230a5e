-- assignments (phase 03, seed 2.4's intent), per persona: an agent reads their own, an auditor the
-- ones assigned to them (or by them), a supervisor their team's, an admin all, anon nothing. Until
-- phase 03's cutover no API role but service_role writes them (the legacy table is the
-- application's). Expected rows are written out here from the relations, independently of the
-- policy.
BEGIN;
\ir ../helpers.psql
SELECT plan(12);

SELECT cmp_ok((SELECT count(*) FROM public.assignments), '>', 0::bigint, 'the dataset has assignments');
SELECT cmp_ok((SELECT count(*) FROM public.assignments WHERE employee_id = pg_temp.eid('agent')
                 OR auditor_id = pg_temp.eid('auditor')), '>', 0::bigint, 'the agent or the auditor has assignments');

SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.assignments'), -1::bigint,
          'anon: assignments are refused');
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM public.assignments'),
          (SELECT count(*) FROM public.assignments WHERE pg_temp.eid('agent') IN (employee_id, auditor_id, assigner_id)),
          'agent: reads exactly their own assignments (as the one audited, auditor or assigner)');
SELECT is(pg_temp.as_user('auditor', 'SELECT count(*) FROM public.assignments'),
          (SELECT count(*) FROM public.assignments WHERE pg_temp.eid('auditor') IN (employee_id, auditor_id, assigner_id)
             OR employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('auditor')))),
          'auditor: reads the assignments assigned to them or by them, and their team''s');
SELECT is(pg_temp.as_user('supervisor', 'SELECT count(*) FROM public.assignments'),
          (SELECT count(*) FROM public.assignments WHERE pg_temp.eid('supervisor') IN (employee_id, auditor_id, assigner_id)
             OR employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))),
          'supervisor: reads their team''s assignments and their own');
SELECT is(pg_temp.as_user('admin', 'SELECT count(*) FROM public.assignments'),
          (SELECT count(*) FROM public.assignments), 'admin: reads every assignment');
SELECT is(pg_temp.as_role('service_role', NULL, 'SELECT count(*) FROM public.assignments'),
          (SELECT count(*) FROM public.assignments), 'service_role: reads every assignment');

-- no API write before cutover: an insert, an update and a delete are refused, admins included
SELECT is(pg_temp.write_as('admin', format(
            'INSERT INTO public.assignments (employee_id, auditor_id, scheduled_date) VALUES (%L, %L, current_date)',
            pg_temp.eid('agent'), pg_temp.eid('auditor'))), -1::bigint, 'admin: no insert into assignments before cutover');
SELECT is(pg_temp.write_as('supervisor', 'UPDATE public.assignments SET status = ''cancelled'''), -1::bigint,
          'supervisor: no update of assignments before cutover');
SELECT is(pg_temp.write_as('auditor', 'DELETE FROM public.assignments'), -1::bigint,
          'auditor: no delete from assignments before cutover');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM cqms_migration.p03_waiting'), -1::bigint,
          'anon: the phase''s bookkeeping is refused');

SELECT * FROM finish();
ROLLBACK;
