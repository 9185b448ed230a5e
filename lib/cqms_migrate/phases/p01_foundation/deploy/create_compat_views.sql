-- users_compat / people_compat: exactly the legacy columns and types, for code that still
-- reads the legacy shape. An employee not changed since the migration (version equals the
-- snapshot's) returns its legacy row verbatim; a changed or new employee returns values
-- derived from employees and the reference tables. security_invoker: RLS of employees
-- applies to the caller, not to the view owner.
CREATE VIEW public.users_compat WITH (security_invoker = true) AS
SELECT
  e.auth_user_id AS id,
  CASE WHEN s.same THEN s.u ->> 'email' ELSE e.email END AS email,
  CASE WHEN s.same THEN s.u ->> 'full_name' ELSE e.name END AS full_name,
  CASE WHEN s.same THEN s.u ->> 'avatar_url' ELSE e.avatar_url END AS avatar_url,
  CASE WHEN s.same THEN s.u ->> 'provider' END AS provider,
  CASE WHEN s.same THEN (s.u ->> 'last_sign_in_at')::timestamptz ELSE e.last_login_at END AS last_sign_in_at,
  CASE WHEN s.same THEN (s.u ->> 'sign_in_count')::integer ELSE e.login_count END AS sign_in_count,
  CASE WHEN s.same THEN nullif(s.u -> 'device_info', 'null'::jsonb) ELSE e.device_info END AS device_info,
  CASE WHEN s.same THEN nullif(s.u -> 'notification_preferences', 'null'::jsonb) ELSE e.notification_preferences END AS notification_preferences,
  CASE WHEN s.same THEN (s.u ->> 'created_at')::timestamptz ELSE e.created_at END AS created_at,
  CASE WHEN s.same THEN (s.u ->> 'updated_at')::timestamptz ELSE e.updated_at END AS updated_at
FROM public.employees e
CROSS JOIN LATERAL (
  SELECT e.legacy_snapshot -> 'users' AS u,
         (e.legacy_snapshot ? 'users') AND e.version = (e.legacy_snapshot ->> 'version')::integer AS same
) s
WHERE e.auth_user_id IS NOT NULL AND e.deleted_at IS NULL;

CREATE VIEW public.people_compat WITH (security_invoker = true) AS
SELECT
  CASE WHEN s.same THEN s.p ->> 'email' ELSE e.email END AS email,
  CASE WHEN s.same THEN s.p ->> 'name' ELSE e.name END AS name,
  CASE WHEN s.same THEN s.p ->> 'role' ELSE r.name END AS role,
  CASE WHEN s.same THEN s.p ->> 'department' ELSE nullif(d.name, 'Unassigned') END AS department,
  CASE WHEN s.same THEN s.p ->> 'designation' ELSE e.designation END AS designation,
  CASE WHEN s.same THEN s.p ->> 'employee_id' ELSE e.employee_id END AS employee_id,
  CASE WHEN s.same THEN s.p ->> 'channel' ELSE nullif(c.name, 'Unassigned') END AS channel,
  CASE WHEN s.same THEN s.p ->> 'team' ELSE nullif(t.name, 'Unassigned') END AS team,
  CASE WHEN s.same THEN s.p ->> 'team_supervisor' ELSE sup.email END AS team_supervisor,
  CASE WHEN s.same THEN s.p ->> 'quality_mentor' ELSE qm.email END AS quality_mentor,
  CASE WHEN s.same THEN s.p ->> 'country' ELSE nullif(e.country_code, 'ZZ') END AS country,
  CASE WHEN s.same THEN (s.p ->> 'is_active')::boolean ELSE e.is_active END AS is_active,
  CASE WHEN s.same THEN (s.p ->> 'last_login')::timestamptz ELSE e.last_login_at END AS last_login,
  CASE WHEN s.same THEN (s.p ->> 'login_count')::integer ELSE e.login_count END AS login_count,
  CASE WHEN s.same THEN s.p ->> 'avatar_url' ELSE e.avatar_url END AS avatar_url,
  CASE WHEN s.same THEN s.p ->> 'intercom_admin_alias' ELSE e.intercom_admin_alias END AS intercom_admin_alias
FROM public.employees e
CROSS JOIN LATERAL (
  SELECT e.legacy_snapshot -> 'people' AS p,
         (e.legacy_snapshot ? 'people') AND e.version = (e.legacy_snapshot ->> 'version')::integer AS same
) s
LEFT JOIN public.roles r ON r.id = e.role_id
LEFT JOIN public.departments d ON d.id = e.department_id
LEFT JOIN public.channels c ON c.id = e.channel_id
LEFT JOIN public.teams t ON t.id = e.team_id
LEFT JOIN public.employees sup ON sup.id = e.supervisor_id
LEFT JOIN public.employees qm ON qm.id = e.quality_mentor_id
-- users-only accounts were never people; employees created after cutover are
WHERE e.deleted_at IS NULL AND (e.legacy_snapshot ? 'people' OR e.legacy_snapshot IS NULL);

-- A compat view gets the read rights of the legacy table it stands in for, and never more than
-- RLS on employees allows (security_invoker): the default privileges' grants are revoked first,
-- in this transaction, then SELECT is granted to each API role that can read the legacy table.
REVOKE ALL ON public.users_compat, public.people_compat FROM PUBLIC, anon, authenticated, service_role;
DO $grants$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF has_table_privilege(r, 'public.users', 'SELECT') THEN
      EXECUTE format('GRANT SELECT ON public.users_compat TO %I', r);
    END IF;
    IF has_table_privilege(r, 'public.people', 'SELECT') THEN
      EXECUTE format('GRANT SELECT ON public.people_compat TO %I', r);
    END IF;
  END LOOP;
END $grants$;
