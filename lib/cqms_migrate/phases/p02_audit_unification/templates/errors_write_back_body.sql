-- After cutover: a change to audit_errors through the new path reaches its audit's
-- parameter_scores, and so (reverse sync) the legacy parameter column; a deleted error leaves 0.
-- The forward sync's own rewrite of an audit's errors is its echo and is skipped.
DECLARE
  v_audit uuid := coalesce(NEW.audit_id, OLD.audit_id);
BEGIN
  IF current_setting('cqms.sync_echo', true) LIKE 'forward:%:' || v_audit::text THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.field_id IS DISTINCT FROM NEW.field_id) THEN
    UPDATE public.audits SET parameter_scores = parameter_scores || jsonb_build_object(OLD.field_id, 0)
    WHERE id = OLD.audit_id AND (parameter_scores -> OLD.field_id) IS DISTINCT FROM '0'::jsonb;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE public.audits SET parameter_scores = parameter_scores || jsonb_build_object(NEW.field_id, NEW.error_count)
    WHERE id = NEW.audit_id AND (parameter_scores -> NEW.field_id) IS DISTINCT FROM to_jsonb(NEW.error_count);
  END IF;
  RETURN NULL;
END
