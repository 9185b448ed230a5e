-- Every users and people row accounted for, exactly; raises otherwise.
DO $$
DECLARE
  legacy_people bigint := (SELECT count(*) FROM public.people);
  legacy_users bigint := (SELECT count(*) FROM public.users);
  src_people bigint := (SELECT count(*) FROM cqms_migration.employee_sources WHERE source_table = 'people');
  src_users bigint := (SELECT count(*) FROM cqms_migration.employee_sources WHERE source_table = 'users');
  q_people bigint := (SELECT count(*) FROM cqms_migration.quarantine WHERE phase = '01_foundation' AND source_table = 'people');
  q_users bigint := (SELECT count(*) FROM cqms_migration.quarantine WHERE phase = '01_foundation' AND source_table = 'users');
BEGIN
  IF legacy_people <> src_people + q_people THEN
    RAISE EXCEPTION 'people rows do not reconcile: % legacy <> % migrated/merged + % quarantined', legacy_people, src_people, q_people;
  END IF;
  IF legacy_users <> src_users + q_users THEN
    RAISE EXCEPTION 'users rows do not reconcile: % legacy <> % migrated/merged + % quarantined', legacy_users, src_users, q_users;
  END IF;
  IF (SELECT count(*) FROM public.employees) <> (SELECT count(*) FROM cqms_migration.employee_sources WHERE disposition = 'migrated' AND source_table = 'people')
       + (SELECT count(*) FROM cqms_migration.employee_sources s WHERE s.disposition = 'migrated' AND s.source_table = 'users'
          AND NOT EXISTS (SELECT 1 FROM cqms_migration.employee_sources p WHERE p.source_table = 'people'
                          AND p.disposition = 'migrated' AND p.employee_id = s.employee_id)) THEN
    RAISE EXCEPTION 'employees count does not match the migrated source rows';
  END IF;
END $$;
