-- Every users and people row accounted for, exactly, in one statement (one snapshot: the
-- application may be writing); raises otherwise.
DO $$
DECLARE
  c record;
BEGIN
  SELECT (SELECT count(*) FROM public.people) AS legacy_people,
         (SELECT count(*) FROM public.users) AS legacy_users,
         (SELECT count(*) FROM cqms_migration.employee_sources WHERE source_table = 'people') AS src_people,
         (SELECT count(*) FROM cqms_migration.employee_sources WHERE source_table = 'users') AS src_users,
         (SELECT count(*) FROM cqms_migration.quarantine WHERE phase = '01_foundation' AND source_table = 'people') AS q_people,
         (SELECT count(*) FROM cqms_migration.quarantine WHERE phase = '01_foundation' AND source_table = 'users') AS q_users,
         (SELECT count(*) FROM public.employees WHERE deleted_at IS NULL AND legacy_snapshot IS NOT NULL) AS employees,
         (SELECT count(DISTINCT employee_id) FROM cqms_migration.employee_sources) AS sourced
  INTO c;
  IF c.legacy_people <> c.src_people + c.q_people THEN
    RAISE EXCEPTION 'people rows do not reconcile: % legacy <> % migrated/merged + % quarantined', c.legacy_people, c.src_people, c.q_people;
  END IF;
  IF c.legacy_users <> c.src_users + c.q_users THEN
    RAISE EXCEPTION 'users rows do not reconcile: % legacy <> % migrated/merged + % quarantined', c.legacy_users, c.src_users, c.q_users;
  END IF;
  IF c.employees <> c.sourced THEN
    RAISE EXCEPTION 'employees (%) do not match the employees the source rows name (%)', c.employees, c.sourced;
  END IF;
END $$;
