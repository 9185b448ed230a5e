-- BEFORE INSERT on audits: a row the new application writes gets the legacy table of its
-- scorecard as provenance, so the reverse sync knows where it belongs: the adopted table of the
-- scorecard, else (a scorecard created since adoption) the table its scorecard names, if it exists.
-- A channel or interaction type left NULL gets what the legacy row's NULL channel maps to (the
-- legacy table cannot hold the difference): Unassigned, and the type of the channel.
DECLARE
  v_rel regclass;
  v_idtype text;
  v_default text;
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
      -- a scorecard created since adoption: its table, if it is an audit table
      -- (p02_legacy_rel: never a core legacy table or one of the runbook's)
      SELECT s.table_name INTO NEW.legacy_table FROM public.scorecards s
      WHERE s.id = NEW.scorecard_id AND cqms_migration.p02_legacy_rel(s.table_name) IS NOT NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM cqms_migration.p02_not_migrated x WHERE x.legacy_table = NEW.legacy_table) THEN
      -- a table phase 2 does not migrate (excluded, or not an audit table): the audit is kept in
      -- audits only, and listed (cqms-migrate status), never written into that table
      INSERT INTO cqms_migration.p02_unsynced (audit_id, legacy_table, operation)
      VALUES (NEW.id, NEW.legacy_table, 'INSERT (table not migrated)')
      ON CONFLICT (audit_id, operation) DO UPDATE SET legacy_table = EXCLUDED.legacy_table, at = now();
      NEW.legacy_table := NULL;
    END IF;
  END IF;
  -- the legacy id the row will have: a table keyed by uuid or text takes the audit's id (the
  -- application's choice stays; a text id holds the uuid's text, which audit_uuid maps back to
  -- it); a table keyed by a number takes the next value of its id's default (a serial, an
  -- identity), and the audit's id becomes the name-based uuid of that legacy id
  -- (cqms_migration.audit_uuid), so after a rollback and a re-run it is the same
  IF NEW.legacy_table IS NOT NULL AND NEW.legacy_id IS NULL THEN
    v_rel := cqms_migration.p02_legacy_rel(NEW.legacy_table);
    SELECT a.atttypid::regtype::text,
           CASE WHEN a.attidentity <> '' THEN format('nextval(%L)', pg_get_serial_sequence(v_rel::text, 'id'))
                ELSE pg_get_expr(d.adbin, d.adrelid) END
      INTO v_idtype, v_default
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = v_rel AND a.attname = 'id' AND NOT a.attisdropped;
    IF v_idtype IS NULL OR v_idtype IN ('uuid', 'text', 'character varying', 'character') THEN
      -- the id the application gave the audit stays its id (a text column holds its uuid's text)
      NEW.legacy_id := NEW.id::text;
    ELSIF v_default IS NULL THEN
      RAISE EXCEPTION 'legacy table % is keyed by % without a default: a new audit of it must be written to that table',
        NEW.legacy_table, v_idtype USING ERRCODE = 'not_null_violation';
    ELSE
      EXECUTE format('SELECT (%s)::text', v_default) INTO NEW.legacy_id;
      NEW.id := cqms_migration.audit_uuid(NEW.legacy_table, NEW.legacy_id);
    END IF;
  END IF;
  RETURN NEW;
END
