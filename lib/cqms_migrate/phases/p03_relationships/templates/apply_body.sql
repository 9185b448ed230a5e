DECLARE
  v_out integer[];
  v_marker text := current_setting('cqms.sync_echo', true);
BEGIN
  IF p_keys IS NULL OR cardinality(p_keys) = 0 THEN
    RETURN ARRAY[0, 0, 0];
  END IF;
  -- its writes are derived from the legacy rows: the reverse sync (cutover) and the rollback's
  -- fence let them through, and nothing carries them back to the legacy table
  PERFORM set_config('cqms.sync_echo', 'apply:' || {table_name}, true);
  DELETE FROM cqms_migration.p03_waiting w WHERE w.assignment_key = ANY (p_keys);
  WITH s AS MATERIALIZED (
         -- a legacy id held by two rows (a table without a primary key) is no one assignment
         SELECT x.*, count(*) OVER (PARTITION BY coalesce(x.id::text, x.key)) AS holders
         FROM ({shaped}) x),
       gone AS (SELECT k FROM unnest(p_keys) k WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.key = k)),
       bad AS (SELECT s.*, CASE WHEN s.holders > 1 THEN 'duplicate_id' ELSE s.reason END AS why,
                      CASE WHEN s.holders > 1 THEN 'id ' || s.key || ' is held by ' || s.holders || ' legacy rows'
                           ELSE s.detail END AS why_detail
               FROM s WHERE s.reason IS NOT NULL OR s.holders > 1),
       good AS (SELECT * FROM s WHERE s.reason IS NULL AND s.holders = 1),
       removed AS (
         DELETE FROM public.assignments a
         WHERE a.id IN (SELECT cqms_migration.to_uuid(k) FROM gone UNION ALL SELECT bad.id FROM bad)
         RETURNING 1),
       released AS (
         DELETE FROM cqms_migration.quarantine q
         WHERE q.phase = {phase} AND q.source_table = {table_name}
           AND q.source_key IN (SELECT k FROM gone UNION ALL SELECT good.key FROM good)
         RETURNING 1),
       written AS (
         INSERT INTO public.assignments AS a ({columns})
         SELECT {values} FROM good
         ON CONFLICT (id) DO UPDATE SET {updates}
         RETURNING 1),
       held AS (
         INSERT INTO cqms_migration.quarantine AS q (phase, source_table, source_key, reason, detail, original_row, run_id)
         SELECT DISTINCT ON (bad.key) {phase}, {table_name}, bad.key, bad.why, bad.why_detail,
                coalesce(bad.source_row, '{{}}'::jsonb), p_source
         FROM bad
         ON CONFLICT (phase, source_table, source_key)
           DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, original_row = EXCLUDED.original_row,
                         run_id = EXCLUDED.run_id, quarantined_at = clock_timestamp()
         RETURNING 1),
       waits AS (
         INSERT INTO cqms_migration.p03_waiting (assignment_key, kind, wait_key)
         SELECT DISTINCT s.key, w.kind, w.wait_key FROM s
         CROSS JOIN LATERAL (VALUES ('email', s.employee_wait), ('email', s.auditor_wait), ('email', s.assigner_wait),
                                    ('audit', s.audit_wait)) w(kind, wait_key)
         WHERE w.wait_key IS NOT NULL
         ON CONFLICT DO NOTHING
         RETURNING 1)
  -- (released and waits run to completion unread: a data-modifying WITH always does)
  SELECT ARRAY[(SELECT count(*) FROM written), (SELECT count(*) FROM held), (SELECT count(*) FROM removed)]::integer[]
  INTO v_out;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN v_out;
END
