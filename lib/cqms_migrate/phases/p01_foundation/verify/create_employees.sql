DO $$
BEGIN
  IF to_regclass('public.employees') IS NULL OR to_regclass('cqms_migration.employee_email_map') IS NULL THEN
    RAISE EXCEPTION 'employees or the email map is missing';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'employees_email_normalized_key') THEN
    RAISE EXCEPTION 'the case-insensitive email uniqueness index is missing';
  END IF;
END $$;
