-- back to the state create_* left: RLS on, no policy, no grant to the API roles
DO $reference$
DECLARE
  t text;
  c text;
BEGIN
  FOREACH t IN ARRAY ARRAY['roles', 'departments', 'teams', 'channels', 'countries', 'employees'] LOOP
    FOREACH c IN ARRAY ARRAY['select', 'insert', 'update', 'delete'] LOOP
      EXECUTE format('DROP POLICY IF EXISTS %I ON public.%I', t || '_' || c, t);
    END LOOP;
    EXECUTE format('REVOKE ALL ON public.%I FROM anon, authenticated', t);
  END LOOP;
END $reference$;
DROP TRIGGER IF EXISTS employees_guard ON public.employees;
DROP FUNCTION IF EXISTS cqms_security.employees_guard();
DROP FUNCTION IF EXISTS cqms_security.team_member_ids();
DROP FUNCTION IF EXISTS cqms_security.related_employee_ids();
DROP FUNCTION IF EXISTS cqms_security.audit_counterpart_ids();
DROP FUNCTION IF EXISTS cqms_security.current_access_level();
DROP FUNCTION IF EXISTS cqms_security.current_employee_id();
DROP SCHEMA IF EXISTS cqms_security;
