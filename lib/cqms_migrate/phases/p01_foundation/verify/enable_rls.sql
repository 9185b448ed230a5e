DO $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(c.relname, ', ') INTO bad FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relname IN ('employees', 'roles', 'departments', 'teams', 'channels', 'countries')
    AND NOT c.relrowsecurity;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'row level security is off on %', bad;
  END IF;
  SELECT string_agg(r, ', ') INTO bad FROM unnest(ARRAY['public.employees', 'public.roles', 'public.departments',
    'public.teams', 'public.channels', 'public.countries']) r
  WHERE has_table_privilege('anon', r, 'SELECT');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'anon can read %', bad;
  END IF;
  IF has_schema_privilege('anon', 'cqms_security', 'USAGE') THEN
    RAISE EXCEPTION 'anon can use schema cqms_security';
  END IF;
END $$;
