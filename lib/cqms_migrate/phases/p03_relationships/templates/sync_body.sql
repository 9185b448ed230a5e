-- Forward sync of audit_assignments: every statement's rows (transition tables) are applied to
-- assignments (or the quarantine) in the writer's transaction, through p03_apply. Nothing here
-- fails the application's write: a statement the mapping cannot apply as the table is now (a
-- value that no longer casts, a column renamed, retyped or dropped since phase 03 was deployed,
-- one uuid spelled two ways) has its rows quarantined as 'unmappable_row' with the error and
-- their assignments withdrawn, read through jsonb (no column named, no type assumed); a re-run
-- of phase 03 adopts the new shape.
DECLARE
  v_keys text[];
  v_marker text := current_setting('cqms.sync_echo', true);
  v_error text;
BEGIN
  -- the reverse sync's own write (cutover): its echo, not a change
  IF v_marker LIKE 'reverse:' || {table_name} || ':%' THEN
    RETURN NULL;
  END IF;
  -- everything below writes assignments as the forward sync (the reverse sync and a rollback's
  -- fence let it through); set before the block, so its exception handler writes as it too
  PERFORM set_config('cqms.sync_echo', 'forward:' || {table_name}, true);
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM public.assignments;
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {table_name};
    DELETE FROM cqms_migration.p03_waiting;
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;
  END IF;
  -- people hired or renamed earlier in this transaction reach employees when it commits (phase
  -- 1 queues them): apply them now, so this assignment finds its employee as if they had committed
  IF to_regprocedure('cqms_migration.p01_flush_pending()') IS NOT NULL THEN
    EXECUTE 'SELECT cqms_migration.p01_flush_pending()';
  END IF;
  BEGIN
    IF TG_OP = 'INSERT' THEN
      SELECT array_agg(DISTINCT n.{id_column}::text) INTO v_keys FROM new_rows n WHERE n.{id_column} IS NOT NULL;
      INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
      SELECT {phase}, {table_name}, 'null-id:' || md5(n::text), 'null_id', 'the legacy row has no id', to_jsonb(n), 'sync-trigger'
      FROM new_rows n WHERE n.{id_column} IS NULL
      ON CONFLICT (phase, source_table, source_key) DO NOTHING;
    ELSIF TG_OP = 'UPDATE' THEN
      SELECT array_agg(DISTINCT k) INTO v_keys FROM (
        SELECT n.{id_column}::text FROM new_rows n UNION SELECT o.{id_column}::text FROM old_rows o) x(k) WHERE k IS NOT NULL;
      DELETE FROM cqms_migration.quarantine
      WHERE phase = {phase} AND source_table = {table_name}
        AND source_key IN (SELECT 'null-id:' || md5(o::text) FROM old_rows o WHERE o.{id_column} IS NULL);
      INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
      SELECT {phase}, {table_name}, 'null-id:' || md5(n::text), 'null_id', 'the legacy row has no id', to_jsonb(n), 'sync-trigger'
      FROM new_rows n WHERE n.{id_column} IS NULL
      ON CONFLICT (phase, source_table, source_key) DO NOTHING;
    ELSE
      SELECT array_agg(DISTINCT o.{id_column}::text) INTO v_keys FROM old_rows o WHERE o.{id_column} IS NOT NULL;
      DELETE FROM cqms_migration.quarantine
      WHERE phase = {phase} AND source_table = {table_name}
        AND source_key IN (SELECT 'null-id:' || md5(o::text) FROM old_rows o WHERE o.{id_column} IS NULL);
    END IF;
    IF v_keys IS NULL THEN
      PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
      RETURN NULL;
    END IF;
    -- claim the rows (in key order: two writers never wait on each other in a cycle): waits for a
    -- backfill batch that holds one, then this newer version wins; the backfill skips claimed rows
    INSERT INTO cqms_migration.p03_claims (assignment_key, claimed_by)
    SELECT k, 'trigger' FROM unnest(v_keys) k ORDER BY k
    ON CONFLICT (assignment_key) DO UPDATE SET claimed_by = 'trigger';
    PERFORM cqms_migration.p03_apply(v_keys, 'sync-trigger');
  EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_column OR datatype_mismatch
                 OR cannot_coerce OR undefined_function OR wrong_object_type OR program_limit_exceeded
                 OR cardinality_violation THEN
    GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
    IF TG_OP <> 'INSERT' THEN
      DELETE FROM public.assignments a
      WHERE a.id IN (SELECT cqms_migration.to_uuid(to_jsonb(o) ->> {id_name}) FROM old_rows o);
      DELETE FROM cqms_migration.quarantine
      WHERE phase = {phase} AND source_table = {table_name}
        AND source_key IN (SELECT to_jsonb(o) ->> {id_name} FROM old_rows o);
    END IF;
    IF TG_OP <> 'DELETE' THEN
      DELETE FROM public.assignments a
      WHERE a.id IN (SELECT cqms_migration.to_uuid(to_jsonb(n) ->> {id_name}) FROM new_rows n);
      INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
      SELECT {phase}, {table_name}, y.k, 'unmappable_row', left(v_error, 1000), y.r, 'sync-trigger'
      FROM (SELECT DISTINCT ON (x.k) x.k, x.r
            FROM (SELECT coalesce(to_jsonb(n) ->> {id_name}, 'null-id:' || md5(n::text)) AS k, to_jsonb(n) AS r
                  FROM new_rows n) x) y
      ON CONFLICT (phase, source_table, source_key)
        DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, original_row = EXCLUDED.original_row,
                      quarantined_at = clock_timestamp();
    END IF;
  END;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
