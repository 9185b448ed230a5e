-- Forward sync of one legacy table: every INSERT/UPDATE/DELETE is reflected in audits (or the
-- quarantine) in the writer's transaction; a DELETE soft-deletes. The row is shaped once (one
-- pass of the mapping's index probes), then written from the record.
DECLARE
  v_row record;
  -- the audit's id (markers and claims are keyed by it; the quarantine by the legacy id's text)
  v_id text := coalesce({new_aid}, {old_aid})::text;
  v_marker text := current_setting('cqms.sync_echo', true);
  v_error text;
BEGIN
  -- the reverse sync's own write of this very row: its echo, not a change (any other write,
  -- from the application or from another trigger at any depth, is synced)
  IF v_marker = 'reverse:' || {table_name} || ':' || v_id THEN
    RETURN NULL;
  END IF;
  -- people hired or renamed earlier in this transaction reach employees when it commits (phase
  -- 1 queues them): apply them now, so this audit finds its employee as if they had committed
  IF to_regprocedure('cqms_migration.p01_flush_pending()') IS NOT NULL THEN
    EXECUTE 'SELECT cqms_migration.p01_flush_pending()';
  END IF;
  PERFORM set_config('cqms.sync_echo', 'forward:' || {table_name} || ':' || v_id, true);
  -- a row without an id (a table without a primary key) cannot be migrated: it is quarantined,
  -- keyed by its content, and leaves the quarantine when it changes or goes
  IF TG_OP <> 'INSERT' AND OLD.id IS NULL THEN
    DELETE FROM cqms_migration.quarantine
    WHERE phase = {phase} AND source_table = {table_name} AND source_key = 'null-id:' || md5(OLD::text);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.id IS NULL THEN
    INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
    VALUES ({phase}, {table_name}, 'null-id:' || md5(NEW::text), 'null_id', 'the legacy row has no id', to_jsonb(NEW),
            'sync-trigger')
    ON CONFLICT (phase, source_table, source_key) DO NOTHING;
  END IF;
  -- claim the row(s): waits for a backfill batch holding the claim, then this newer version wins
  IF TG_OP <> 'INSERT' AND OLD.id IS NOT NULL THEN
    INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id, claimed_by) VALUES ({table_name}, {old_aid}, 'trigger')
    ON CONFLICT (legacy_table, id) DO UPDATE SET claimed_by = 'trigger';
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.id IS NOT NULL THEN
    INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id, claimed_by) VALUES ({table_name}, {new_aid}, 'trigger')
    ON CONFLICT (legacy_table, id) DO UPDATE SET claimed_by = 'trigger';
  END IF;
  IF TG_OP = 'DELETE' OR NEW.id IS NULL THEN
    IF OLD.id IS NULL OR (TG_OP = 'UPDATE' AND OLD.id IS NOT DISTINCT FROM NEW.id) THEN
      PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
      RETURN NULL;
    END IF;
    UPDATE public.audits SET deleted_at = now() WHERE id = {old_aid} AND legacy_table = {table_name} AND deleted_at IS NULL;
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {table_name} AND source_key = OLD.id::text;
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id THEN
    DELETE FROM public.audits WHERE id = {old_aid} AND legacy_table = {table_name};
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {table_name} AND source_key = OLD.id::text;
  END IF;
  -- a row the mapping cannot read as it is now (a column retyped or dropped since adoption: a
  -- value that no longer casts) never fails the application's write: it is quarantined as
  -- 'unmappable_row' with the error, its stale audit withdrawn and its claim released, and a
  -- re-run of phase 02 (which adopts the table's new shape) migrates it
  BEGIN
    SELECT * INTO v_row FROM ({shaped}) z;
  EXCEPTION WHEN data_exception OR undefined_column OR datatype_mismatch OR cannot_coerce OR undefined_function
                 OR wrong_object_type THEN
    GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
    DELETE FROM public.audits WHERE id = {new_aid} AND legacy_table = {table_name};
    DELETE FROM cqms_migration.p02_sync_claims WHERE legacy_table = {table_name} AND id = {new_aid};
    INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
    VALUES ({phase}, {table_name}, NEW.id::text, 'unmappable_row', v_error, to_jsonb(NEW), 'sync-trigger')
    ON CONFLICT (phase, source_table, source_key)
      DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, original_row = EXCLUDED.original_row,
                    quarantined_at = clock_timestamp();
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;
  END;
  IF v_row.reason IS NULL THEN
    DELETE FROM cqms_migration.quarantine WHERE phase = {phase} AND source_table = {table_name} AND source_key = NEW.id::text;
    DELETE FROM public.audit_errors WHERE audit_id = {new_aid};
    UPDATE public.audits a SET {assignments}, legacy_values = v_row.legacy_values || jsonb_build_object('version', a.version + 1)
      WHERE a.id = v_row.id;
    IF NOT FOUND THEN
      INSERT INTO public.audits ({columns}) VALUES ({values});
    END IF;
    {errors};
  ELSE
    DELETE FROM public.audits WHERE id = {new_aid} AND legacy_table = {table_name};
    INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
    VALUES ({phase}, v_row.legacy_table, v_row.legacy_id::text, v_row.reason, v_row.detail, to_jsonb(v_row.source_row),
            'sync-trigger')
    ON CONFLICT (phase, source_table, source_key)
      DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, original_row = EXCLUDED.original_row,
                    quarantined_at = clock_timestamp();
  END IF;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
