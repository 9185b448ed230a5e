-- After cutover: a write to audits reaches the legacy table of its scorecard in the writer's
-- transaction, so a rollback loses nothing. The table is found by OID in the registry (a rename
-- does not lose it) or, for a scorecard table created since adoption, by name; the row is
-- p02_legacy_patch (the compat views' mapping) populated into the table's current row type, so a
-- column dropped since is ignored and an added parameter column is written. After the write the
-- audit's legacy text follows the row just written (the compat view returns it again).
DECLARE
  rec public.audits%ROWTYPE;
  v_marker text := current_setting('cqms.sync_echo', true);
  v_rel regclass;
  v_patch jsonb;
  v_cols text;
  v_written jsonb;
  v_n bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
  -- the forward sync's own write of this very row, or this function's own refresh: an echo
  IF rec.legacy_table IS NULL OR v_marker IN ('forward:' || rec.legacy_table || ':' || rec.id::text,
                                              'refresh:' || rec.legacy_table || ':' || rec.id::text) THEN
    RETURN NULL;
  END IF;
  SELECT c.oid::regclass INTO v_rel FROM cqms_migration.p02_legacy_tables r JOIN pg_class c ON c.oid = r.relid
  WHERE r.legacy_table = rec.legacy_table;
  IF v_rel IS NULL THEN
    v_rel := to_regclass(format('public.%I', rec.legacy_table));
  END IF;
  IF v_rel IS NULL THEN
    -- the legacy table is gone: nothing can hold the write; it stays in audits, listed here
    INSERT INTO cqms_migration.p02_unsynced (audit_id, legacy_table, operation)
    VALUES (rec.id, rec.legacy_table, TG_OP)
    ON CONFLICT (audit_id, operation) DO UPDATE SET legacy_table = EXCLUDED.legacy_table, at = now();
    RETURN NULL;
  END IF;
  PERFORM set_config('cqms.sync_echo', 'reverse:' || rec.legacy_table || ':' || rec.id::text, true);
  IF TG_OP = 'DELETE' OR rec.deleted_at IS NOT NULL THEN
    EXECUTE format('DELETE FROM %s WHERE id = $1', v_rel) USING rec.id;
  ELSE
    v_patch := cqms_migration.p02_legacy_patch(rec);
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_cols
    FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('UPDATE %1$s t SET (%2$s) = (SELECT %2$s FROM jsonb_populate_record(t, $1) r) WHERE t.id = $2',
                   v_rel, v_cols) USING v_patch, rec.id;
    GET DIAGNOSTICS v_n = ROW_COUNT;  -- (EXECUTE leaves FOUND alone)
    IF v_n = 0 THEN
      EXECUTE format('INSERT INTO %1$s (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1)', v_rel, v_cols)
        USING v_patch;
    END IF;
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE t.id = $1', v_rel) INTO v_written USING rec.id;
    PERFORM set_config('cqms.sync_echo', 'refresh:' || rec.legacy_table || ':' || rec.id::text, true);
    UPDATE public.audits x SET legacy_values = (
      SELECT jsonb_object_agg(k, v_written -> k) FROM unnest({legacy_text}::text[]) k)
    WHERE x.id = rec.id AND x.legacy_table = rec.legacy_table;
  END IF;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
