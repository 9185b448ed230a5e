DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM cqms_migration.checkpoints WHERE job = 'p03_backfill:audit_assignments' AND finished) THEN
    RAISE EXCEPTION 'the assignments backfill has not finished';
  END IF;
  -- every legacy row with an id is an assignment or quarantined (EXCEPT: neither), never both
  -- (INTERSECT). Set operations are hashed or sorted whatever the statistics say: assignments has
  -- none right after its load, and the join this was at first, planned on none, ran as a nested
  -- loop past the 600 s statement timeout at 187,782 assignments (the 1M-audit rehearsal)
  IF EXISTS (SELECT t.id::text FROM public.audit_assignments t WHERE t.id IS NOT NULL
             EXCEPT
             (SELECT a.id::text FROM public.assignments a
              UNION ALL
              SELECT q.source_key FROM cqms_migration.quarantine q
              WHERE q.phase = '03_relationships' AND q.source_table = 'audit_assignments'))
     OR EXISTS (SELECT a.id::text FROM public.assignments a
                INTERSECT
                SELECT q.source_key FROM cqms_migration.quarantine q
                WHERE q.phase = '03_relationships' AND q.source_table = 'audit_assignments') THEN
    RAISE EXCEPTION 'a legacy assignment is neither migrated nor quarantined, or both';
  END IF;
END $$;
