-- RLS on audits and audit_errors: an employee reads the audits about them, an auditor the
-- audits they wrote; elevated/admin read all and write; service_role bypasses RLS.
CREATE FUNCTION public.cqms_current_employee_id() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT e.id FROM public.employees e WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL
$$;
REVOKE ALL ON FUNCTION public.cqms_current_employee_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cqms_current_employee_id() TO authenticated, service_role;

ALTER TABLE public.audits ENABLE ROW LEVEL SECURITY;
CREATE POLICY audits_read_own ON public.audits FOR SELECT TO authenticated
  USING (employee_id = (SELECT public.cqms_current_employee_id()) OR auditor_id = (SELECT public.cqms_current_employee_id()));
CREATE POLICY audits_read_elevated ON public.audits FOR SELECT TO authenticated
  USING ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'));
CREATE POLICY audits_write_elevated ON public.audits FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'))
  WITH CHECK ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'));
GRANT SELECT, INSERT, UPDATE, DELETE ON public.audits TO authenticated;
GRANT ALL ON public.audits TO service_role;

ALTER TABLE public.audit_errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_errors_read ON public.audit_errors FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.audits a WHERE a.id = audit_id));
CREATE POLICY audit_errors_write_elevated ON public.audit_errors FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'))
  WITH CHECK ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'));
GRANT SELECT, INSERT, UPDATE, DELETE ON public.audit_errors TO authenticated;
GRANT ALL ON public.audit_errors TO service_role;
