-- anon (no login): nothing of what the migration created, as a table, a view or a function.
-- The legacy tables stay as the application has them (on a stock Supabase project: readable).
BEGIN;
\ir ../helpers.psql
SELECT plan(14);

SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.employees'), -1::bigint, 'anon: employees refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.roles'), -1::bigint, 'anon: roles refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.departments'), -1::bigint, 'anon: departments refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.teams'), -1::bigint, 'anon: teams refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.channels'), -1::bigint, 'anon: channels refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.countries'), -1::bigint, 'anon: countries refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.audits'), -1::bigint, 'anon: audits refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.audit_errors'), -1::bigint, 'anon: audit_errors refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.users_compat'), -1::bigint, 'anon: users_compat refused');
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.people_compat'), -1::bigint, 'anon: people_compat refused');
SELECT is(pg_temp.as_role('anon', NULL, format('SELECT count(*) FROM public.%I', (SELECT compat FROM busiest))),
          -1::bigint, 'anon: an audit compat view refused');
SELECT is(pg_temp.as_role('anon', NULL,
          'WITH w AS (INSERT INTO public.countries (code, name) VALUES (''QQ'', ''x'') RETURNING 1) SELECT count(*) FROM w'),
          -1::bigint, 'anon: cannot write a reference table');
SELECT ok(NOT has_schema_privilege('anon', 'cqms_security', 'USAGE'), 'anon: no use of the security helpers');
-- the stock grant, written out (an expectation read from has_table_privilege could not fail): a
-- stock project's default privileges give anon the tables the postgres role creates
SELECT is(pg_temp.as_role('anon', NULL, 'SELECT count(*) FROM public.people'), (SELECT count(*) FROM public.people),
          'anon: the legacy people table as the application has it (readable, unchanged)');

SELECT * FROM finish();
ROLLBACK;
