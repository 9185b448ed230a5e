-- An auditor (quality analyst, elevated): creates audits in their own name and edits the ones they
-- wrote; reads those and their team's; never someone else's audit of someone outside their team.
BEGIN;
\ir ../helpers.psql
SELECT plan(13);

SELECT cmp_ok((SELECT count(*) FROM public.audits WHERE auditor_id = pg_temp.eid('auditor')), '>', 0::bigint,
              'the auditor has written audits');
SELECT is(pg_temp.as_user('auditor', 'SELECT count(*) FROM public.audits'),
          (SELECT count(*) FROM public.audits WHERE auditor_id = pg_temp.eid('auditor') OR employee_id = pg_temp.eid('auditor')
             OR employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('auditor')))),
          'auditor: reads the audits they wrote, about them, and of their team');
SELECT is(pg_temp.as_user('auditor', 'SELECT count(*) FROM public.employees'),
          (SELECT count(*) FROM public.employees), 'auditor: reads the employee directory (elevated)');

SELECT is(pg_temp.write_as('auditor', format(
            'INSERT INTO public.audits (employee_id, auditor_id, scorecard_id, interaction_date, total_score, max_possible_score) '
            'VALUES (%L, %L, %L, current_date, 88, 100)', pg_temp.eid('agent'), pg_temp.eid('auditor'),
            (SELECT scorecard_id FROM public.audits WHERE legacy_table = (SELECT legacy FROM busiest) LIMIT 1))),
          1::bigint, 'auditor: creates an audit in their own name');
SELECT is(pg_temp.write_as('auditor', format(
            'INSERT INTO public.audits (employee_id, auditor_id, scorecard_id, interaction_date) '
            'VALUES (%L, %L, %L, current_date)', pg_temp.eid('agent'), pg_temp.eid('supervisor'),
            (SELECT scorecard_id FROM public.audits LIMIT 1))),
          -1::bigint, 'auditor: cannot create an audit in someone else''s name');
SELECT is(pg_temp.write_as('auditor', format('UPDATE public.audits SET total_score = 77.5 WHERE id = %L',
            (SELECT id FROM public.audits WHERE auditor_id = pg_temp.eid('auditor') ORDER BY id LIMIT 1))),
          1::bigint, 'auditor: edits an audit they wrote');
SELECT is(pg_temp.write_as('auditor', format('UPDATE public.audits SET auditor_id = %L WHERE id = %L',
            pg_temp.eid('supervisor'), (SELECT id FROM public.audits WHERE auditor_id = pg_temp.eid('auditor') ORDER BY id LIMIT 1))),
          -1::bigint, 'auditor: cannot hand an audit to another auditor');
SELECT isnt((SELECT id FROM public.audits WHERE auditor_id <> pg_temp.eid('auditor') AND employee_id <> pg_temp.eid('auditor')
               AND employee_id NOT IN (SELECT pg_temp.team_of(pg_temp.eid('auditor'))) ORDER BY id LIMIT 1), NULL,
            'there is an audit by another auditor of someone outside the auditor''s team');
SELECT is(pg_temp.write_as('auditor', format('UPDATE public.audits SET total_score = 1 WHERE id = %L',
            (SELECT id FROM public.audits WHERE auditor_id <> pg_temp.eid('auditor') AND employee_id <> pg_temp.eid('auditor')
               AND employee_id NOT IN (SELECT pg_temp.team_of(pg_temp.eid('auditor'))) ORDER BY id LIMIT 1))),
          0::bigint, 'auditor: cannot edit another auditor''s audit outside their team');
SELECT is(pg_temp.write_as('auditor', format('DELETE FROM public.audits WHERE id = %L',
            (SELECT id FROM public.audits WHERE auditor_id = pg_temp.eid('auditor') ORDER BY id LIMIT 1))),
          0::bigint, 'auditor: cannot delete an audit (admins do)');
SELECT is(pg_temp.write_as('auditor', format(
            'UPDATE public.audit_errors SET comment = ''checked'' WHERE audit_id IN (SELECT id FROM public.audits WHERE auditor_id = %L)',
            pg_temp.eid('auditor'))),
          (SELECT count(*) FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id
           WHERE a.auditor_id = pg_temp.eid('auditor')),
          'auditor: edits the errors of the audits they wrote');
SELECT is(pg_temp.write_as('auditor', 'UPDATE public.employees SET designation = ''x'''), -1::bigint,
          'auditor: cannot edit employees (their own row: only self-service columns)');
SELECT is(pg_temp.write_as('auditor', 'DELETE FROM public.channels'), 0::bigint, 'auditor: cannot change reference tables');

SELECT * FROM finish();
ROLLBACK;
