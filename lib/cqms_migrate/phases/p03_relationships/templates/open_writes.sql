-- Cutover: who writes which assignments through the API (docs/security.md), the columns each may
-- change (assignments_guard), and the reverse sync that carries every write to the legacy table.
-- A fence left by an earlier rollback goes in the same transaction.
DROP TRIGGER IF EXISTS p03_fence ON public.assignments;
CREATE OR REPLACE FUNCTION cqms_security.assignments_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  v_me uuid;
  v_level text;
  v_changed text[];
BEGIN
  -- the quarter is the scheduled date's, whoever writes (the legacy row has no quarter: the
  -- forward mapping derives it the same way)
  NEW.quarter := 'Q' || extract(quarter FROM NEW.scheduled_date)::int;
  -- the runbook's own writes (p03_apply runs as the owner) and the owner's pass
  IF current_user NOT IN ('anon', 'authenticated', 'service_role') THEN
    RETURN NEW;
  END IF;
  -- an assignment's id is its legacy row's: nobody changes it, service_role and admins included
  IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'assignments: id is the legacy row''s; nobody changes it' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF current_user = 'service_role' THEN
    RETURN NEW;
  END IF;
  v_level := cqms_security.current_access_level();
  IF v_level = 'admin' THEN
    RETURN NEW;
  END IF;
  v_me := cqms_security.current_employee_id();
  IF TG_OP = 'INSERT' THEN
    IF NEW.assigner_id IS DISTINCT FROM v_me THEN
      RAISE EXCEPTION 'assignments: an assignment is created in one''s own name (assigner_id)'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.employee_id IS DISTINCT FROM OLD.employee_id OR NEW.assigner_id IS DISTINCT FROM OLD.assigner_id
     OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'assignments: only an admin changes who is audited, who assigned it, or when'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- the auditor an assignment is given to (not its assigner, not the team's supervisor) works it:
  -- its status, completion and audit; reassigning and rescheduling are the assigner's or the team's
  IF OLD.assigner_id IS DISTINCT FROM v_me AND NOT (OLD.employee_id = ANY (cqms_security.team_member_ids())) THEN
    SELECT array_agg(n.k ORDER BY n.k) INTO v_changed
    FROM jsonb_each(to_jsonb(NEW)) n(k, v)
    WHERE n.v IS DISTINCT FROM to_jsonb(OLD) -> n.k
      AND n.k <> ALL (ARRAY['status', 'completed_at', 'completion_notes', 'audit_id', 'audit_interaction_date',
                            'updated_at', 'quarter']);
    IF v_changed IS NOT NULL THEN
      RAISE EXCEPTION 'assignments: the auditor of an assignment may not change %', array_to_string(v_changed, ', ')
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION cqms_security.assignments_guard() FROM PUBLIC;
CREATE OR REPLACE TRIGGER assignments_guard BEFORE INSERT OR UPDATE ON public.assignments
  FOR EACH ROW EXECUTE FUNCTION cqms_security.assignments_guard();

-- an admin writes any; an elevated employee (auditor, supervisor) creates assignments in their
-- own name for their team or for themselves to audit, and updates the ones given to them, made
-- by them or of their team; an agent writes none; deleting is an admin's (cancel otherwise)
CREATE POLICY assignments_insert ON public.assignments FOR INSERT TO authenticated
  WITH CHECK ((SELECT cqms_security.current_access_level()) = 'admin'
              OR ((SELECT cqms_security.current_access_level()) = 'elevated'
                  AND assigner_id = (SELECT cqms_security.current_employee_id())
                  AND (auditor_id = (SELECT cqms_security.current_employee_id())
                       OR employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[]))));
CREATE POLICY assignments_update ON public.assignments FOR UPDATE TO authenticated
  USING ((SELECT cqms_security.current_access_level()) = 'admin'
         OR ((SELECT cqms_security.current_access_level()) = 'elevated'
             AND (auditor_id = (SELECT cqms_security.current_employee_id())
                  OR assigner_id = (SELECT cqms_security.current_employee_id())
                  OR employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[]))))
  WITH CHECK ((SELECT cqms_security.current_access_level()) = 'admin'
              OR ((SELECT cqms_security.current_access_level()) = 'elevated'
                  AND (auditor_id = (SELECT cqms_security.current_employee_id())
                       OR assigner_id = (SELECT cqms_security.current_employee_id())
                       OR employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[]))));
CREATE POLICY assignments_delete ON public.assignments FOR DELETE TO authenticated
  USING ((SELECT cqms_security.current_access_level()) = 'admin');
GRANT INSERT, UPDATE, DELETE ON public.assignments TO authenticated;
