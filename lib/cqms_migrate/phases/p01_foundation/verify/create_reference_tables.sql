DO $$
BEGIN
  IF (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
      AND tablename IN ('roles', 'departments', 'teams', 'channels', 'countries')) <> 5 THEN
    RAISE EXCEPTION 'reference tables missing';
  END IF;
END $$;
