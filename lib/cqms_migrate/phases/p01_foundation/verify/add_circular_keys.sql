DO $$
BEGIN
  IF (SELECT count(*) FROM pg_constraint
      WHERE conname IN ('departments_manager_id_fkey', 'teams_supervisor_id_fkey')) <> 2 THEN
    RAISE EXCEPTION 'circular foreign keys missing';
  END IF;
END $$;
