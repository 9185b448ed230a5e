DO $$ BEGIN
  IF (SELECT count(*) FROM pg_trigger WHERE tgname = ANY({names})) <> {expected} THEN
    RAISE EXCEPTION 'sync triggers missing';
  END IF;
END $$
