-- Backfill, statement 1 of 2 of a batch: claim the rows of a range of heap pages in
-- cqms_migration.p02_sync_claims. A row a sync trigger already claimed is skipped (the trigger
-- wrote its newer version); a trigger that fires on a row claimed here waits for this batch's
-- transaction, then writes its newer version. No lock is taken on the legacy table.
-- Returns (rows in the page range, rows claimed). No join: the cost is one pass over the range.
WITH page AS (
  SELECT t.id FROM {table} t
  WHERE t.ctid >= {from_tid}::tid
    AND t.ctid < {to_tid}::tid),
claimed AS (
  INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id)
  SELECT {table_name}, p.id FROM page p WHERE p.id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1)
SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM claimed)
