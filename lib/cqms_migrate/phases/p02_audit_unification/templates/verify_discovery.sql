DO $verify$
BEGIN
  -- a discovery function moved aside has its wrapper in place
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'cqms_migration' AND p.proname = 'legacy_get_audit_tables')
     AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'public' AND p.proname = 'get_audit_tables') THEN
    RAISE EXCEPTION 'get_audit_tables() was moved aside but no wrapper stands in its place';
  END IF;
  -- and the application's function, where there is one that returns a set (of names), is the
  -- wrapper: its original moved aside
  -- (as discovery._name_expr reads one: output columns, a composite, or a set of text)
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type t ON t.oid = p.prorettype
             WHERE n.nspname = 'public' AND p.proname = 'get_audit_tables' AND p.prokind = 'f'
               AND ('o' = ANY(p.proargmodes) OR 't' = ANY(p.proargmodes) OR t.typtype = 'c'
                    OR p.prorettype IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype, 'regclass'::regtype)))
     AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'cqms_migration' AND p.proname = 'legacy_get_audit_tables') THEN
    RAISE EXCEPTION 'get_audit_tables() is not wrapped: it could list the audits table';
  END IF;
END
$verify$
