-- Row-level security on the new tables (the legacy users table had none: a hole the seed names).
--   authenticated: reads their own employee row; elevated/admin access levels read all;
--                  admins write; everybody signed in reads the reference tables.
--   service_role:  has BYPASSRLS on Supabase; granted full access.
--   anon:          nothing.
-- The access-level lookup is a SECURITY DEFINER function so the policies on employees do not
-- recurse into employees' own RLS; auth.uid() is wrapped in a scalar subquery (evaluated once,
-- not per row: Supabase's advisor flags the per-row form).
CREATE FUNCTION public.cqms_current_access_level() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT e.access_level FROM public.employees e
  WHERE e.auth_user_id = (SELECT auth.uid()) AND e.deleted_at IS NULL AND e.is_active
$$;
REVOKE ALL ON FUNCTION public.cqms_current_access_level() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cqms_current_access_level() TO authenticated, service_role;

ALTER TABLE public.employees ENABLE ROW LEVEL SECURITY;
CREATE POLICY employees_read_own ON public.employees FOR SELECT TO authenticated
  USING (auth_user_id = (SELECT auth.uid()));
CREATE POLICY employees_read_elevated ON public.employees FOR SELECT TO authenticated
  USING ((SELECT public.cqms_current_access_level()) IN ('elevated', 'admin'));
CREATE POLICY employees_admin_write ON public.employees FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin')
  WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.employees TO authenticated;
GRANT ALL ON public.employees TO service_role;

ALTER TABLE public.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.departments ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.countries ENABLE ROW LEVEL SECURITY;
CREATE POLICY roles_read ON public.roles FOR SELECT TO authenticated USING (true);
CREATE POLICY departments_read ON public.departments FOR SELECT TO authenticated USING (true);
CREATE POLICY teams_read ON public.teams FOR SELECT TO authenticated USING (true);
CREATE POLICY channels_read ON public.channels FOR SELECT TO authenticated USING (true);
CREATE POLICY countries_read ON public.countries FOR SELECT TO authenticated USING (true);
CREATE POLICY roles_admin_write ON public.roles FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin') WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
CREATE POLICY departments_admin_write ON public.departments FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin') WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
CREATE POLICY teams_admin_write ON public.teams FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin') WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
CREATE POLICY channels_admin_write ON public.channels FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin') WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
CREATE POLICY countries_admin_write ON public.countries FOR ALL TO authenticated
  USING ((SELECT public.cqms_current_access_level()) = 'admin') WITH CHECK ((SELECT public.cqms_current_access_level()) = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.roles, public.departments, public.teams, public.channels,
  public.countries TO authenticated;
GRANT ALL ON public.roles, public.departments, public.teams, public.channels, public.countries TO service_role;

GRANT SELECT ON public.users_compat, public.people_compat TO authenticated, service_role;
