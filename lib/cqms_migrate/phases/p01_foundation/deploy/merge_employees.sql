-- users + people -> employees, joined on the normalized email (lower(btrim(email))).
-- Nothing is dropped: every users row and every people row ends up
--   migrated          (it is the row an employee was built from),
--   merged_duplicate  (another row for the same normalized email won; see precedence), or
--   quarantined       (cqms_migration.quarantine, whole original row + reason).
-- Duplicate precedence (deterministic, documented in docs/decisions.md):
--   people: is_active first, then latest last_login, then highest login_count, then a spelling
--           that is already normalized, then the row's md5 (a stable tiebreak);
--   users:  latest last_sign_in_at, then normalized spelling, then id.
-- Employee ids: a users row's id (= auth user id, as the seed intends), otherwise a UUID
-- derived from the normalized email, so a re-run after revert produces the same ids.

CREATE TEMP TABLE p01_people ON COMMIT DROP AS
SELECT to_jsonb(p) AS original_row,
       md5(p::text) || ':' || row_number() OVER (PARTITION BY md5(p::text)) AS source_key,
       p.email,
       lower(btrim(p.email)) AS ne,
       p.is_active, p.last_login, p.login_count,
       CASE WHEN p.email IS NULL OR btrim(p.email) = '' THEN 'missing_email'
            WHEN btrim(p.email) !~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$' THEN 'invalid_email'
       END AS problem
FROM public.people p;

CREATE TEMP TABLE p01_users ON COMMIT DROP AS
SELECT to_jsonb(u) AS original_row, u.id::text AS source_key, u.id, u.email,
       lower(btrim(u.email)) AS ne, u.last_sign_in_at,
       CASE WHEN u.email IS NULL OR btrim(u.email) = '' THEN 'missing_email'
            WHEN btrim(u.email) !~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$' THEN 'invalid_email'
       END AS problem
FROM public.users u;

INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
SELECT '01_foundation', 'people', source_key, problem,
       format('email %L fails the employees email format check', email), original_row,
       current_setting('cqms.run_id', true)
FROM p01_people WHERE problem IS NOT NULL
UNION ALL
SELECT '01_foundation', 'users', source_key, problem,
       format('email %L fails the employees email format check', email), original_row,
       current_setting('cqms.run_id', true)
FROM p01_users WHERE problem IS NOT NULL;

CREATE TEMP TABLE p01_people_ranked ON COMMIT DROP AS
SELECT pp.*, row_number() OVER (
         PARTITION BY ne
         ORDER BY is_active DESC NULLS LAST, last_login DESC NULLS LAST, login_count DESC NULLS LAST,
                  (email = ne) DESC, source_key) AS rank
FROM p01_people pp WHERE problem IS NULL;

CREATE TEMP TABLE p01_users_ranked ON COMMIT DROP AS
SELECT uu.*, row_number() OVER (
         PARTITION BY ne ORDER BY last_sign_in_at DESC NULLS LAST, (email = ne) DESC, id) AS rank
FROM p01_users uu WHERE problem IS NULL;

-- one person per normalized email, with the winning users and people rows
CREATE TEMP TABLE p01_persons ON COMMIT DROP AS
SELECT coalesce(u.ne, p.ne) AS ne,
       coalesce(u.id, md5('cqms-employee:' || coalesce(u.ne, p.ne))::uuid) AS employee_uuid,
       u.original_row AS u, p.original_row AS pr
FROM (SELECT * FROM p01_users_ranked WHERE rank = 1) u
FULL JOIN (SELECT * FROM p01_people_ranked WHERE rank = 1) p ON p.ne = u.ne;

