-- assignments (phase 03, seed 2.4's intent), per persona: an agent reads their own, an auditor the
-- ones assigned to them (or by them), a supervisor their team's, an admin all, anon nothing; and,
-- after phase 03's cutover, who writes which (below). Expected rows are written out here from the relations, independently of the
-- policy.
BEGIN;
\ir ../helpers.psql
SELECT plan(33);

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

-- after cutover (these files run with every step of every phase applied): an admin writes any
-- assignment; an elevated employee creates them in their own name and works the ones given to
-- them (status, completion), never who is audited; an agent and anon write none; deleting is an
-- admin's. Every write reaches the legacy table in the writer's transaction (the reverse sync).
SELECT is(pg_temp.write_as('admin', format(
            'INSERT INTO public.assignments (id, employee_id, auditor_id, assigner_id, scheduled_date) VALUES (%L, %L, %L, %L, current_date)',
            '00000000-0000-4000-8000-000000000301', pg_temp.eid('agent'), pg_temp.eid('auditor'), pg_temp.eid('admin'))),
          1::bigint, 'admin: creates an assignment');
SELECT is((SELECT count(*) FROM public.audit_assignments l JOIN public.employees e ON e.id = pg_temp.eid('agent')
           WHERE l.id::text = '00000000-0000-4000-8000-000000000301'
             AND lower(btrim(l.employee_email)) = lower(btrim(e.email))), 1::bigint,
          'the legacy table holds it, under the employee''s email (reverse sync)');
SELECT is(pg_temp.write_as('agent', format(
            'INSERT INTO public.assignments (employee_id, auditor_id, assigner_id, scheduled_date) VALUES (%L, %L, %L, current_date)',
            pg_temp.eid('auditor'), pg_temp.eid('supervisor'), pg_temp.eid('agent'))), -1::bigint,
          'agent: creates no assignment');
SELECT is(pg_temp.as_role('anon', NULL, format(
            'WITH w AS (INSERT INTO public.assignments (employee_id, auditor_id, scheduled_date) VALUES (%L, %L, current_date) '
            'RETURNING 1) SELECT count(*) FROM w', pg_temp.eid('agent'), pg_temp.eid('auditor'))), -1::bigint,
          'anon: creates no assignment');
SELECT is(pg_temp.write_as('auditor', format(
            'INSERT INTO public.assignments (employee_id, auditor_id, assigner_id, scheduled_date) VALUES (%L, %L, %L, current_date)',
            pg_temp.eid('agent'), pg_temp.eid('auditor'), pg_temp.eid('admin'))), -1::bigint,
          'auditor: creates no assignment in another''s name');
SELECT is(pg_temp.write_as('auditor', format(
            'INSERT INTO public.assignments (employee_id, auditor_id, assigner_id, scheduled_date) VALUES (%L, %L, %L, current_date)',
            pg_temp.eid('agent'), pg_temp.eid('auditor'), pg_temp.eid('auditor'))), 1::bigint,
          'auditor: assigns themself an audit of an agent');
SELECT is(pg_temp.write_as('auditor', format(
            'UPDATE public.assignments SET employee_id = %L WHERE id = %L', pg_temp.eid('supervisor'),
            '00000000-0000-4000-8000-000000000301')), -1::bigint,
          'auditor: does not change who is audited on an assignment given to them');
SELECT is(pg_temp.write_as('auditor', format(
            'UPDATE public.assignments SET status = ''completed'', completed_at = now() WHERE id = %L',
            '00000000-0000-4000-8000-000000000301')), 1::bigint,
          'auditor: completes an assignment given to them');
SELECT is((SELECT count(*) FROM public.audit_assignments WHERE id::text = '00000000-0000-4000-8000-000000000301'
           AND status = 'completed' AND completed_at IS NOT NULL), 1::bigint,
          'the legacy row is completed too');
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.assignments SET status = ''cancelled'' WHERE id = %L', '00000000-0000-4000-8000-000000000301')),
          0::bigint, 'agent: updates no assignment, their own included');
