-- Escalations found by an independent attack (issue 21), per persona, on both paths: no API role
-- names or changes an audit's provenance (which legacy row it is, where the reverse sync writes
-- it), the reverse sync writes nothing but audit tables, an agent named auditor of an audit by a
-- legacy row keeps an agent's rights, and a legacy write by a non-admin never raises anyone's
-- role or moves a login to another person.
BEGIN;
\ir ../helpers.psql
SELECT plan(21);

-- a victim: an employee no audit references (the reverse sync's DELETE by id would find it)
SELECT id AS victim FROM public.employees e
WHERE e.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM public.audits a WHERE a.employee_id = e.id OR a.auditor_id = e.id)
ORDER BY (e.access_level = 'admin') DESC, e.id LIMIT 1 \gset
SELECT isnt(:'victim'::uuid, NULL::uuid, 'there is an employee no audit references');
SELECT count(*) AS employees_before FROM public.employees \gset

-- an audit by the agent (a legacy row may name an agent as auditor), not about them
SELECT id AS by_agent FROM public.audits
WHERE employee_id <> pg_temp.eid('agent') AND auditor_id <> pg_temp.eid('agent') AND deleted_at IS NULL
ORDER BY id LIMIT 1 \gset
UPDATE public.audits SET auditor_id = pg_temp.eid('agent') WHERE id = :'by_agent';
SELECT is((SELECT auditor_id FROM public.audits WHERE id = :'by_agent'), pg_temp.eid('agent'),
          'setup: an audit whose auditor is the agent');

-- 1. provenance, as the audit's author: the repro of the attack, and each column alone
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.audits SET id = %L, legacy_table = ''employees'', deleted_at = now() WHERE id = %L',
            :'victim', :'by_agent')), -1::bigint, 'agent as author: cannot point their audit at an employee');
SELECT is((SELECT count(*) FROM public.employees WHERE id = :'victim'), 1::bigint, 'the victim employee is still there');
SELECT is(pg_temp.write_as('agent', format('UPDATE public.audits SET legacy_table = ''people'' WHERE id = %L', :'by_agent')),
          -1::bigint, 'agent as author: cannot change legacy_table');
SELECT is(pg_temp.write_as('auditor', format(
            'UPDATE public.audits SET legacy_id = legacy_id || ''x'' WHERE auditor_id = %L AND id = '
            '(SELECT min(id::text)::uuid FROM public.audits WHERE auditor_id = %L)', pg_temp.eid('auditor'), pg_temp.eid('auditor'))),
          -1::bigint, 'auditor as author: cannot change legacy_id');
SELECT is(pg_temp.write_as('admin', format('UPDATE public.audits SET id = gen_random_uuid() WHERE id = %L', :'by_agent')),
          -1::bigint, 'admin: cannot change an audit''s id');
SELECT is(pg_temp.as_role('service_role', NULL, format(
            'WITH w AS (UPDATE public.audits SET legacy_table = ''employees'' WHERE id = %L RETURNING 1) SELECT count(*) FROM w',
            :'by_agent')), -1::bigint, 'service_role: cannot change legacy_table');

-- 3. an agent who is an audit's auditor has an agent's rights: not its score, not whom it is about
SELECT is(pg_temp.write_as('agent', format('UPDATE public.audits SET total_score = coalesce(total_score, 0) + 1 WHERE id = %L',
            :'by_agent')), -1::bigint, 'agent as author: cannot change the score');
SELECT is(pg_temp.write_as('agent', format('UPDATE public.audits SET employee_id = %L WHERE id = %L',
            pg_temp.eid('supervisor'), :'by_agent')), -1::bigint, 'agent as author: cannot change whom the audit is about');
-- the auditor (elevated) still edits what they wrote
SELECT is(pg_temp.write_as('auditor', format(
            'UPDATE public.audits SET coaching_notes = coalesce(coaching_notes, '''') || ''.'' WHERE id = '
            '(SELECT min(id::text)::uuid FROM public.audits WHERE auditor_id = %L)', pg_temp.eid('auditor'))),
          1::bigint, 'auditor as author: edits their audit');

-- 1. a new audit names no provenance; a scorecard naming a core table reaches nothing
SELECT is(pg_temp.write_as('supervisor', format(
            'INSERT INTO public.audits (employee_id, auditor_id, scorecard_id, interaction_date, legacy_table) '
            'SELECT %L, %L, scorecard_id, current_date, ''employees'' FROM public.audits LIMIT 1',
            pg_temp.eid('agent'), pg_temp.eid('supervisor'))), -1::bigint, 'supervisor: cannot name legacy_table on a new audit');
INSERT INTO public.scorecards (id, name, table_name, is_active)
VALUES ('00000000-0000-4000-8000-00000000e001', 'hostile', 'employees', true);
SELECT is(pg_temp.write_as('supervisor', format(
            'INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date) '
            'VALUES (%L, %L, %L, %L, current_date)', '00000000-0000-4000-8000-00000000e002',
            pg_temp.eid('agent'), pg_temp.eid('supervisor'), '00000000-0000-4000-8000-00000000e001')),
          1::bigint, 'supervisor: an audit of a scorecard naming employees is written');
SELECT is((SELECT legacy_table FROM public.audits WHERE id = '00000000-0000-4000-8000-00000000e002'), NULL::text,
          '... and belongs to no legacy table');
SELECT is(pg_temp.write_as('supervisor', format('UPDATE public.audits SET deleted_at = now() WHERE id = %L',
            '00000000-0000-4000-8000-00000000e002')), 1::bigint, 'supervisor: soft-deletes it');
SELECT is((SELECT count(*) FROM public.employees), :'employees_before'::bigint, 'no employee was deleted');

-- 2a. a legacy write by a non-admin raises nobody's role: the agent's own, through people
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.people SET role = ''Admin'' WHERE lower(btrim(email)) = %L',
            (SELECT lower(btrim(email)) FROM public.employees WHERE id = pg_temp.eid('agent')))),
          (SELECT count(*) FROM public.people WHERE lower(btrim(email)) =
             (SELECT lower(btrim(email)) FROM public.employees WHERE id = pg_temp.eid('agent'))),
          'agent: the legacy write commits, as on the legacy schema');
SET CONSTRAINTS ALL IMMEDIATE;  -- the deferred apply of phase 1, now
SELECT is(pg_temp.as_user('agent', $$SELECT count(*) FROM public.employees WHERE access_level = 'admin'
                                      AND id = cqms_security.current_employee_id()$$), 0::bigint,
          'agent: is not admin in the new model after writing Admin into people');
SELECT is((SELECT access_level FROM public.employees WHERE id = pg_temp.eid('agent')), 'standard',
          'agent: keeps a standard access level');

-- 2b. a login never moves to another person by an email collision
SELECT is(pg_temp.write_as('agent', format(
            'UPDATE public.users SET email = %L, last_sign_in_at = now() + interval ''1 year'' WHERE id = auth.uid()',
            upper((SELECT email FROM public.employees WHERE id = pg_temp.eid('admin'))))), 1::bigint,
          'agent: the legacy write of their users row commits, as on the legacy schema');
SET CONSTRAINTS ALL IMMEDIATE;
SELECT is((SELECT auth_user_id FROM public.employees WHERE id = pg_temp.eid('admin')), pg_temp.uid('admin'),
          'the admin''s employee keeps the admin''s login when another users row takes their email in another case');

SELECT * FROM finish();
ROLLBACK;
