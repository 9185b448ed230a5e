DO $$
BEGIN
  -- what this step adds to the deny-by-default tables create_audits left: the policies per
  -- command, the guard, and the grants the policies work through
  IF (SELECT count(*) FROM pg_policies WHERE schemaname = 'public' AND policyname IN
        ('audits_select', 'audits_insert', 'audits_update', 'audits_delete', 'audit_errors_select',
         'audit_errors_insert', 'audit_errors_update', 'audit_errors_delete')) <> 8 THEN
    RAISE EXCEPTION 'a policy of audits or audit_errors is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.audits'::regclass AND tgname = 'audits_guard') THEN
    RAISE EXCEPTION 'the audits guard trigger is missing';
  END IF;
  IF NOT has_table_privilege('authenticated', 'public.audits', 'SELECT')
     OR NOT has_table_privilege('authenticated', 'public.audit_errors', 'SELECT') THEN
    RAISE EXCEPTION 'authenticated is not granted audits and audit_errors (the policies decide the rows)';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid IN ('public.audits'::regclass, 'public.audit_errors'::regclass)
             AND NOT relrowsecurity) THEN
    RAISE EXCEPTION 'row level security is off on audits or audit_errors';
  END IF;
  IF has_table_privilege('anon', 'public.audits', 'SELECT') OR has_table_privilege('anon', 'public.audit_errors', 'SELECT') THEN
    RAISE EXCEPTION 'anon can read audits or audit_errors';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.audits'::regclass
               AND (NOT c.relrowsecurity OR has_table_privilege('anon', c.oid, 'SELECT')
                    OR has_table_privilege('authenticated', c.oid, 'SELECT'))) THEN
    RAISE EXCEPTION 'a partition of audits is readable on its own';
  END IF;
END $$;
