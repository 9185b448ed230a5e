-- A supervisor or team lead (elevated): reads their team's audits, validates them and answers
-- reversal requests; does not rewrite a score they did not give; sees no other team's audits.
BEGIN;
\ir ../helpers.psql
SELECT plan(9);

SELECT cmp_ok((SELECT count(*) FROM public.audits WHERE employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))),
              '>', 0::bigint, 'the supervisor''s team has audits');
SELECT is(pg_temp.as_user('supervisor', 'SELECT count(*) FROM public.audits'),
          (SELECT count(*) FROM public.audits WHERE employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))
             OR employee_id = pg_temp.eid('supervisor') OR auditor_id = pg_temp.eid('supervisor')),
          'supervisor: reads their team''s audits (and their own)');
SELECT is(pg_temp.as_user('supervisor', format('SELECT count(*) FROM public.%I', (SELECT compat FROM busiest))),
          (SELECT count(*) FROM public.audits WHERE legacy_table = (SELECT legacy FROM busiest) AND deleted_at IS NULL
             AND (employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))
                  OR employee_id = pg_temp.eid('supervisor') OR auditor_id = pg_temp.eid('supervisor'))),
          'supervisor: the compat view shows the same audits');

SELECT id AS team_audit FROM public.audits
WHERE employee_id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor'))) AND auditor_id <> pg_temp.eid('supervisor')
ORDER BY id LIMIT 1 \gset
SELECT is(pg_temp.write_as('supervisor', format(
            'UPDATE public.audits SET validation_status = ''approved'', validated_at = now() WHERE id = %L', :'team_audit')),
          1::bigint, 'supervisor: validates a team audit');
SELECT is(pg_temp.write_as('supervisor', format(
            'UPDATE public.audits SET reversal_approved = false, reversal_responded_at = now(), reversal_responded_by = %L, '
            'reversal_notes = ''upheld'' WHERE id = %L', pg_temp.eid('supervisor'), :'team_audit')),
          1::bigint, 'supervisor: answers a reversal request');
SELECT is(pg_temp.write_as('supervisor', format('UPDATE public.audits SET total_score = coalesce(total_score, 0) + 1 WHERE id = %L', :'team_audit')),
          -1::bigint, 'supervisor: cannot rewrite a score they did not give');
SELECT isnt((SELECT id FROM public.audits WHERE employee_id NOT IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))
               AND employee_id <> pg_temp.eid('supervisor') AND auditor_id <> pg_temp.eid('supervisor') ORDER BY id LIMIT 1),
            NULL, 'there is an audit of another team');
SELECT is(pg_temp.as_user('supervisor', format('SELECT count(*) FROM public.audits WHERE id = %L',
            (SELECT id FROM public.audits WHERE employee_id NOT IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))
               AND employee_id <> pg_temp.eid('supervisor') AND auditor_id <> pg_temp.eid('supervisor') ORDER BY id LIMIT 1))),
          0::bigint, 'supervisor: no audit of another team');
SELECT is(pg_temp.write_as('supervisor', 'DELETE FROM public.audits'), 0::bigint, 'supervisor: cannot delete audits');

SELECT * FROM finish();
ROLLBACK;
