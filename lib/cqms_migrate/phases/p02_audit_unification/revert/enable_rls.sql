-- back to the state create_audits left: RLS on, no policy, no grant to the API roles
DROP POLICY IF EXISTS audit_errors_delete ON public.audit_errors;
DROP POLICY IF EXISTS audit_errors_update ON public.audit_errors;
DROP POLICY IF EXISTS audit_errors_insert ON public.audit_errors;
DROP POLICY IF EXISTS audit_errors_select ON public.audit_errors;
DROP POLICY IF EXISTS audits_delete ON public.audits;
DROP POLICY IF EXISTS audits_update ON public.audits;
DROP POLICY IF EXISTS audits_insert ON public.audits;
DROP POLICY IF EXISTS audits_select ON public.audits;
REVOKE ALL ON public.audits, public.audit_errors FROM anon, authenticated;
DROP TRIGGER IF EXISTS audits_guard ON public.audits;
DROP FUNCTION IF EXISTS cqms_security.audits_guard();
-- phase 1's version: no audits, no counterparts
CREATE OR REPLACE FUNCTION cqms_security.audit_counterpart_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT '{}'::uuid[]
$$;
