DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%' AND NOT finished) THEN
    RAISE EXCEPTION 'a backfill job is unfinished';
  END IF;
  -- every adopted table that holds rows has a finished job (a revert forgets them all)
  IF EXISTS (SELECT 1 FROM cqms_migration.p02_legacy_tables t
             WHERE NOT EXISTS (SELECT 1 FROM cqms_migration.checkpoints c
                               WHERE c.job = 'p02_backfill:' || t.legacy_table AND c.finished)
               AND to_regclass(format('public.%I', t.legacy_table)) IS NOT NULL
               AND EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = to_regclass(format('public.%I', t.legacy_table))
                           AND pg_relation_size(k.oid) > 0)) THEN
    RAISE EXCEPTION 'an adopted legacy table was never backfilled';
  END IF;
END $$;
