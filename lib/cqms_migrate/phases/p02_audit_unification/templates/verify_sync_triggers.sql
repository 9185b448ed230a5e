-- every migratable table is adopted (a registry row) and has its forward sync trigger
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM unnest({names}::text[]) n WHERE NOT EXISTS (
       SELECT 1 FROM cqms_migration.p02_legacy_tables r JOIN pg_trigger g ON g.tgrelid = r.relid
       WHERE r.legacy_table = n AND g.tgname LIKE 'cqms\_p02\_sync\_%')) THEN
    RAISE EXCEPTION 'sync triggers missing';
  END IF;
END $$
