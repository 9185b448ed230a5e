DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM cqms_migration.checkpoints WHERE job = 'p03_backfill:audit_assignments' AND finished) THEN
    RAISE EXCEPTION 'the assignments backfill has not finished';
  END IF;
  -- every legacy row with an id is an assignment or quarantined, never both, never neither (hash joins)
  IF EXISTS (
      SELECT 1
      FROM (SELECT t.id::text AS k FROM public.audit_assignments t WHERE t.id IS NOT NULL) l
      LEFT JOIN (SELECT a.id::text AS k FROM public.assignments a) a ON a.k = l.k
      LEFT JOIN (SELECT q.source_key AS k FROM cqms_migration.quarantine q
                 WHERE q.phase = '03_relationships' AND q.source_table = 'audit_assignments') q ON q.k = l.k
      WHERE (a.k IS NULL) = (q.k IS NULL)) THEN
    RAISE EXCEPTION 'a legacy assignment is neither migrated nor quarantined, or both';
  END IF;
END $$;
