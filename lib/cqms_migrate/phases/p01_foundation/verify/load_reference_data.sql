DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.departments WHERE code = 'UNASSIGNED')
     OR NOT EXISTS (SELECT 1 FROM public.channels WHERE code = 'UNASSIGNED')
     OR NOT EXISTS (SELECT 1 FROM public.countries WHERE code = 'ZZ')
     OR NOT EXISTS (SELECT 1 FROM public.teams WHERE code = 'UNASSIGNED@UNASSIGNED') THEN
    RAISE EXCEPTION 'an Unassigned reference row is missing';
  END IF;
  IF (SELECT count(*) FROM public.roles) = 0 THEN
    RAISE EXCEPTION 'no roles loaded';
  END IF;
  -- every legacy value has somewhere to go
  IF EXISTS (SELECT 1 FROM public.people p
             WHERE NOT EXISTS (SELECT 1 FROM public.departments d WHERE d.code = cqms_migration.ref_code({people.p.department}))
                OR NOT EXISTS (SELECT 1 FROM public.channels c WHERE c.code = cqms_migration.ref_code({people.p.channel}))) THEN
    RAISE EXCEPTION 'a legacy department or channel has no reference row';
  END IF;
END $$;
