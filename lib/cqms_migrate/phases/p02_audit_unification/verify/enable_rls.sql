DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid IN ('public.audits'::regclass, 'public.audit_errors'::regclass)
             AND NOT relrowsecurity) THEN
    RAISE EXCEPTION 'row level security is off on audits or audit_errors';
  END IF;
  IF has_table_privilege('anon', 'public.audits', 'SELECT') THEN
    RAISE EXCEPTION 'anon can read audits';
  END IF;
END $$;
