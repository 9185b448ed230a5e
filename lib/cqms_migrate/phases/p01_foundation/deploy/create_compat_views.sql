-- users_compat / people_compat: exactly the legacy columns, names, positions and types, for
-- code that still reads the legacy shape (composed for the discovered shape: compat.py). An
-- employee not changed since the migration (version equals the snapshot's) returns its legacy
-- row verbatim; a changed or new employee returns values derived from employees and the
-- reference tables, in the legacy types; columns with no home in employees return the legacy
-- row's value. security_invoker: RLS of employees applies to the caller, not to the view owner.
{compat_views};

-- A compat view gets the read rights of the legacy table it stands in for, and never more than
-- RLS on employees allows (security_invoker): the default privileges' grants are revoked first,
-- in this transaction, then SELECT is granted to each API role that can read the legacy table.
REVOKE ALL ON public.users_compat, public.people_compat FROM PUBLIC, anon, authenticated, service_role;
DO $grants$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF has_table_privilege(r, 'public.users', 'SELECT') THEN
      EXECUTE format('GRANT SELECT ON public.users_compat TO %I', r);
    END IF;
    IF has_table_privilege(r, 'public.people', 'SELECT') THEN
      EXECUTE format('GRANT SELECT ON public.people_compat TO %I', r);
    END IF;
  END LOOP;
END $grants$;
