DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'assignments'
                 AND policyname = 'assignments_select') THEN
    RAISE EXCEPTION 'the assignments read policy is missing';
  END IF;
  IF NOT has_table_privilege('authenticated', 'public.assignments', 'SELECT') THEN
    RAISE EXCEPTION 'authenticated is not granted assignments (the policy decides the rows)';
  END IF;
  IF has_table_privilege('anon', 'public.assignments', 'SELECT')
     OR has_table_privilege('authenticated', 'public.assignments', 'INSERT')
     OR has_table_privilege('authenticated', 'public.assignments', 'UPDATE')
     OR has_table_privilege('authenticated', 'public.assignments', 'DELETE') THEN
    RAISE EXCEPTION 'assignments grants more than reads before cutover';
  END IF;
END $$;
