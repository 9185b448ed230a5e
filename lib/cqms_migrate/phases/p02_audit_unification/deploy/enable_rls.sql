-- The security model of docs/security.md for audits and audit_errors (the helpers are phase 1's,
-- in schema cqms_security, which the API does not expose):
--   an agent reads the audits about them and the ones they wrote, acknowledges their own audits
--   and requests a reversal (only those columns: a trigger guards the rest);
--   an auditor (quality analyst) creates audits in their own name and edits the ones they wrote;
--   an elevated employee (supervisor, team lead) reads and validates their team's audits and
--   answers reversal requests; an admin reads and writes everything; service_role bypasses RLS.

-- now that audits exist, a standard employee also sees who audited them (phase 1: empty)
CREATE OR REPLACE FUNCTION cqms_security.audit_counterpart_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  WITH me AS (SELECT cqms_security.current_employee_id() AS id)
  SELECT coalesce(array_agg(DISTINCT x) FILTER (WHERE x IS NOT NULL), '{}'::uuid[]) FROM (
    SELECT a.auditor_id FROM public.audits a JOIN me ON a.employee_id = me.id WHERE a.deleted_at IS NULL
    UNION
    SELECT a.employee_id FROM public.audits a JOIN me ON a.auditor_id = me.id WHERE a.deleted_at IS NULL) s(x)
$$;

CREATE FUNCTION cqms_security.audits_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  v_me uuid;
  v_level text;
  v_allowed text[] := ARRAY['version', 'updated_at', 'percentage_score'];
  v_changed text[];
BEGIN
  -- the runbook's own writes (its SECURITY DEFINER syncs run as the owner) and the owner's pass
  IF current_user NOT IN ('anon', 'authenticated', 'service_role') THEN
    RETURN NEW;
  END IF;
  -- provenance (which legacy row an audit is, and where the reverse sync writes it) is the
  -- runbook's: no API role names it on a new audit or changes it, service_role and admins included
  IF TG_OP = 'INSERT' THEN
    IF NEW.legacy_table IS NOT NULL OR NEW.legacy_id IS NOT NULL THEN
      RAISE EXCEPTION 'audits: legacy_table and legacy_id are set by the migration (from the scorecard), never by a writer'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.id IS DISTINCT FROM OLD.id OR NEW.legacy_table IS DISTINCT FROM OLD.legacy_table
     OR NEW.legacy_id IS DISTINCT FROM OLD.legacy_id THEN
    RAISE EXCEPTION 'audits: id, legacy_table and legacy_id are an audit''s provenance; nobody changes them'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF current_user = 'service_role' THEN
    RETURN NEW;
  END IF;
  v_level := cqms_security.current_access_level();
  IF v_level = 'admin' THEN
    RETURN NEW;
  END IF;
  v_me := cqms_security.current_employee_id();
  -- the author edits their audit only as an auditor (elevated): an agent named auditor_id by a
  -- legacy row has an agent's rights (docs/security.md)
  IF OLD.auditor_id = v_me AND v_level = 'elevated' THEN
    IF NEW.auditor_id IS DISTINCT FROM OLD.auditor_id THEN
      RAISE EXCEPTION 'audits: only an admin reassigns an audit to another auditor' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.employee_id = v_me THEN
    v_allowed := v_allowed || ARRAY['acknowledgement_status', 'acknowledged_at', 'reversal_requested_at',
                                    'reversal_requested_by', 'reversal_reason'];
    IF NEW.reversal_requested_by IS DISTINCT FROM OLD.reversal_requested_by
       AND NEW.reversal_requested_by IS DISTINCT FROM v_me THEN
      RAISE EXCEPTION 'audits: a reversal is requested in one''s own name' USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  IF v_level = 'elevated' AND OLD.employee_id = ANY (cqms_security.team_member_ids()) THEN
    v_allowed := v_allowed || ARRAY['validation_status', 'validated_at', 'reversal_responded_at',
                                    'reversal_responded_by', 'reversal_approved', 'reversal_notes'];
  END IF;
  SELECT array_agg(n.k ORDER BY n.k) INTO v_changed
  FROM jsonb_each(to_jsonb(NEW)) n(k, v)
  WHERE n.v IS DISTINCT FROM to_jsonb(OLD) -> n.k AND n.k <> ALL (v_allowed);
  IF v_changed IS NOT NULL THEN
    RAISE EXCEPTION 'audits: this user may not change %', array_to_string(v_changed, ', ')
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audits_guard BEFORE INSERT OR UPDATE ON public.audits
  FOR EACH ROW EXECUTE FUNCTION cqms_security.audits_guard();
REVOKE ALL ON FUNCTION cqms_security.audits_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cqms_security.audits_guard() TO authenticated, service_role;

CREATE POLICY audits_select ON public.audits FOR SELECT TO authenticated
  USING (employee_id = (SELECT cqms_security.current_employee_id())
         OR auditor_id = (SELECT cqms_security.current_employee_id())
         OR (SELECT cqms_security.current_access_level()) = 'admin'
         OR ((SELECT cqms_security.current_access_level()) = 'elevated'
             AND employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[])));
CREATE POLICY audits_insert ON public.audits FOR INSERT TO authenticated
  WITH CHECK ((SELECT cqms_security.current_access_level()) = 'admin'
              OR ((SELECT cqms_security.current_access_level()) = 'elevated'
                  AND auditor_id = (SELECT cqms_security.current_employee_id())));
CREATE POLICY audits_update ON public.audits FOR UPDATE TO authenticated
  USING (employee_id = (SELECT cqms_security.current_employee_id())
         OR auditor_id = (SELECT cqms_security.current_employee_id())
         OR (SELECT cqms_security.current_access_level()) = 'admin'
         OR ((SELECT cqms_security.current_access_level()) = 'elevated'
             AND employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[])))
  WITH CHECK (employee_id = (SELECT cqms_security.current_employee_id())
              OR auditor_id = (SELECT cqms_security.current_employee_id())
              OR (SELECT cqms_security.current_access_level()) = 'admin'
              OR ((SELECT cqms_security.current_access_level()) = 'elevated'
                  AND employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[])));
CREATE POLICY audits_delete ON public.audits FOR DELETE TO authenticated
  USING ((SELECT cqms_security.current_access_level()) = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.audits TO authenticated;
GRANT ALL ON public.audits TO service_role;

-- audit_errors follow their audit: readable when it is, written by its auditor or an admin
CREATE POLICY audit_errors_select ON public.audit_errors FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id));
CREATE POLICY audit_errors_insert ON public.audit_errors FOR INSERT TO authenticated
  WITH CHECK (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id
                      AND (a.auditor_id = (SELECT cqms_security.current_employee_id())
                           OR (SELECT cqms_security.current_access_level()) = 'admin')));
CREATE POLICY audit_errors_update ON public.audit_errors FOR UPDATE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id
                 AND (a.auditor_id = (SELECT cqms_security.current_employee_id())
                      OR (SELECT cqms_security.current_access_level()) = 'admin')))
  WITH CHECK (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id
                      AND (a.auditor_id = (SELECT cqms_security.current_employee_id())
                           OR (SELECT cqms_security.current_access_level()) = 'admin')));
CREATE POLICY audit_errors_delete ON public.audit_errors FOR DELETE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id
                 AND (a.auditor_id = (SELECT cqms_security.current_employee_id())
                      OR (SELECT cqms_security.current_access_level()) = 'admin')));
GRANT SELECT, INSERT, UPDATE, DELETE ON public.audit_errors TO authenticated;
GRANT ALL ON public.audit_errors TO service_role;
