-- BEFORE INSERT on audits: a row the new application writes gets the legacy table of its
-- scorecard as provenance, so the reverse sync knows where it belongs: the adopted table of the
-- scorecard, else (a scorecard created since adoption) the table its scorecard names, if it exists.
BEGIN
  IF NEW.legacy_table IS NULL THEN
    SELECT r.legacy_table INTO NEW.legacy_table FROM cqms_migration.p02_legacy_tables r
    WHERE r.scorecard_id = NEW.scorecard_id ORDER BY r.legacy_table LIMIT 1;
    IF NEW.legacy_table IS NULL THEN
      SELECT s.table_name INTO NEW.legacy_table FROM public.scorecards s
      WHERE s.id = NEW.scorecard_id AND to_regclass(format('public.%I', s.table_name)) IS NOT NULL;
    END IF;
    NEW.legacy_id := CASE WHEN NEW.legacy_table IS NOT NULL THEN NEW.id END;
  END IF;
  RETURN NEW;
END
