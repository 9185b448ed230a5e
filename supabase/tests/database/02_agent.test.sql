-- An agent (standard access): reads the audits about them and the employees related to them,
-- the auditor's name included; acknowledges their audits and requests a reversal; nothing else.
BEGIN;
\ir ../helpers.psql
SELECT plan(23);

SELECT isnt(pg_temp.eid('agent'), NULL, 'the dataset has an agent with a login and audits');
SELECT cmp_ok((SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent')), '>', 0::bigint,
              'the agent has audits');

-- audits: theirs (as the employee audited, or as auditor), through the table and the compat view
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM public.audits'),
          (SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent') OR auditor_id = pg_temp.eid('agent')),
          'agent: reads exactly the audits about them or by them');
SELECT is(pg_temp.as_user('agent', format('SELECT count(*) FROM public.%I', (SELECT compat FROM busiest))),
          (SELECT count(*) FROM public.audits WHERE legacy_table = (SELECT legacy FROM busiest) AND deleted_at IS NULL
             AND (employee_id = pg_temp.eid('agent') OR auditor_id = pg_temp.eid('agent'))),
          'agent: the compat view shows the same audits (security_invoker)');
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM public.audit_errors'),
          (SELECT count(*) FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id
           WHERE a.employee_id = pg_temp.eid('agent') OR a.auditor_id = pg_temp.eid('agent')),
          'agent: reads the errors of those audits only');

-- the auditor of each of their audits is readable (the seed's embedded auditor is not null)
SELECT is(pg_temp.as_user('agent', format(
            'SELECT count(*) FROM public.audits a JOIN public.employees au ON au.id = a.auditor_id WHERE a.employee_id = %L',
            pg_temp.eid('agent'))),
          (SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent')),
          'agent: every auditor of their audits is visible (name and email included)');

-- employees: themself and the people related to them, nobody else
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM public.employees'),
          (SELECT count(DISTINCT x) FROM (
             SELECT unnest(ARRAY[e.id, e.supervisor_id, e.quality_mentor_id, e.reporting_manager_id]) FROM public.employees e
             WHERE e.id = pg_temp.eid('agent')
             UNION SELECT e.id FROM public.employees e
               WHERE e.supervisor_id = pg_temp.eid('agent') OR e.quality_mentor_id = pg_temp.eid('agent')
             UNION SELECT a.auditor_id FROM public.audits a WHERE a.employee_id = pg_temp.eid('agent') AND a.deleted_at IS NULL
             UNION SELECT a.employee_id FROM public.audits a WHERE a.auditor_id = pg_temp.eid('agent') AND a.deleted_at IS NULL
           ) s(x) WHERE x IS NOT NULL),
          'agent: reads themself, supervisor, mentor, reports and audit counterparts');
SELECT id AS unrelated FROM public.employees
WHERE access_level = 'standard' AND id <> pg_temp.eid('agent')
  AND id NOT IN (SELECT auditor_id FROM public.audits WHERE employee_id = pg_temp.eid('agent'))
  AND id NOT IN (SELECT employee_id FROM public.audits WHERE auditor_id = pg_temp.eid('agent'))
  AND supervisor_id IS DISTINCT FROM pg_temp.eid('agent') AND quality_mentor_id IS DISTINCT FROM pg_temp.eid('agent')
  AND id NOT IN (SELECT x FROM public.employees e, unnest(ARRAY[e.supervisor_id, e.quality_mentor_id,
                 e.reporting_manager_id]) x WHERE e.id = pg_temp.eid('agent') AND x IS NOT NULL)
ORDER BY id LIMIT 1 \gset
SELECT is(pg_temp.as_user('agent', format('SELECT count(*) FROM public.employees WHERE id = %L', :'unrelated')),
          0::bigint, 'agent: an unrelated colleague is not visible');
SELECT cmp_ok(pg_temp.as_user('agent', 'SELECT count(*) FROM public.roles'), '>', 0::bigint,
              'agent: reads the reference tables');

-- their own audit: acknowledge and request a reversal, in their own name. A denied write sets a
-- value other than the row's (a write that changes nothing is rightly let through), and every
-- target row is asserted first (a subquery finding none makes WHERE id = NULL change 0 rows)
SELECT isnt((SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1), NULL,
            'the agent has an audit of their own to write to');
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.audits SET acknowledgement_status = ''acknowledged'', acknowledged_at = now() WHERE id = %L',
            (SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1))),
          1::bigint, 'agent: acknowledges their audit');
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.audits SET reversal_requested_at = now(), reversal_requested_by = %L, '
            'reversal_reason = ''score is wrong'' WHERE id = %L', pg_temp.eid('agent'),
            (SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1))),
          1::bigint, 'agent: requests a reversal');
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.audits SET reversal_requested_at = now(), reversal_requested_by = %L WHERE id = %L',
            pg_temp.eid('auditor'), (SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1))),
          -1::bigint, 'agent: cannot request a reversal in someone else''s name');
SELECT is(pg_temp.write_as('agent', format('UPDATE public.audits SET total_score = coalesce(total_score, 0) + 1 WHERE id = %L',
            (SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1))),
          -1::bigint, 'agent: cannot change the score of their audit');
SELECT is(pg_temp.write_as('agent', format('UPDATE public.audits SET reversal_approved = NOT coalesce(reversal_approved, false) WHERE id = %L',
            (SELECT id FROM public.audits WHERE employee_id = pg_temp.eid('agent') ORDER BY id LIMIT 1))),
          -1::bigint, 'agent: cannot approve their own reversal');
SELECT isnt((SELECT id FROM public.audits WHERE employee_id <> pg_temp.eid('agent') AND auditor_id <> pg_temp.eid('agent')
             ORDER BY id LIMIT 1), NULL, 'there is an audit neither about nor by the agent');
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.audits SET acknowledgement_status = ''acknowledged'' WHERE id = %L',
            (SELECT id FROM public.audits WHERE employee_id <> pg_temp.eid('agent') AND auditor_id <> pg_temp.eid('agent')
             ORDER BY id LIMIT 1))),
          0::bigint, 'agent: cannot acknowledge someone else''s audit');
SELECT is(pg_temp.write_as('agent', format(
            'INSERT INTO public.audits (employee_id, auditor_id, scorecard_id, interaction_date) '
            'SELECT %L, %L, scorecard_id, current_date FROM public.audits LIMIT 1',
            pg_temp.eid('auditor'), pg_temp.eid('agent'))),
          -1::bigint, 'agent: cannot create an audit');
SELECT is(pg_temp.write_as('agent', 'DELETE FROM public.audits'), 0::bigint, 'agent: cannot delete audits');

-- their own employee row: self-service columns only
SELECT is(pg_temp.write_as('agent', format('UPDATE public.employees SET timezone = ''Asia/Manila'' WHERE id = %L',
            pg_temp.eid('agent'))), 1::bigint, 'agent: edits their own timezone');
SELECT is(pg_temp.write_as('agent', format('UPDATE public.employees SET access_level = ''admin'' WHERE id = %L',
            pg_temp.eid('agent'))), -1::bigint, 'agent: cannot raise their own access level');
SELECT is(pg_temp.write_as('agent', 'UPDATE public.roles SET level = 1'), 0::bigint, 'agent: cannot change roles');

-- the flags are readable; the ledger is not
SELECT is(pg_temp.as_user('agent', 'SELECT count(*) FROM cqms_migration.quarantine'), -1::bigint,
          'agent: the quarantine (whole legacy rows) is not readable');

SELECT * FROM finish();
ROLLBACK;
