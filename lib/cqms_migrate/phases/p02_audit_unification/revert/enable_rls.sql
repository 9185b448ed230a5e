DROP POLICY IF EXISTS audit_errors_write_elevated ON public.audit_errors;
DROP POLICY IF EXISTS audit_errors_read ON public.audit_errors;
DROP POLICY IF EXISTS audits_write_elevated ON public.audits;
DROP POLICY IF EXISTS audits_read_elevated ON public.audits;
DROP POLICY IF EXISTS audits_read_own ON public.audits;
REVOKE ALL ON public.audits, public.audit_errors FROM authenticated, service_role;
ALTER TABLE public.audit_errors DISABLE ROW LEVEL SECURITY;
ALTER TABLE public.audits DISABLE ROW LEVEL SECURITY;
DROP FUNCTION IF EXISTS public.cqms_current_employee_id();
