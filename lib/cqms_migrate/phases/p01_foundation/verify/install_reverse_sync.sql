DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.employees'::regclass AND tgname = 'cqms_p01_reverse_sync') THEN
    RAISE EXCEPTION 'the phase 1 reverse sync trigger is missing';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.employees'::regclass AND tgname = 'cqms_p01_fence') THEN
    RAISE EXCEPTION 'the rollback fence is still on employees';
  END IF;
END $$;
