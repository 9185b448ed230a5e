DO $$
BEGIN
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
