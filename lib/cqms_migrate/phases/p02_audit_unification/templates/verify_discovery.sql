DO $verify$
BEGIN
  -- a discovery function moved aside has its wrapper in place
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'cqms_migration' AND p.proname = 'legacy_get_audit_tables')
     AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'public' AND p.proname = 'get_audit_tables') THEN
    RAISE EXCEPTION 'get_audit_tables() was moved aside but no wrapper stands in its place';
  END IF;
END
$verify$
