DO $$ BEGIN
  IF (SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('public.users'::regclass, 'public.people'::regclass)
      AND tgname IN ('cqms_p01_sync_ins', 'cqms_p01_sync_upd', 'cqms_p01_sync_del', 'cqms_p01_sync_trunc')) <> 8 THEN
    RAISE EXCEPTION 'phase 1 sync triggers missing on users or people';
  END IF;
END $$
