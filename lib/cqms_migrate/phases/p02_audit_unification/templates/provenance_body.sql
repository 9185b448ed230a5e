-- BEFORE INSERT on audits: a row the new application writes gets the legacy table of its
-- scorecard as provenance, so the reverse sync knows where it belongs.
BEGIN
  IF NEW.legacy_table IS NULL THEN
    SELECT s.table_name INTO NEW.legacy_table FROM public.scorecards s
    WHERE s.id = NEW.scorecard_id AND s.table_name = ANY({table_names});
    NEW.legacy_id := CASE WHEN NEW.legacy_table IS NOT NULL THEN NEW.id END;
  END IF;
  RETURN NEW;
END
