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
  v_old jsonb;
  v_before public.audits%ROWTYPE;
  v_changed jsonb;
  v_cols text;
  v_written jsonb;
  v_n bigint;
  v_key text;
  v_idtype text;
BEGIN
  IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
  -- the forward sync's own write of this very row, a backfill batch's copy, or this function's
  -- own refresh: an echo
  IF rec.legacy_table IS NULL OR v_marker IN ('forward:backfill', 'refresh:adopt', 'forward:' || rec.legacy_table || ':' || rec.id::text,
                                              'refresh:' || rec.legacy_table || ':' || rec.id::text) THEN
    RETURN NULL;
  END IF;
  -- only an audit table: adopted (by OID), or created since with an audit table's columns; never
  -- a core legacy table or one of the runbook's (cqms_migration.p02_legacy_rel)
  v_rel := cqms_migration.p02_legacy_rel(rec.legacy_table);
  IF v_rel IS NULL THEN
    -- the legacy table is gone: nothing can hold the write; it stays in audits, listed here
    INSERT INTO cqms_migration.p02_unsynced (audit_id, legacy_table, operation)
    VALUES (rec.id, rec.legacy_table, TG_OP)
    ON CONFLICT (audit_id, operation) DO UPDATE SET legacy_table = EXCLUDED.legacy_table, at = now();
    RETURN NULL;
  END IF;
  PERFORM set_config('cqms.sync_echo', 'reverse:' || rec.legacy_table || ':' || rec.id::text, true);
  -- the legacy row by its own id, in its own type (a bigint-keyed table's audit has a derived uuid)
  v_key := coalesce(rec.legacy_id, rec.id::text);
  SELECT format_type(a.atttypid, a.atttypmod) INTO v_idtype FROM pg_attribute a
  WHERE a.attrelid = v_rel AND a.attname = 'id' AND NOT a.attisdropped;
  IF rec.legacy_id IS NULL AND v_idtype IS DISTINCT FROM 'uuid' THEN
    -- an audit written before the provenance trigger existed, into a table not keyed by uuid:
    -- no legacy id to write it under; it stays in audits, listed (never a failed write)
    INSERT INTO cqms_migration.p02_unsynced (audit_id, legacy_table, operation)
    VALUES (rec.id, rec.legacy_table, TG_OP)
    ON CONFLICT (audit_id, operation) DO UPDATE SET legacy_table = EXCLUDED.legacy_table, at = now();
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' OR rec.deleted_at IS NOT NULL THEN
    EXECUTE format('DELETE FROM %s WHERE id = $1::%s', v_rel, v_idtype) USING v_key;
  ELSE
    v_patch := cqms_migration.p02_legacy_patch(rec);
    -- an UPDATE writes only the legacy columns whose value it changed (a value the legacy table
    -- holds in a form audits cannot, e.g. a column retyped since, is never overwritten by a write
    -- that did not touch it); identity and generated columns are never written; an INSERT names
    -- only the columns the mapping knows, so a column added since takes its default
    IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND OLD.legacy_table IS NOT DISTINCT FROM rec.legacy_table THEN
      -- both sides mapped from the columns (the stored legacy text stands only for an unchanged
      -- version, so OLD is read as if it were the new version)
      v_before := OLD;
      v_before.version := rec.version;
      v_old := cqms_migration.p02_legacy_patch(v_before);
      SELECT coalesce(jsonb_object_agg(p.key, p.value), jsonb_build_object()) INTO v_changed
      FROM jsonb_each(v_patch) p WHERE p.value IS DISTINCT FROM v_old -> p.key;
    ELSE
      v_changed := v_patch;
    END IF;
    -- a boolean of audits into an integer legacy column (a flag kept as 0/1): 1 or 0; a date of
    -- audits into a time stamp column (interaction_date): its midnight in the business time zone;
    -- a duration into a text column in the style the row had
    SELECT jsonb_object_agg(p.key, CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
                                         AND p.value IN ('true'::jsonb, 'false'::jsonb, '"true"'::jsonb, '"false"'::jsonb)
                                        THEN to_jsonb(CASE WHEN p.value IN ('true'::jsonb, '"true"'::jsonb) THEN 1 ELSE 0 END)
                                        WHEN p.key = 'interaction_date' AND a.atttypid IN ('timestamp'::regtype, 'timestamptz'::regtype)
                                         AND p.value #>> '{{}}' ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'
                                        THEN to_jsonb((p.value #>> '{{}}') || ' 00:00:00 ' || coalesce((SELECT s.value
                                               FROM cqms_migration.p02_settings s WHERE s.name = 'business_time_zone'), 'UTC'))
                                        -- seconds into a text duration column people typed as 'mm:ss': written in
                                        -- that style ('h:mm:ss' from an hour), unless this row held plain seconds
                                        WHEN p.key = 'audit_duration' AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
                                         AND p.value #>> '{{}}' ~ '^[0-9]{{1,9}}$' AND coalesce(rec.legacy_values ->> 'audit_duration', ':') ~ ':'
                                        THEN to_jsonb(cqms_migration.clock_duration((p.value #>> '{{}}')::integer))
                                        ELSE p.value END)
      INTO v_patch
    FROM jsonb_each(v_patch) p LEFT JOIN pg_attribute a ON a.attrelid = v_rel AND a.attname = p.key AND NOT a.attisdropped;
    v_changed := (SELECT coalesce(jsonb_object_agg(c.key, v_patch -> c.key), jsonb_build_object()) FROM jsonb_each(v_changed) c);
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_cols
    FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      AND a.attidentity <> 'a' AND a.attname <> 'id' AND v_changed ? a.attname;
    IF v_cols IS NOT NULL THEN
      EXECUTE format('UPDATE %1$s t SET (%2$s) = (SELECT %2$s FROM jsonb_populate_record(t, $1) r) WHERE t.id = $2::%3$s',
                     v_rel, v_cols, v_idtype) USING v_changed, v_key;
      GET DIAGNOSTICS v_n = ROW_COUNT;  -- (EXECUTE leaves FOUND alone)
    ELSE
      EXECUTE format('SELECT count(*) FROM %s t WHERE t.id = $1::%s', v_rel, v_idtype) INTO v_n USING v_key;
    END IF;
    IF v_n = 0 THEN
      SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_cols
      FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        AND (a.attidentity <> 'a' OR a.attname = 'id') AND v_patch ? a.attname;
      -- the id is the audit's legacy id (provenance chose it), an identity column's too
      EXECUTE format('INSERT INTO %1$s (%2$s) OVERRIDING SYSTEM VALUE SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1)',
                     v_rel, v_cols) USING v_patch;
    END IF;
    -- scores changed through audits: its audit_errors rows follow them (as the forward sync
    -- builds them: each parameter column's meaning, mapping.errors_insert),
    -- unless the change came from audit_errors itself (the write-back's marker)
    IF (TG_OP = 'INSERT' OR OLD.parameter_scores IS DISTINCT FROM NEW.parameter_scores
        OR OLD.scorecard_id IS DISTINCT FROM NEW.scorecard_id OR OLD.deleted_at IS NOT NULL)
       AND v_marker IS DISTINCT FROM 'errors:' || rec.id::text THEN
      PERFORM set_config('cqms.sync_echo', 'forward:' || rec.legacy_table || ':' || rec.id::text, true);
      DELETE FROM public.audit_errors WHERE audit_id = rec.id;
      {rebuild_errors};
      PERFORM set_config('cqms.sync_echo', 'reverse:' || rec.legacy_table || ':' || rec.id::text, true);
    END IF;
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE t.id = $1::%s', v_rel, v_idtype) INTO v_written USING v_key;
    PERFORM set_config('cqms.sync_echo', 'refresh:' || rec.legacy_table || ':' || rec.id::text, true);
    -- the normalised text, and the legacy spelling of the columns of another type kept beside it
    UPDATE public.audits x SET legacy_values = (
      SELECT jsonb_object_agg(k, v_written -> k) FROM (
        SELECT unnest({legacy_text}::text[]) UNION SELECT jsonb_object_keys(x.legacy_values) EXCEPT SELECT 'version') ks(k)
      WHERE v_written ? k)
    WHERE x.id = rec.id AND x.legacy_table = rec.legacy_table;
  END IF;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