SELECT is(pg_temp.write_as('supervisor', format(
            'DELETE FROM public.assignments WHERE id = %L', '00000000-0000-4000-8000-000000000301')), 0::bigint,
          'supervisor: deletes no assignment');
SELECT is(pg_temp.as_role('service_role', NULL, format(
            'WITH w AS (UPDATE public.assignments SET id = gen_random_uuid() WHERE id = %L RETURNING 1) SELECT count(*) FROM w',
            '00000000-0000-4000-8000-000000000301')), -1::bigint,
          'service_role: does not change an assignment''s id (its legacy row''s)');
SELECT is(pg_temp.write_as('admin', format(
            'DELETE FROM public.assignments WHERE id = %L', '00000000-0000-4000-8000-000000000301')), 1::bigint,
          'admin: deletes an assignment');
SELECT is((SELECT count(*) FROM public.audit_assignments WHERE id::text = '00000000-0000-4000-8000-000000000301'),
          0::bigint, 'its legacy row is gone too');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM cqms_migration.p03_waiting'), -1::bigint,
          'anon: the phase''s bookkeeping is refused');

-- scorecard_perameters, renamed scorecard_parameters by phase 03: the old name is a compat view
-- that gives each persona exactly what the table gives them (the legacy application's rights,
-- stock grants: all of them, anon included), reads and writes
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'public.scorecard_perameters'::regclass), 'v',
          'scorecard_perameters is the compat view after the rename');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.scorecard_perameters'),
          pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.scorecard_parameters'),
          'anon: reads through the old name what the table gives it');
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM public.scorecard_perameters'),
          pg_temp.as_user('agent', 'SELECT count(*) FROM public.scorecard_parameters'),
          'agent: reads through the old name what the table gives them');
SELECT is(pg_temp.as_user('auditor', 'SELECT count(*) FROM public.scorecard_perameters'),
          pg_temp.as_user('auditor', 'SELECT count(*) FROM public.scorecard_parameters'),
          'auditor: reads through the old name what the table gives them');
SELECT is(pg_temp.as_user('supervisor', 'SELECT count(*) FROM public.scorecard_perameters'),
          pg_temp.as_user('supervisor', 'SELECT count(*) FROM public.scorecard_parameters'),
          'supervisor: reads through the old name what the table gives them');
SELECT is(pg_temp.as_user('admin', 'SELECT count(*) FROM public.scorecard_perameters'),
          (SELECT count(*) FROM public.scorecard_parameters), 'admin: reads every parameter through the old name');
SELECT is(pg_temp.as_role('service_role', NULL, 'SELECT count(*) FROM public.scorecard_perameters'),
          (SELECT count(*) FROM public.scorecard_parameters), 'service_role: reads every parameter through the old name');
SELECT is(pg_temp.write_as('agent', 'UPDATE public.scorecard_perameters SET prompt = prompt WHERE id = (SELECT min(id::text)::uuid FROM public.scorecard_parameters)'),
          pg_temp.write_as('agent', 'UPDATE public.scorecard_parameters SET prompt = prompt WHERE id = (SELECT min(id::text)::uuid FROM public.scorecard_parameters)'),
          'agent: writes through the old name what the table lets them write');
SELECT is(pg_temp.as_role('anon', NULL, 'WITH w AS (UPDATE public.scorecard_perameters SET prompt = prompt RETURNING 1) SELECT count(*) FROM w'),
          pg_temp.as_role('anon', NULL, 'WITH w AS (UPDATE public.scorecard_parameters SET prompt = prompt RETURNING 1) SELECT count(*) FROM w'),
          'anon: writes through the old name what the table lets it write');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.scorecard_perameters'::regclass AND attnum > 0),
          (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.scorecard_parameters'::regclass AND attnum > 0 AND NOT attisdropped),
          'the old name shows exactly the table''s columns');

SELECT * FROM finish();
ROLLBACK;
