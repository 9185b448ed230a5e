-- The security model of docs/security.md for phase 1's tables. The legacy users table had RLS
-- disabled (a hole the seed names); everything here is deny-by-default.
--
-- Helper functions live in schema cqms_security, which the API does not expose (Supabase exposes
-- public): policies call them, /rest/v1/rpc cannot. They are SECURITY DEFINER so the policies on
-- employees do not recurse into employees' own RLS, with a fixed empty search_path.
CREATE SCHEMA cqms_security;
REVOKE ALL ON SCHEMA cqms_security FROM PUBLIC;
GRANT USAGE ON SCHEMA cqms_security TO authenticated, service_role;

-- the signed-in user's active employee row
CREATE FUNCTION cqms_security.current_employee_id() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT e.id FROM public.employees e
  WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL AND e.is_active
$$;

CREATE FUNCTION cqms_security.current_access_level() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT e.access_level FROM public.employees e
  WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL AND e.is_active
$$;

-- the employees whose audits the signed-in user wrote or who wrote theirs (phase 2 fills it in)
CREATE FUNCTION cqms_security.audit_counterpart_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT '{}'::uuid[]
$$;

-- whom a standard employee may see besides themself: supervisor, mentor, manager, the people
-- they supervise or mentor, and their audit counterparts
CREATE FUNCTION cqms_security.related_employee_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  WITH me AS (SELECT e.id, e.supervisor_id, e.quality_mentor_id, e.reporting_manager_id FROM public.employees e
              WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL AND e.is_active)
  SELECT coalesce(array_agg(DISTINCT x) FILTER (WHERE x IS NOT NULL), '{}'::uuid[]) FROM (
    SELECT unnest(ARRAY[me.id, me.supervisor_id, me.quality_mentor_id, me.reporting_manager_id]) FROM me
    UNION ALL
    SELECT e.id FROM public.employees e JOIN me ON e.supervisor_id = me.id OR e.quality_mentor_id = me.id
    UNION ALL
    SELECT unnest(cqms_security.audit_counterpart_ids()) FROM me) ids(x)
$$;

-- whose audits an elevated employee (supervisor, team lead, quality analyst) oversees: the people
-- they supervise or mentor and the members of their team (not of the 'Unassigned' team)
CREATE FUNCTION cqms_security.team_member_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  WITH me AS (SELECT e.id, e.team_id, e.access_level FROM public.employees e
              WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL AND e.is_active)
  SELECT coalesce(array_agg(DISTINCT e.id), '{}'::uuid[])
  FROM public.employees e JOIN me ON e.supervisor_id = me.id OR e.quality_mentor_id = me.id
    OR (me.access_level IN ('elevated', 'admin') AND e.team_id = me.team_id
        AND NOT EXISTS (SELECT 1 FROM public.teams t WHERE t.id = me.team_id AND t.code LIKE 'UNASSIGNED@%'))
  WHERE e.id <> me.id
$$;

-- A non-admin changes only their own self-service columns; role, access level, team, email,
-- activity flags and the rest are an admin's (or the server's) to change. RLS cannot restrict
-- columns, so a trigger does; it applies only to the API roles.
CREATE FUNCTION cqms_security.employees_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  changed text[];
BEGIN
  IF current_user NOT IN ('anon', 'authenticated') OR cqms_security.current_access_level() = 'admin' THEN
    RETURN NEW;
  END IF;
  SELECT array_agg(n.k ORDER BY n.k) INTO changed
  FROM jsonb_each(to_jsonb(NEW)) n(k, v)
  WHERE n.v IS DISTINCT FROM to_jsonb(OLD) -> n.k
    AND n.k <> ALL (ARRAY['display_name', 'avatar_url', 'phone', 'timezone', 'notification_preferences',
                          'ui_preferences', 'device_info', 'last_login_at', 'last_activity_at', 'login_count',
                          'version', 'updated_at']);
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION 'employees: only an admin may change %', array_to_string(changed, ', ')
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER employees_guard BEFORE UPDATE ON public.employees
  FOR EACH ROW EXECUTE FUNCTION cqms_security.employees_guard();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cqms_security FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cqms_security TO authenticated, service_role;

-- employees: one permissive policy per command (two for one command would both run on every row)
CREATE POLICY employees_select ON public.employees FOR SELECT TO authenticated
  USING (auth_user_id = (SELECT auth.uid())
         OR (SELECT cqms_security.current_access_level()) IN ('elevated', 'admin')
         OR id = ANY ((SELECT cqms_security.related_employee_ids())::uuid[]));
CREATE POLICY employees_insert ON public.employees FOR INSERT TO authenticated
  WITH CHECK ((SELECT cqms_security.current_access_level()) = 'admin');
CREATE POLICY employees_update ON public.employees FOR UPDATE TO authenticated
  USING (auth_user_id = (SELECT auth.uid()) OR (SELECT cqms_security.current_access_level()) = 'admin')
  WITH CHECK (auth_user_id = (SELECT auth.uid()) OR (SELECT cqms_security.current_access_level()) = 'admin');
CREATE POLICY employees_delete ON public.employees FOR DELETE TO authenticated
  USING ((SELECT cqms_security.current_access_level()) = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.employees TO authenticated;
GRANT ALL ON public.employees TO service_role;

-- reference tables: every signed-in user reads them, admins write them
DO $reference$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['roles', 'departments', 'teams', 'channels', 'countries'] LOOP
    EXECUTE format('CREATE POLICY %I ON public.%I FOR SELECT TO authenticated USING (true)', t || '_select', t);
    EXECUTE format('CREATE POLICY %I ON public.%I FOR INSERT TO authenticated '
                   'WITH CHECK ((SELECT cqms_security.current_access_level()) = ''admin'')', t || '_insert', t);
    EXECUTE format('CREATE POLICY %I ON public.%I FOR UPDATE TO authenticated '
                   'USING ((SELECT cqms_security.current_access_level()) = ''admin'') '
                   'WITH CHECK ((SELECT cqms_security.current_access_level()) = ''admin'')', t || '_update', t);
    EXECUTE format('CREATE POLICY %I ON public.%I FOR DELETE TO authenticated '
                   'USING ((SELECT cqms_security.current_access_level()) = ''admin'')', t || '_delete', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO authenticated', t);
    EXECUTE format('GRANT ALL ON public.%I TO service_role', t);
  END LOOP;
END $reference$;
