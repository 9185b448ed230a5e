DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%' AND NOT finished) THEN
    RAISE EXCEPTION 'a backfill job is unfinished';
  END IF;
END $$;
