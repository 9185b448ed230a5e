DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname IN ('employees', 'roles', 'departments', 'teams', 'channels', 'countries')
               AND NOT c.relrowsecurity) THEN
    RAISE EXCEPTION 'a new table has row level security disabled';
  END IF;
  IF has_table_privilege('anon', 'public.employees', 'SELECT') THEN
    RAISE EXCEPTION 'anon can read employees';
  END IF;
END $$;
