-- BEFORE INSERT on audits: a row the new application writes gets the legacy table of its
-- scorecard as provenance, so the reverse sync knows where it belongs: the adopted table of the
-- scorecard, else (a scorecard created since adoption) the table its scorecard names, if it exists.
-- A channel or interaction type left NULL gets what the legacy row's NULL channel maps to (the
-- legacy table cannot hold the difference): Unassigned, and the type of the channel.
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- an audit belongs to its scorecard's legacy table: moving it to another scorecard through
    -- audits would leave the legacy row behind (and its errors matched to no parameter)
    IF NEW.scorecard_id IS DISTINCT FROM OLD.scorecard_id AND OLD.legacy_table IS NOT NULL
       AND coalesce(current_setting('cqms.sync_echo', true), '') NOT LIKE 'forward:%' THEN
      RAISE EXCEPTION 'audit % belongs to legacy table %: its scorecard cannot change while the legacy tables are live (write a new audit)',
        OLD.id, OLD.legacy_table USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.channel_id IS NULL THEN
    SELECT c.id INTO NEW.channel_id FROM public.channels c WHERE c.code = 'UNASSIGNED';
  END IF;
  IF NEW.interaction_type IS NULL THEN
    SELECT CASE c.code WHEN 'EMAIL' THEN 'email' WHEN 'CHAT' THEN 'chat' WHEN 'PHONE' THEN 'call' WHEN 'CALL' THEN 'call'
                       WHEN 'VOICE' THEN 'call' WHEN 'TICKET' THEN 'ticket' ELSE 'other' END
    INTO NEW.interaction_type FROM public.channels c WHERE c.id = NEW.channel_id;
  END IF;
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
