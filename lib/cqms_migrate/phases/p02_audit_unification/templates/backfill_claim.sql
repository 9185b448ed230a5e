-- Backfill, statement 1 of 2 of a batch: claim the rows of a range of heap pages in
-- cqms_migration.p02_sync_claims. A row a sync trigger already claimed is skipped (the trigger
-- wrote its newer version); a trigger that fires on a row claimed here waits for this batch's
-- transaction, then writes its newer version. No lock is taken on the legacy table. A row with
-- no id (a legacy table without a primary key) cannot be claimed or migrated: it is quarantined.
-- Claims are keyed by the audit's id (the legacy uuid, or its name-based uuid for a table keyed
-- otherwise). Returns (rows in the page range, rows claimed, rows quarantined for a missing id). No join.
WITH page AS (
  SELECT {audit_id} AS id, CASE WHEN t.id IS NULL THEN t END AS no_id FROM {table} t
  WHERE t.ctid >= {from_tid}::tid
    AND t.ctid < {to_tid}::tid),
claimed AS (
  INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id)
  SELECT {table_name}, p.id FROM page p WHERE p.id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1),
no_id AS (
  INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
  SELECT {phase}, {table_name}, 'null-id:' || md5(p.no_id::text), 'null_id', 'the legacy row has no id',
         to_jsonb(p.no_id), current_setting('cqms.run_id', true)
  FROM page p WHERE p.id IS NULL
  ON CONFLICT (phase, source_table, source_key) DO NOTHING
  RETURNING 1)
SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM claimed), (SELECT count(*) FROM no_id)
