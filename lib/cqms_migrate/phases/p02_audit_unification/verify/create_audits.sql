DO $$
BEGIN
  IF to_regclass('public.audits') IS NULL OR to_regclass('public.audit_errors') IS NULL THEN
    RAISE EXCEPTION 'audits or audit_errors missing';
  END IF;
END $$;