CREATE TEMP TABLE p01_employees ON COMMIT DROP AS
SELECT per.employee_uuid AS id,
       (per.u ->> 'id')::uuid AS auth_user_id,
       coalesce(btrim(per.u ->> 'email'), btrim(per.pr ->> 'email')) AS email,
       per.pr ->> 'employee_id' AS legacy_employee_id,
       coalesce(nullif(btrim(per.pr ->> 'name'), ''), nullif(btrim(per.u ->> 'full_name'), ''),
                split_part(per.ne, '@', 1)) AS name,
       coalesce(per.u ->> 'avatar_url', per.pr ->> 'avatar_url') AS avatar_url,
       coalesce(rm.role_id, (SELECT r.id FROM public.roles r JOIN cqms_migration.p01_role_mapping dm
                               ON dm.role_code = r.code AND dm.legacy_role = '*default*')) AS role_id,
       d.id AS department_id,
       per.pr ->> 'designation' AS designation,
       c.id AS channel_id,
       t.id AS team_id,
       cqms_migration.country_code(per.pr ->> 'country') AS country_code,
       lower(btrim(per.pr ->> 'team_supervisor')) AS supervisor_ne,
       lower(btrim(per.pr ->> 'quality_mentor')) AS mentor_ne,
       per.pr ->> 'intercom_admin_alias' AS intercom_admin_alias,
       coalesce((per.pr ->> 'is_active')::boolean, true) AS is_active,
       greatest((per.u ->> 'last_sign_in_at')::timestamptz, (per.pr ->> 'last_login')::timestamptz) AS last_login_at,
       greatest(coalesce((per.u ->> 'sign_in_count')::int, 0), coalesce((per.pr ->> 'login_count')::int, 0)) AS login_count,
       nullif(per.u -> 'notification_preferences', 'null'::jsonb) AS notification_preferences,
       coalesce(nullif(per.u -> 'device_info', 'null'::jsonb), '{}'::jsonb) AS device_info,
       coalesce((per.u ->> 'created_at')::timestamptz, now()) AS created_at,
       coalesce((per.u ->> 'updated_at')::timestamptz, now()) AS updated_at,
       jsonb_build_object('version', 1)
         || CASE WHEN per.pr IS NOT NULL THEN jsonb_build_object('people', per.pr) ELSE '{}'::jsonb END
         || CASE WHEN per.u IS NOT NULL THEN jsonb_build_object('users', per.u - 'id') ELSE '{}'::jsonb END AS legacy_snapshot,
       per.ne
FROM p01_persons per
LEFT JOIN cqms_migration.p01_role_mapping m
       ON m.legacy_role = lower(regexp_replace(btrim(per.pr ->> 'role'), '\s+', ' ', 'g'))
LEFT JOIN LATERAL (SELECT r.id AS role_id FROM public.roles r WHERE r.code = m.role_code) rm ON true
JOIN public.departments d ON d.code = cqms_migration.ref_code(per.pr ->> 'department')
JOIN public.channels c ON c.code = cqms_migration.ref_code(per.pr ->> 'channel')
JOIN public.teams t ON t.code = cqms_migration.ref_code(per.pr ->> 'team') || '@' || c.code;

INSERT INTO public.employees (
  id, auth_user_id, email, employee_id, name, avatar_url, role_id, department_id, designation,
  channel_id, team_id, supervisor_id, quality_mentor_id, country_code, intercom_admin_alias,
  is_active, access_level, last_login_at, login_count, notification_preferences, device_info,
  created_at, updated_at, legacy_snapshot)
SELECT e.id, e.auth_user_id, e.email,
       -- employee_id is UNIQUE: the first holder by precedence keeps a shared legacy code
       CASE WHEN row_number() OVER (PARTITION BY e.legacy_employee_id ORDER BY e.is_active DESC, e.last_login_at DESC NULLS LAST, e.ne) = 1
            THEN e.legacy_employee_id END,
       e.name, e.avatar_url, e.role_id, e.department_id, e.designation, e.channel_id, e.team_id,
       sup.id, mentor.id, e.country_code, e.intercom_admin_alias, e.is_active,
       coalesce(r.permissions ->> 'access_level', 'standard'),
       e.last_login_at, e.login_count,
       coalesce(e.notification_preferences, '{"email": true, "push": true, "in_app": true,
         "categories": {"system": true, "task": true, "message": true, "reminder": true}}'::jsonb),
       e.device_info, e.created_at, e.updated_at, e.legacy_snapshot
FROM p01_employees e
JOIN public.roles r ON r.id = e.role_id
LEFT JOIN p01_employees sup ON sup.ne = e.supervisor_ne AND sup.id <> e.id     -- self-reference -> NULL
LEFT JOIN p01_employees mentor ON mentor.ne = e.mentor_ne AND mentor.id <> e.id;

INSERT INTO cqms_migration.employee_sources (source_table, source_key, employee_id, disposition, email_as_written)
SELECT 'people', pr.source_key, per.employee_uuid,
       CASE WHEN pr.rank = 1 THEN 'migrated' ELSE 'merged_duplicate' END, pr.email
FROM p01_people_ranked pr JOIN p01_persons per ON per.ne = pr.ne
UNION ALL
SELECT 'users', ur.source_key, per.employee_uuid,
       CASE WHEN ur.rank = 1 THEN 'migrated' ELSE 'merged_duplicate' END, ur.email
FROM p01_users_ranked ur JOIN p01_persons per ON per.ne = ur.ne;

INSERT INTO cqms_migration.employee_email_map (email, normalized_email, employee_id, source)
SELECT email_as_written, lower(btrim(email_as_written)), min(employee_id::text)::uuid,
       CASE WHEN bool_or(source_table = 'users') AND bool_or(source_table = 'people') THEN 'both'
            WHEN bool_or(source_table = 'users') THEN 'users' ELSE 'people' END
FROM cqms_migration.employee_sources
GROUP BY email_as_written;
