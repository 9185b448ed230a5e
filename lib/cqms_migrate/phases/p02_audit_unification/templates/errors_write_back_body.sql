-- After cutover: a change to audit_errors through the new path reaches its audit's
-- parameter_scores (as the column's meaning writes it: a count, the flag's error or no-error
-- spelling, the points left), and so (reverse sync) the legacy parameter column; a deleted error
-- leaves no error there.
-- The forward sync's own rewrite of an audit's errors is its echo and is skipped.
DECLARE
  v_audit uuid := coalesce(NEW.audit_id, OLD.audit_id);
  v_marker text := current_setting('cqms.sync_echo', true);
BEGIN
  IF v_marker LIKE 'forward:%:' || v_audit::text OR v_marker = 'forward:backfill'
     OR v_marker = 'errors:' || v_audit::text THEN
    RETURN NULL;
  END IF;
  -- the audit's scores follow its errors; the reverse sync then writes the legacy row but does
  -- not rebuild these errors from the scores (marker 'errors:<audit>')
  PERFORM set_config('cqms.sync_echo', 'errors:' || v_audit::text, true);
  -- a row deleted, or moved to another parameter or audit: its old score goes to 0
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.field_id, OLD.audit_id) IS DISTINCT FROM (NEW.field_id, NEW.audit_id)) THEN
    UPDATE public.audits SET parameter_scores = parameter_scores
                                                || jsonb_build_object(OLD.field_id, cqms_migration.p02_score_of(OLD.audit_id, OLD.field_id, 0, NULL))
    WHERE id = OLD.audit_id
      AND (parameter_scores -> OLD.field_id) IS DISTINCT FROM cqms_migration.p02_score_of(OLD.audit_id, OLD.field_id, 0, NULL);
  END IF;
  -- (a row an earlier trigger of the same statement replaced is gone: nothing to carry)
  IF TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM public.audit_errors x WHERE x.id = NEW.id) THEN
    IF coalesce(NEW.error_count, 0) <= 0 THEN
      -- rows exist for positive counts only, as the mapping builds them: a count set to 0 (or
      -- less) removes the row and leaves the score 0
      DELETE FROM public.audit_errors x WHERE x.id = NEW.id;
      UPDATE public.audits SET parameter_scores = parameter_scores
                                                  || jsonb_build_object(NEW.field_id, cqms_migration.p02_score_of(NEW.audit_id, NEW.field_id, 0, NULL))
      WHERE id = NEW.audit_id
        AND (parameter_scores -> NEW.field_id) IS DISTINCT FROM cqms_migration.p02_score_of(NEW.audit_id, NEW.field_id, 0, NULL);
    ELSE
      -- one row per (audit, parameter), as the scores hold them: this row replaces any other
      DELETE FROM public.audit_errors x WHERE x.audit_id = NEW.audit_id AND x.field_id = NEW.field_id AND x.id <> NEW.id;
      UPDATE public.audits SET parameter_scores = parameter_scores || jsonb_build_object(NEW.field_id,
                                 cqms_migration.p02_score_of(NEW.audit_id, NEW.field_id, NEW.error_count, NEW.penalty_points))
      WHERE id = NEW.audit_id AND (parameter_scores -> NEW.field_id) IS DISTINCT FROM
                                  cqms_migration.p02_score_of(NEW.audit_id, NEW.field_id, NEW.error_count, NEW.penalty_points);
      -- what the writer left out, the parameter says (as the forward sync builds the row: its
      -- scorecard parameter, type and penalty under the column's meaning); what it gave stays
      IF NEW.scorecard_parameter_id IS NULL OR NEW.parameter_type IS NULL OR NEW.penalty_points IS NULL THEN
        UPDATE public.audit_errors x
        SET scorecard_parameter_id = coalesce(x.scorecard_parameter_id, (pm.p ->> 'id')::uuid),
            parameter_type = coalesce(x.parameter_type, pm.p ->> 'type'),
            penalty_points = coalesce(x.penalty_points, e.penalty)
        FROM public.audits a
        CROSS JOIN LATERAL (SELECT NEW.field_id AS key, a.parameter_scores ->> NEW.field_id AS value) kv
        CROSS JOIN LATERAL (SELECT ({parameter_map}) -> kv.key AS p) pm
        CROSS JOIN LATERAL ({error_of}) e
        WHERE x.id = NEW.id AND a.id = NEW.audit_id AND pm.p IS NOT NULL;
      END IF;
    END IF;
  END IF;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
