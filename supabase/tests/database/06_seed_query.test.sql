-- The seed's section 4.1 read, as PostgREST runs it for
--   supabase.from('audits').select('*, employee:employees!audits_employee_id_fkey(*),
--     auditor:employees!audits_auditor_id_fkey(*), scorecard:scorecards(*), channel:channels(*)')
--   .eq('employee_id', id).is('deleted_at', null)
-- per persona: the right rows, with the auditor (and the employee, scorecard, channel) embedded.
BEGIN;
\ir ../helpers.psql
SELECT plan(10);

SELECT has_fk('public', 'audits', 'audits_employee_id_fkey');
SELECT has_fk('public', 'audits', 'audits_auditor_id_fkey');

CREATE FUNCTION pg_temp.seed_query(p_employee uuid) RETURNS text LANGUAGE sql AS $$
  SELECT format($q$
    SELECT count(*) FILTER (WHERE employee IS NOT NULL AND auditor IS NOT NULL AND scorecard IS NOT NULL)
    FROM (SELECT a.*,
                 (SELECT to_jsonb(e) FROM public.employees e WHERE e.id = a.employee_id) AS employee,
                 (SELECT to_jsonb(e) FROM public.employees e WHERE e.id = a.auditor_id) AS auditor,
                 (SELECT to_jsonb(s) FROM public.scorecards s WHERE s.id = a.scorecard_id) AS scorecard,
                 (SELECT to_jsonb(c) FROM public.channels c WHERE c.id = a.channel_id) AS channel
          FROM public.audits a WHERE a.employee_id = %L AND a.deleted_at IS NULL) r $q$, p_employee)
$$;

SELECT is(pg_temp.as_user('agent', pg_temp.seed_query(pg_temp.eid('agent'))),
          (SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent') AND deleted_at IS NULL),
          'agent: their audits, each with employee, auditor and scorecard');
-- someone else's audits, not written by the agent: an employee with none (as the supervisor
-- persona is in the seeded data, where audits are of agents) would make this pass on nothing
SELECT employee_id AS colleague FROM public.audits
WHERE employee_id <> pg_temp.eid('agent') AND auditor_id IS DISTINCT FROM pg_temp.eid('agent') AND deleted_at IS NULL
GROUP BY employee_id ORDER BY count(*) DESC, employee_id LIMIT 1 \gset
SELECT cmp_ok((SELECT count(*) FROM public.audits WHERE employee_id = :'colleague'
                 AND auditor_id IS DISTINCT FROM pg_temp.eid('agent') AND deleted_at IS NULL), '>', 0::bigint,
              'a colleague of the agent has audits the agent did not write');
SELECT is(pg_temp.as_user('agent', pg_temp.seed_query(:'colleague')),
          (SELECT count(*) FROM public.audits WHERE employee_id = :'colleague' AND auditor_id = pg_temp.eid('agent')
             AND deleted_at IS NULL),
          'agent: nobody else''s audits (only those they wrote)');
SELECT is(pg_temp.as_user('auditor', pg_temp.seed_query(pg_temp.eid('agent'))),
          (SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent') AND deleted_at IS NULL
             AND (auditor_id = pg_temp.eid('auditor') OR pg_temp.eid('agent') IN (SELECT pg_temp.team_of(pg_temp.eid('auditor'))))),
          'auditor: the agent''s audits they wrote (or of their team)');
SELECT id AS member FROM public.employees WHERE id IN (SELECT pg_temp.team_of(pg_temp.eid('supervisor')))
ORDER BY (SELECT count(*) FROM public.audits a WHERE a.employee_id = employees.id) DESC, id LIMIT 1 \gset
SELECT cmp_ok((SELECT count(*) FROM public.audits WHERE employee_id = :'member'), '>', 0::bigint,
              'a team member of the supervisor has audits');
SELECT is(pg_temp.as_user('supervisor', pg_temp.seed_query(:'member')),
          (SELECT count(*) FROM public.audits WHERE employee_id = :'member' AND deleted_at IS NULL),
          'supervisor: a team member''s audits, auditor included');
SELECT is(pg_temp.as_user('admin', pg_temp.seed_query(pg_temp.eid('agent'))),
          (SELECT count(*) FROM public.audits WHERE employee_id = pg_temp.eid('agent') AND deleted_at IS NULL),
          'admin: anyone''s audits');
SELECT is(pg_temp.as_role('anon', NULL, pg_temp.seed_query(pg_temp.eid('agent'))), -1::bigint, 'anon: refused');

SELECT * FROM finish();
ROLLBACK;
