-- Backfill, statement 2 of 2 of a batch: shape the claimed rows of the page range (a per-row
-- index probe into the claims table, never a join with it) and write them: audits, their
-- audit_errors (from the INSERT's RETURNING: no join back to the shaped rows), or quarantine.
-- The shaped rows are scanned twice (audits, quarantine), each scan once: cost linear in the
-- batch whatever the planner estimates. Returns (audits inserted, rows quarantined, errors).
WITH shaped AS MATERIALIZED ({shaped}),
new_audits AS (
  INSERT INTO public.audits ({columns})
  SELECT {shaped_columns} FROM shaped s
  WHERE s.reason IS NULL AND NOT s.already_migrated
  ON CONFLICT DO NOTHING  -- belt and braces: a concurrent writer's committed row wins
  RETURNING id, interaction_date, parameter_scores),
new_errors AS ({errors}),
quarantined AS (
  INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
  SELECT {phase}, s.legacy_table, coalesce(s.legacy_id::text, 'null-id:' || md5(s.source_row::text)), s.reason,
         s.detail, to_jsonb(s.source_row),
         current_setting('cqms.run_id', true)
  FROM shaped s WHERE s.reason IS NOT NULL
  -- a row the sync could not read after drift ('unmappable_row') gets the reason it has now
  ON CONFLICT (phase, source_table, source_key) DO UPDATE
    SET reason = EXCLUDED.reason, original_row = EXCLUDED.original_row, run_id = EXCLUDED.run_id,
        detail = EXCLUDED.detail, quarantined_at = clock_timestamp()
    WHERE cqms_migration.quarantine.reason = 'unmappable_row'
  RETURNING 1)
SELECT (SELECT count(*) FROM new_audits), (SELECT count(*) FROM quarantined), (SELECT count(*) FROM new_errors)
