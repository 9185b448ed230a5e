DO $$
BEGIN
  IF to_regclass('public.assignments') IS NULL OR to_regclass('cqms_migration.p03_waiting') IS NULL
     OR to_regclass('cqms_migration.p03_claims') IS NULL OR to_regclass('cqms_migration.p03_value_map') IS NULL THEN
    RAISE EXCEPTION 'assignments or its bookkeeping tables are missing';
  END IF;
  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'public.assignments'::regclass)
     OR has_table_privilege('anon', 'public.assignments', 'SELECT') THEN
    RAISE EXCEPTION 'assignments is exposed: row level security off or anon granted';
  END IF;
END $$;
