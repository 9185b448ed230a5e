-- Phase 1 live: the users + people -> employees mapping as functions of the current legacy rows,
-- applied to the emails a legacy write touched (forward sync, in the writer's transaction) or to
-- every email (merge_employees). One definition of the mapping: the merge, the triggers and the
-- validation all read it. Keys:
--   ne  the normalized email, coalesce(lower(btrim(email)), '') — the join key of users and people
-- Duplicate precedence (docs/decisions.md):
--   people: is_active first, then latest last_login, then highest login_count, then a spelling
--           that is already normalized, then the row's md5 (a stable tiebreak);
--   users:  latest last_sign_in_at, then normalized spelling, then id.

-- one row lock per normalized email: applies to the same emails run one after the other and see
-- each other's committed rows; a full merge takes the table (row locks take no lock-table slot,
-- so a bulk legacy statement cannot exhaust max_locks_per_transaction). Email lists are matched
-- with IN (SELECT unnest(..)), a hashed semi-join or hashed subplan: a statement touching n
-- emails costs O(rows + n), never O(rows * n) as = ANY (array) would
CREATE TABLE cqms_migration.p01_email_locks (ne text PRIMARY KEY);
-- the lock key of an email or code: itself, or past 500 bytes a hash (any legal legacy value
-- locks: the primary key's index holds about 2,700 bytes)
CREATE FUNCTION cqms_migration.p01_lock_key(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN octet_length(p) > 500 THEN 'md5:' || md5(p) ELSE p END
$$;

-- Who may set a role through a legacy row (issue 21, docs/security.md). The legacy tables keep
-- their stock grants, so any signed-in user can write 'Admin' into their own people row; the new
-- model must not believe it. A role a legacy row gives is adopted only when a trusted writer
-- wrote it (p01_role_vouch, filled by the forward sync in the writer's statement): the runbook's
-- owner, service_role, any other server-side role, or a signed-in admin. Otherwise the employee
-- keeps the role it has (a new person: the default role) and p01_role_holds says so, for review:
-- the mapping (p01_expected_of) reads a hold while the legacy row still says what it held.
CREATE TABLE cqms_migration.p01_role_vouch (xid xid8 NOT NULL DEFAULT pg_current_xact_id(), ne text NOT NULL);
CREATE INDEX p01_role_vouch_xid_idx ON cqms_migration.p01_role_vouch (xid);
-- the emails an untrusted writer's statement may have given a role: a row inserted, deleted or
-- moved to another email, or a people row's role changed. A person the merge has not reached yet
-- (no employee) whose legacy rows no untrusted statement touched that way takes the role their
-- legacy rows give, as the merge would: a sign-in before one's merge chunk keeps one's role.
CREATE TABLE cqms_migration.p01_role_taint (xid xid8 NOT NULL DEFAULT pg_current_xact_id(), ne text NOT NULL);
CREATE INDEX p01_role_taint_xid_idx ON cqms_migration.p01_role_taint (xid);
CREATE TABLE cqms_migration.p01_role_holds (
  ne text PRIMARY KEY,
  legacy_role text,   -- vocab_key of the role the legacy row says, not adopted
  role_id uuid,       -- the role kept (NULL: the default role)
  writer text,
  at timestamptz NOT NULL DEFAULT now()
);
-- the writer of this statement: the role PostgREST set (SET ROLE), else the login; trusted unless
-- anon, or authenticated without admin access in the new model
CREATE FUNCTION cqms_migration.p01_writer() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT CASE WHEN current_setting('role') <> 'none' THEN current_setting('role') ELSE session_user::text END
$$;
CREATE FUNCTION cqms_migration.p01_trusted_writer() RETURNS boolean
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT CASE WHEN cqms_migration.p01_writer() = 'anon' THEN false
              WHEN cqms_migration.p01_writer() = 'authenticated'
                THEN coalesce(cqms_security.current_access_level(), '') = 'admin'
              ELSE true END
$$;

-- who reports to an email, and whose mentor it is: found by index when that email changes
-- lint waived: employees is the runbook's own table, written by nothing else before cutover (this step precedes it)
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX employees_legacy_supervisor_idx ON public.employees ((md5(lower(btrim({people.snapshot.team_supervisor})))));
-- lint waived: as above
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX employees_legacy_mentor_idx ON public.employees ((md5(lower(btrim({people.snapshot.quality_mentor})))));

CREATE TYPE cqms_migration.p01_source AS (
  source_table text, source_key text, ne text, email text, problem text, rank bigint, original_row jsonb);

CREATE TYPE cqms_migration.p01_person AS (
  ne text, auth_user_id uuid, email text, legacy_employee_id text, name text, avatar_url text,
  role_id uuid, department_id uuid, designation text, channel_id uuid, team_id uuid, country_code text,
  supervisor_ne text, mentor_ne text, intercom_admin_alias text, is_active boolean,
  last_login_at timestamptz, login_count integer, notification_preferences jsonb, device_info jsonb,
  created_at timestamptz, updated_at timestamptz, legacy_snapshot jsonb, access_level text, precedence bigint);

-- an employee as the mapping writes it (p01_apply), and whether it exists already
CREATE TYPE cqms_migration.p01_row AS (
  id uuid, auth_user_id uuid, email text, employee_id text, name text, avatar_url text, role_id uuid,
  department_id uuid, designation text, channel_id uuid, team_id uuid, supervisor_id uuid, quality_mentor_id uuid,
  country_code text, intercom_admin_alias text, is_active boolean, access_level text, last_login_at timestamptz,
  login_count integer, notification_preferences jsonb, device_info jsonb, created_at timestamptz,
  updated_at timestamptz, legacy_snapshot jsonb, existing boolean);

-- every users and people row of the given emails (NULL: all), with its source key, its problem
-- (it is quarantined) or its rank among the rows of its email (1: the row the employee is built from)
CREATE FUNCTION cqms_migration.p01_sources(p_nes text[]) RETURNS SETOF cqms_migration.p01_source
LANGUAGE sql STABLE SET search_path = '' AS $$
  WITH pe AS (
    SELECT to_jsonb(p) AS original_row, md5(p::text) AS h, {people.p.email} AS email,
           coalesce(lower(btrim({people.p.email})), '') AS ne,
           {people.p.is_active} AS is_active, {people.p.last_login} AS last_login, {people.p.login_count} AS login_count,
           CASE WHEN {people.p.email} IS NULL OR btrim({people.p.email}) = '' THEN 'missing_email'
                WHEN btrim({people.p.email}) !~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{{2,}}$'
                  OR octet_length(btrim({people.p.email})) > 254 THEN 'invalid_email'
           END AS problem
    FROM public.people p
    WHERE p_nes IS NULL OR coalesce(lower(btrim({people.p.email})), '') IN (SELECT unnest(p_nes))
  ), pk AS (
    SELECT pe.*, pe.h || ':' || row_number() OVER (PARTITION BY pe.h) AS source_key FROM pe
  ), us AS (
    SELECT to_jsonb(u) AS original_row, ({users.u.id.raw})::text AS source_key, {users.u.id} AS id,
           {users.u.email} AS email, coalesce(lower(btrim({users.u.email})), '') AS ne,
           {users.u.last_sign_in_at} AS last_sign_in_at,
           CASE WHEN {users.u.email} IS NULL OR btrim({users.u.email}) = '' THEN 'missing_email'
                WHEN {users.u.id} IS NULL THEN 'unconvertible_id'
                WHEN btrim({users.u.email}) !~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{{2,}}$'
                  OR octet_length(btrim({users.u.email})) > 254 THEN 'invalid_email'
                -- a login never moves to another person by an email collision (issue 21): the
                -- employee of this email is bound to another users row that still holds it
                WHEN EXISTS (SELECT 1 FROM public.employees e
                             WHERE lower(btrim(e.email)) = coalesce(lower(btrim({users.u.email})), '')
                               AND e.deleted_at IS NULL AND e.auth_user_id IS DISTINCT FROM {users.u.id}
                               AND e.auth_user_id IS NOT NULL
                               AND EXISTS (SELECT 1 FROM public.users o WHERE {users.o.id} = e.auth_user_id
                                           AND coalesce(lower(btrim({users.o.email})), '') = lower(btrim(e.email))))
                  THEN 'email_collision'
           END AS problem
    FROM public.users u
    WHERE p_nes IS NULL OR coalesce(lower(btrim({users.u.email})), '') IN (SELECT unnest(p_nes))
  )
  SELECT 'people', pk.source_key, pk.ne, pk.email, pk.problem,
         CASE WHEN pk.problem IS NULL THEN row_number() OVER (
           PARTITION BY pk.ne, pk.problem IS NULL
           ORDER BY pk.is_active DESC NULLS LAST, pk.last_login DESC NULLS LAST, pk.login_count DESC NULLS LAST,
                    (pk.email = pk.ne) DESC, pk.source_key) END,
         pk.original_row
  FROM pk
  UNION ALL
  SELECT 'users', us.source_key, us.ne, us.email, us.problem,
         CASE WHEN us.problem IS NULL THEN row_number() OVER (
           PARTITION BY us.ne, us.problem IS NULL ORDER BY us.last_sign_in_at DESC NULLS LAST, (us.email = us.ne) DESC, us.id) END,
         us.original_row
  FROM us
$$;

-- what the mapping says the employee of each given email is (NULL: every email), from the rows
-- that rank first in users and in people. supervisor_ne / mentor_ne are resolved to ids by
-- p01_apply; precedence orders holders of one legacy employee_id (the first keeps it)
-- (p01_expected_of: the same from sources already read, as p01_apply has them)
CREATE FUNCTION cqms_migration.p01_expected_of(p_src cqms_migration.p01_source[]) RETURNS SETOF cqms_migration.p01_person
LANGUAGE sql STABLE SET search_path = '' AS $$
  WITH s AS (SELECT * FROM unnest(p_src) x WHERE x.problem IS NULL AND x.rank = 1),
  per AS (
    SELECT coalesce(u.ne, p.ne) AS ne, u.original_row AS u, p.original_row AS pr
    FROM (SELECT * FROM s WHERE s.source_table = 'users') u
    FULL JOIN (SELECT * FROM s WHERE s.source_table = 'people') p ON p.ne = u.ne
  )
  SELECT per.ne,
         {users.uj.id},
         coalesce(btrim({users.uj.email}), btrim({people.pr.email})),
         -- a legacy code too long for the unique index is not carried (the legacy row keeps it)
         CASE WHEN octet_length({people.pr.employee_id}) <= 254 THEN {people.pr.employee_id} END,
         coalesce(nullif(btrim({people.pr.name}), ''), nullif(btrim({users.uj.full_name}), ''), split_part(per.ne, '@', 1)),
         coalesce({users.uj.avatar_url}, {people.pr.avatar_url}),
         r.id,
         d.id,
         {people.pr.designation},
         c.id,
         t.id,
         cqms_migration.country_code({people.pr.country}),
         lower(btrim({people.pr.team_supervisor})),
         lower(btrim({people.pr.quality_mentor})),
         {people.pr.intercom_admin_alias},
         coalesce({people.pr.is_active}, true),
         greatest({users.uj.last_sign_in_at}, {people.pr.last_login}),
         greatest(coalesce({users.uj.sign_in_count}, 0), coalesce({people.pr.login_count}, 0)),
         coalesce({users.uj.notification_preferences}, '{{"email": true, "push": true, "in_app": true,
           "categories": {{"system": true, "task": true, "message": true, "reminder": true}}}}'::jsonb),
         coalesce({users.uj.device_info}, '{{}}'::jsonb),
         {users.uj.created_at},
         {users.uj.updated_at},
         jsonb_build_object('version', 1)
           || CASE WHEN per.pr IS NOT NULL THEN jsonb_build_object('people', per.pr) ELSE '{{}}'::jsonb END
           || CASE WHEN per.u IS NOT NULL THEN jsonb_build_object('users', per.u) ELSE '{{}}'::jsonb END,
         coalesce(r.permissions ->> 'access_level', 'standard'),
         row_number() OVER (ORDER BY coalesce({people.pr.is_active}, true) DESC,
                            greatest({users.uj.last_sign_in_at}, {people.pr.last_login}) DESC NULLS LAST,
                            per.ne)
  FROM per
  LEFT JOIN cqms_migration.p01_role_mapping m
         ON m.legacy_role = cqms_migration.vocab_key({people.pr.role})
  -- a role no trusted writer set: the role kept (p01_role_holds), while the legacy row says it
  LEFT JOIN cqms_migration.p01_role_holds h
         ON h.ne = per.ne AND h.legacy_role IS NOT DISTINCT FROM cqms_migration.vocab_key({people.pr.role})
  JOIN public.roles r ON r.code = CASE WHEN h.ne IS NOT NULL
                                       THEN coalesce((SELECT hr.code FROM public.roles hr WHERE hr.id = h.role_id),
                                                     (SELECT dm.role_code FROM cqms_migration.p01_role_mapping dm
                                                      WHERE dm.legacy_role = '*default*'))
                                       ELSE coalesce(m.role_code, (SELECT dm.role_code FROM cqms_migration.p01_role_mapping dm
                                                                   WHERE dm.legacy_role = '*default*')) END
  JOIN public.departments d ON d.code = cqms_migration.ref_code({people.pr.department})
  JOIN public.channels c ON c.code = cqms_migration.ref_code({people.pr.channel})
  JOIN public.teams t ON t.code = cqms_migration.ref_code({people.pr.team}) || '@' || c.code
$$;
CREATE FUNCTION cqms_migration.p01_expected(p_nes text[]) RETURNS SETOF cqms_migration.p01_person
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT * FROM cqms_migration.p01_expected_of(ARRAY(SELECT s FROM cqms_migration.p01_sources(p_nes) s))
$$;

-- everyone whose people row names one of these emails as supervisor or mentor (those emails'
-- own employees aside) linked to that email's live employee, or to none (it left): by the
-- expression indexes above, two index scans
CREATE FUNCTION cqms_migration.p01_relink(p_nes text[]) RETURNS void
LANGUAGE sql SET search_path = '' AS $$
  UPDATE public.employees e SET
    supervisor_id = (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = lower(btrim({people.e.team_supervisor}))
                       AND s.id <> e.id AND s.deleted_at IS NULL),
    quality_mentor_id = (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = lower(btrim({people.e.quality_mentor}))
                           AND s.id <> e.id AND s.deleted_at IS NULL)
  WHERE e.legacy_snapshot ? 'people'
    AND NOT (lower(btrim(e.email)) IN (SELECT unnest(p_nes)))
    AND (md5(lower(btrim({people.e.team_supervisor}))) = ANY (ARRAY(SELECT md5(x) FROM unnest(p_nes) x))
         OR md5(lower(btrim({people.e.quality_mentor}))) = ANY (ARRAY(SELECT md5(x) FROM unnest(p_nes) x)))
    AND (e.supervisor_id, e.quality_mentor_id) IS DISTINCT FROM (
      (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = lower(btrim({people.e.team_supervisor}))
         AND s.id <> e.id AND s.deleted_at IS NULL),
      (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = lower(btrim({people.e.quality_mentor}))
         AND s.id <> e.id AND s.deleted_at IS NULL))
$$;

-- p01_apply's fast path: a write that changed only activity columns (a login: people's
-- last_login and login_count, users' last_sign_in_at, sign_in_count and updated_at) of emails
-- each holding at most one people row and one users row, the rows its live employee was built
-- from (its snapshot, compared as text) in every other column. Forward, the employee must also
-- be what the mapping says of those rows (p01_expected_of, its supervisor and mentor resolved
-- as the full apply does), holding that users id and legacy code. Then it writes what the full
-- apply would: the activity columns, the snapshot, the two provenance rows, and the reports of
-- these emails re-linked. Anything else (duplicates, a quarantined row, a key held elsewhere, an
-- employee the full apply would put right): NULL, nothing written, the full apply runs.
-- cqms.p01_fast_path = off turns it off; tests/test_live_sync_fast_path.py proves it equal.
CREATE TYPE cqms_migration.p01_touch_row AS (
  ne text, id uuid, pr jsonb, ph text, pemail text, u jsonb, ukey text, uemail text);
CREATE FUNCTION cqms_migration.p01_touch(p_nes text[], p_refresh_only boolean) RETURNS bigint
LANGUAGE plpgsql SET search_path = '' SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  v_rows cqms_migration.p01_touch_row[];
  v_src cqms_migration.p01_source[];
BEGIN
  -- (a login's path: each email is read with a scan of users and people, which the legacy schema
  -- does not index; a statement touching many emails takes the full apply, which reads them once)
  IF coalesce(current_setting('cqms.p01_fast_path', true), '') = 'off' OR p_nes IS NULL
     OR cardinality(p_nes) > 16 THEN
    RETURN NULL;
  END IF;
  SELECT array_agg(ROW(x.ne, e.id, pp.pr, pp.ph, pp.email, uu.u, uu.ukey, uu.email)::cqms_migration.p01_touch_row)
    INTO v_rows
  FROM unnest(p_nes) x(ne)
  JOIN public.employees e ON lower(btrim(e.email)) = x.ne
  CROSS JOIN LATERAL (SELECT count(*) AS n, (array_agg(to_jsonb(p)))[1] AS pr, (array_agg(md5(p::text)))[1] AS ph,
                             (array_agg({people.p.email}))[1] AS email
                      FROM public.people p WHERE coalesce(lower(btrim({people.p.email})), '') = x.ne) pp
  CROSS JOIN LATERAL (SELECT count(*) AS n, (array_agg(to_jsonb(u)))[1] AS u,
                             (array_agg(({users.u.id.raw})::text))[1] AS ukey, (array_agg({users.u.email}))[1] AS email,
                             (array_agg({users.u.id}))[1] AS id
                      FROM public.users u WHERE coalesce(lower(btrim({users.u.email})), '') = x.ne) uu
  WHERE x.ne <> '' AND e.deleted_at IS NULL AND e.legacy_snapshot IS NOT NULL
    AND NOT e.legacy_snapshot ? 'placeholder_phase'
    AND pp.n <= 1 AND uu.n <= 1 AND pp.n + uu.n >= 1
    AND (pp.n = 1) = (e.legacy_snapshot ? 'people') AND (uu.n = 1) = (e.legacy_snapshot ? 'users')
    -- as text: jsonb = holds 1 and 1.0 equal, the employee would not
    AND (pp.n = 0 OR (pp.pr - {people.activity})::text = ((e.legacy_snapshot -> 'people') - {people.activity})::text)
    AND (uu.n = 0 OR (uu.u - {users.activity})::text = ((e.legacy_snapshot -> 'users') - {users.activity})::text)
    AND CASE WHEN p_refresh_only
             -- a refresh fills what the writer left NULL (p01_apply): not here
             THEN e.department_id IS NOT NULL AND e.channel_id IS NOT NULL AND e.team_id IS NOT NULL
                  AND e.country_code IS NOT NULL
             -- the keys the full apply could move: the auth user and the legacy code stay put
             ELSE e.auth_user_id IS NOT DISTINCT FROM uu.id
                  AND e.employee_id IS NOT DISTINCT FROM {people.e.employee_id} END;
  IF coalesce(cardinality(v_rows), 0) <> (SELECT count(DISTINCT x) FROM unnest(p_nes) x) THEN
    RETURN NULL;  -- not every email qualifies: the full apply
  END IF;

  -- forward: the employee must already be what the mapping says of these rows, in every column
  -- the full apply would write but the activity (a write through employees the legacy rows
  -- cannot hold, a supervisor gone since, a role the mapping does not know: the full apply puts
  -- those right, so they take it). These rows are their email's only ones, problem-free (the
  -- snapshot was), so they are its sources, ranked first
  IF NOT p_refresh_only THEN
    SELECT array_agg(z.s) INTO v_src FROM (
      SELECT ROW('people', t.ph || ':1', t.ne, t.pemail, NULL, 1, t.pr)::cqms_migration.p01_source AS s
      FROM unnest(v_rows) t WHERE t.pr IS NOT NULL
      UNION ALL
      SELECT ROW('users', t.ukey, t.ne, t.uemail, NULL, 1, t.u)::cqms_migration.p01_source
      FROM unnest(v_rows) t WHERE t.u IS NOT NULL) z;
    IF EXISTS (
      SELECT 1 FROM unnest(v_rows) t
      JOIN public.employees e ON e.id = t.id
      LEFT JOIN cqms_migration.p01_expected_of(v_src) x ON x.ne = t.ne
      WHERE x.ne IS NULL
         OR (e.email, e.name, e.avatar_url, e.role_id, e.department_id, e.designation, e.channel_id, e.team_id,
             e.country_code, e.intercom_admin_alias, e.is_active) IS DISTINCT FROM
            (x.email, x.name, x.avatar_url, x.role_id, x.department_id, x.designation, x.channel_id, x.team_id,
             x.country_code, x.intercom_admin_alias, x.is_active)
         OR (t.u IS NOT NULL AND (e.notification_preferences::text, e.device_info::text) IS DISTINCT FROM
                                 (x.notification_preferences::text, x.device_info::text))
         -- a supervisor or mentor among these emails is resolved by the full apply
         OR x.supervisor_ne IN (SELECT unnest(p_nes)) OR x.mentor_ne IN (SELECT unnest(p_nes))
         OR e.supervisor_id IS DISTINCT FROM (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = x.supervisor_ne
                                                AND s.id <> e.id AND s.deleted_at IS NULL)
         OR e.quality_mentor_id IS DISTINCT FROM (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = x.mentor_ne
                                                    AND s.id <> e.id AND s.deleted_at IS NULL)) THEN
      RETURN NULL;
    END IF;
  END IF;

  UPDATE public.employees e SET
    last_login_at = CASE WHEN p_refresh_only THEN e.last_login_at
                         ELSE greatest({users.uj.last_sign_in_at}, {people.pr.last_login}) END,
    login_count = CASE WHEN p_refresh_only THEN e.login_count
                       ELSE greatest(coalesce({users.uj.sign_in_count}, 0), coalesce({people.pr.login_count}, 0)) END,
    legacy_snapshot = jsonb_build_object('version', 1)
      || CASE WHEN per.pr IS NOT NULL THEN jsonb_build_object('people', per.pr) ELSE '{{}}'::jsonb END
      || CASE WHEN per.u IS NOT NULL THEN jsonb_build_object('users', per.u) ELSE '{{}}'::jsonb END
  FROM unnest(v_rows) per
  WHERE e.id = per.id;

  -- as the full apply does: everyone else whose supervisor or mentor is one of these emails
  -- (a report of someone hired through employees is linked at that person's next legacy write)
  IF NOT p_refresh_only THEN
    PERFORM cqms_migration.p01_relink(p_nes);
  END IF;

  DELETE FROM cqms_migration.employee_sources s
  WHERE coalesce(lower(btrim(s.email_as_written)), '') IN (SELECT t.ne FROM unnest(v_rows) t);
  INSERT INTO cqms_migration.employee_sources (source_table, source_key, employee_id, disposition, email_as_written)
  SELECT 'people', t.ph || ':1', t.id, 'migrated', t.pemail FROM unnest(v_rows) t WHERE t.pr IS NOT NULL
  UNION ALL
  SELECT 'users', t.ukey, t.id, 'migrated', t.uemail FROM unnest(v_rows) t WHERE t.u IS NOT NULL;
  -- how many applies of this transaction took the fast path (the tests read it)
  PERFORM set_config('cqms.p01_touched', (coalesce(nullif(current_setting('cqms.p01_touched', true), ''), '0')::integer
                                           + 1)::text, true);
  RETURN cardinality(v_rows);
END $fn$;

-- Make employees (and the provenance, the email map and the quarantine) what the mapping says for
-- the given emails (NULL: all). p_refresh_only: the legacy rows were just written from the
-- employee (reverse sync), so only the snapshot and the provenance follow them. Ids are stable:
-- an existing employee keeps its id; an email change (the only employee of an email that lost
-- all its rows, paired with the one new email of the same write, or with its auth user) keeps it
-- too; a new employee gets its users id when free, else an id derived from the email.
-- Writes carry the row marker 'forward:employees' (cqms.sync_echo): the reverse sync skips them.
CREATE FUNCTION cqms_migration.p01_apply(p_nes text[], p_refresh_only boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
DECLARE
  v_marker text := current_setting('cqms.sync_echo', true);
  v_nes text[];
  v_src cqms_migration.p01_source[];
  v_exp cqms_migration.p01_person[];
  v_rows cqms_migration.p01_row[];
  v_n bigint;
  v_changed bigint;
  v_trusted boolean;
BEGIN
  IF p_nes IS NULL THEN
    LOCK TABLE cqms_migration.p01_email_locks IN EXCLUSIVE MODE;
  ELSE
    SELECT array_agg(DISTINCT x ORDER BY x) INTO v_nes FROM unnest(p_nes) x WHERE x IS NOT NULL;
    IF v_nes IS NULL THEN
      RETURN 0;
    END IF;
    INSERT INTO cqms_migration.p01_email_locks (ne) SELECT cqms_migration.p01_lock_key(x) FROM unnest(v_nes) x
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM cqms_migration.p01_email_locks l
    WHERE l.ne IN (SELECT cqms_migration.p01_lock_key(x) FROM unnest(v_nes) x) ORDER BY l.ne FOR UPDATE;
  END IF;
  PERFORM set_config('cqms.sync_echo', 'forward:employees', true);

  v_n := cqms_migration.p01_touch(v_nes, p_refresh_only);
  IF v_n IS NOT NULL THEN  -- activity only: done
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN v_n;
  END IF;

  -- reference rows for legacy values first seen now (ids derive from codes, as in load_reference_data)
  IF p_nes IS NOT NULL THEN
    INSERT INTO public.departments (id, name, code)
    SELECT DISTINCT ON (cqms_migration.ref_code({people.p.department}))
           md5('cqms-department:' || cqms_migration.ref_code({people.p.department}))::uuid, cqms_migration.ref_name({people.p.department}),
           cqms_migration.ref_code({people.p.department})
    FROM (SELECT p.* FROM public.people p WHERE coalesce(lower(btrim({people.p.email})), '') IN (SELECT unnest(v_nes))
          OFFSET 0) p  -- the email filter first: ref_code is not inlined (its own search_path)
    WHERE true AND cqms_migration.ref_code({people.p.department}) <> 'UNASSIGNED'
      AND NOT EXISTS (SELECT 1 FROM public.departments d WHERE d.code = cqms_migration.ref_code({people.p.department}))
    ON CONFLICT DO NOTHING;
    INSERT INTO public.channels (id, name, code, display_order)
    SELECT DISTINCT ON (cqms_migration.ref_code({people.p.channel}))
           md5('cqms-channel:' || cqms_migration.ref_code({people.p.channel}))::uuid, cqms_migration.ref_name({people.p.channel}),
           cqms_migration.ref_code({people.p.channel}),
           (SELECT coalesce(max(c.display_order) FILTER (WHERE c.code <> 'UNASSIGNED'), 0) + 1 FROM public.channels c)
    FROM (SELECT p.* FROM public.people p WHERE coalesce(lower(btrim({people.p.email})), '') IN (SELECT unnest(v_nes))
          OFFSET 0) p  -- the email filter first: ref_code is not inlined (its own search_path)
    WHERE true AND cqms_migration.ref_code({people.p.channel}) <> 'UNASSIGNED'
      AND NOT EXISTS (SELECT 1 FROM public.channels c WHERE c.code = cqms_migration.ref_code({people.p.channel}))
    ON CONFLICT DO NOTHING;
    INSERT INTO public.teams (id, name, code, channel_id)
    SELECT DISTINCT ON (cqms_migration.ref_code({people.p.team}) || '@' || c.code)
           md5('cqms-team:' || cqms_migration.ref_code({people.p.team}) || '@' || c.code)::uuid,
           CASE WHEN cqms_migration.ref_code({people.p.team}) = 'UNASSIGNED' THEN 'Unassigned' ELSE cqms_migration.ref_name({people.p.team}) END,
           cqms_migration.ref_code({people.p.team}) || '@' || c.code, c.id
    FROM (SELECT p.* FROM public.people p WHERE coalesce(lower(btrim({people.p.email})), '') IN (SELECT unnest(v_nes))
          OFFSET 0) p
    JOIN public.channels c ON c.code = cqms_migration.ref_code({people.p.channel})
    WHERE true
      AND NOT EXISTS (SELECT 1 FROM public.teams t WHERE t.code = cqms_migration.ref_code({people.p.team}) || '@' || c.code)
    ON CONFLICT DO NOTHING;
  END IF;

  SELECT array_agg(s) INTO v_src FROM cqms_migration.p01_sources(v_nes) s;
  -- roles (issue 21): a trusted writer's role lifts the hold of its email; a role the legacy rows
  -- now give that no trusted writer set is held (the employee keeps its role, a new person the
  -- default one), and the mapping is read again with the hold
  IF NOT p_refresh_only THEN
    v_trusted := cqms_migration.p01_trusted_writer();
    -- (a full apply lifts no hold: the runbook re-merging vouches for no one's role)
    IF p_nes IS NOT NULL THEN
      DELETE FROM cqms_migration.p01_role_holds h
      WHERE h.ne IN (SELECT unnest(v_nes))
        AND h.ne IN (SELECT v.ne FROM cqms_migration.p01_role_vouch v WHERE v.xid = pg_current_xact_id());
    END IF;
  END IF;
  SELECT array_agg(x) INTO v_exp FROM cqms_migration.p01_expected_of(v_src) x;  -- the sources once
  IF NOT p_refresh_only AND (p_nes IS NOT NULL OR NOT v_trusted) THEN
    INSERT INTO cqms_migration.p01_role_holds AS h (ne, legacy_role, role_id, writer)
    SELECT x.ne, cqms_migration.vocab_key({people.src.role}), e.role_id, cqms_migration.p01_writer()
    FROM unnest(v_exp) x
    LEFT JOIN public.employees e ON lower(btrim(e.email)) = x.ne AND e.deleted_at IS NULL
    LEFT JOIN LATERAL (SELECT s.original_row AS pr FROM unnest(v_src) s
                       WHERE s.source_table = 'people' AND s.rank = 1 AND s.ne = x.ne LIMIT 1) src ON true
    WHERE x.role_id IS DISTINCT FROM coalesce(e.role_id, (SELECT r.id FROM public.roles r JOIN cqms_migration.p01_role_mapping dm
                                                          ON dm.role_code = r.code WHERE dm.legacy_role = '*default*'))
      AND NOT EXISTS (SELECT 1 FROM cqms_migration.p01_role_vouch v WHERE v.xid = pg_current_xact_id() AND v.ne = x.ne)
      -- a person not merged yet keeps the legacy rows' role unless an untrusted statement of this
      -- transaction may have given it (a full apply: every email, as before)
      AND (e.id IS NOT NULL OR p_nes IS NULL
           OR EXISTS (SELECT 1 FROM cqms_migration.p01_role_taint t WHERE t.xid = pg_current_xact_id() AND t.ne = x.ne))
    ON CONFLICT (ne) DO UPDATE SET legacy_role = EXCLUDED.legacy_role, role_id = EXCLUDED.role_id,
                                   writer = EXCLUDED.writer, at = now();
    IF FOUND THEN
      SELECT array_agg(x) INTO v_exp FROM cqms_migration.p01_expected_of(v_src) x;
    END IF;
  END IF;

  -- employee_id is UNIQUE across emails: two writers giving one legacy code to two new people
  -- take turns on it too (the second then sees the first's employee and leaves the code to it)
  IF p_nes IS NOT NULL AND NOT p_refresh_only THEN
    INSERT INTO cqms_migration.p01_email_locks (ne)
    SELECT DISTINCT cqms_migration.p01_lock_key('employee_id:' || x.legacy_employee_id) FROM unnest(v_exp) x
    WHERE x.legacy_employee_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM cqms_migration.p01_email_locks l
    WHERE l.ne IN (SELECT cqms_migration.p01_lock_key('employee_id:' || x.legacy_employee_id) FROM unnest(v_exp) x)
    ORDER BY l.ne FOR UPDATE;
  END IF;

  -- email changes keep the employee (and every key pointing at it)
  IF NOT p_refresh_only THEN
  WITH appear AS (
    SELECT x.ne, x.email, x.auth_user_id FROM unnest(v_exp) x
    WHERE NOT EXISTS (SELECT 1 FROM public.employees e WHERE lower(btrim(e.email)) = x.ne)),
  vanish AS (
    SELECT e.id, e.auth_user_id FROM public.employees e
    WHERE v_nes IS NOT NULL AND lower(btrim(e.email)) IN (SELECT unnest(v_nes)) AND e.legacy_snapshot IS NOT NULL
      AND NOT e.legacy_snapshot ? 'placeholder_phase'
      AND NOT (lower(btrim(e.email)) IN (SELECT x.ne FROM unnest(v_exp) x))),
  pairs AS (
    SELECT v.id, a.email FROM vanish v JOIN appear a ON a.auth_user_id = v.auth_user_id
    UNION
    SELECT v.id, a.email FROM vanish v, appear a
    WHERE (SELECT count(*) FROM vanish) = 1 AND (SELECT count(*) FROM appear) = 1
      AND (a.auth_user_id IS NULL OR v.auth_user_id IS NULL OR a.auth_user_id = v.auth_user_id))
  UPDATE public.employees e SET email = p.email FROM pairs p
  WHERE e.id = p.id AND (SELECT count(*) FROM pairs) = 1;

  -- an auth user whose users row now carries another email moves to that email's employee
  UPDATE public.employees e SET auth_user_id = NULL
  FROM unnest(v_exp) x
  WHERE e.auth_user_id = x.auth_user_id AND lower(btrim(e.email)) <> x.ne;
  END IF;

  WITH resolved AS (
    SELECT x.*, coalesce(cur.id,
                         CASE WHEN x.auth_user_id IS NOT NULL AND NOT EXISTS (
                                SELECT 1 FROM public.employees o WHERE o.id = x.auth_user_id) THEN x.auth_user_id END,
                         md5('cqms-employee:' || x.ne)::uuid) AS id,
           cur.id IS NOT NULL AS existing
    FROM unnest(v_exp) x
    LEFT JOIN public.employees cur ON lower(btrim(cur.email)) = x.ne
  ), keyed AS (
    -- employee_id is UNIQUE: the first holder by precedence keeps a shared legacy code, and an
    -- employee of another email that holds it already keeps it
    SELECT r.*, CASE WHEN row_number() OVER (PARTITION BY r.legacy_employee_id ORDER BY r.precedence) = 1
                       AND NOT EXISTS (SELECT 1 FROM public.employees h WHERE h.employee_id = r.legacy_employee_id
                                       AND h.id <> r.id)
                     THEN r.legacy_employee_id END AS employee_id
    FROM resolved r
  ), linked AS (
    -- supervisor and mentor by email: an employee of this apply, else an existing one
    -- (self-references and unknown or departed emails -> NULL); joins, never a per-row scan
    SELECT k.*,
           coalesce(so.id, CASE WHEN v_nes IS NOT NULL AND NOT (se.ne IN (SELECT unnest(v_nes))) THEN se.id END) AS supervisor_id,
           coalesce(mo.id, CASE WHEN v_nes IS NOT NULL AND NOT (me.ne IN (SELECT unnest(v_nes))) THEN me.id END) AS quality_mentor_id
    FROM keyed k
    LEFT JOIN resolved so ON so.ne = k.supervisor_ne AND so.ne <> k.ne
    LEFT JOIN LATERAL (SELECT s.id, lower(btrim(s.email)) AS ne FROM public.employees s
                       WHERE lower(btrim(s.email)) = k.supervisor_ne AND s.id <> k.id AND s.deleted_at IS NULL) se ON true
    LEFT JOIN resolved mo ON mo.ne = k.mentor_ne AND mo.ne <> k.ne
    LEFT JOIN LATERAL (SELECT s.id, lower(btrim(s.email)) AS ne FROM public.employees s
                       WHERE lower(btrim(s.email)) = k.mentor_ne AND s.id <> k.id AND s.deleted_at IS NULL) me ON true
  )
  SELECT array_agg(ROW(k.id, k.auth_user_id, k.email, k.employee_id, k.name, k.avatar_url, k.role_id, k.department_id,
         k.designation, k.channel_id, k.team_id, k.supervisor_id, k.quality_mentor_id, k.country_code,
         k.intercom_admin_alias, k.is_active, k.access_level, k.last_login_at, k.login_count,
         k.notification_preferences, k.device_info, coalesce(k.created_at, now()), coalesce(k.updated_at, now()),
         k.legacy_snapshot, k.existing)::cqms_migration.p01_row)
    INTO v_rows
  FROM linked k
  WHERE NOT p_refresh_only OR k.existing;

  -- Three writes, so that an existing employee is locked FOR NO KEY UPDATE, never FOR UPDATE:
  -- INSERT ... ON CONFLICT DO UPDATE locks its row FOR UPDATE whatever it sets, and that waits
  -- for every FOR KEY SHARE on it (a backfill batch's foreign-key checks on audits hold them
  -- until the batch commits: a login waited 78 s at 1M audits). New employees are inserted;
  -- existing ones get their non-key columns; a key column (auth_user_id, employee_id) is written
  -- only where it changes.
  INSERT INTO public.employees AS e (
    id, auth_user_id, email, employee_id, name, avatar_url, role_id, department_id, designation,
    channel_id, team_id, supervisor_id, quality_mentor_id, country_code, intercom_admin_alias, is_active,
    access_level, last_login_at, login_count, notification_preferences, device_info, created_at, updated_at,
    legacy_snapshot)
  SELECT r.id, r.auth_user_id, r.email, r.employee_id, r.name, r.avatar_url, r.role_id, r.department_id,
         r.designation, r.channel_id, r.team_id, r.supervisor_id, r.quality_mentor_id, r.country_code,
         r.intercom_admin_alias, r.is_active, r.access_level, r.last_login_at, r.login_count,
         r.notification_preferences, r.device_info, r.created_at, r.updated_at, r.legacy_snapshot
  FROM unnest(v_rows) r
  WHERE NOT p_refresh_only AND NOT EXISTS (SELECT 1 FROM public.employees x WHERE x.id = r.id)
  ON CONFLICT (id) DO NOTHING;
  GET DIAGNOSTICS v_n = ROW_COUNT;

  UPDATE public.employees e SET
    email = CASE WHEN p_refresh_only THEN e.email ELSE r.email END,
    name = CASE WHEN p_refresh_only THEN e.name ELSE r.name END,
    avatar_url = CASE WHEN p_refresh_only THEN e.avatar_url ELSE r.avatar_url END,
    role_id = CASE WHEN p_refresh_only THEN e.role_id ELSE r.role_id END,
    department_id = CASE WHEN p_refresh_only THEN coalesce(e.department_id, r.department_id) ELSE r.department_id END,
    designation = CASE WHEN p_refresh_only THEN e.designation ELSE r.designation END,
    channel_id = CASE WHEN p_refresh_only THEN coalesce(e.channel_id, r.channel_id) ELSE r.channel_id END,
    team_id = CASE WHEN p_refresh_only THEN coalesce(e.team_id, r.team_id) ELSE r.team_id END,
    supervisor_id = CASE WHEN p_refresh_only THEN e.supervisor_id ELSE r.supervisor_id END,
    quality_mentor_id = CASE WHEN p_refresh_only THEN e.quality_mentor_id ELSE r.quality_mentor_id END,
    country_code = CASE WHEN p_refresh_only THEN coalesce(e.country_code, r.country_code) ELSE r.country_code END,
    intercom_admin_alias = CASE WHEN p_refresh_only THEN e.intercom_admin_alias ELSE r.intercom_admin_alias END,
    is_active = CASE WHEN p_refresh_only THEN e.is_active ELSE r.is_active END,
    -- the level follows the legacy role when the role changes; otherwise it stays (a level granted
    -- through employees after cutover, recorded in p01_access_grants, survives a login)
    access_level = CASE WHEN p_refresh_only OR e.role_id IS NOT DISTINCT FROM r.role_id THEN e.access_level
                        ELSE r.access_level END,
    last_login_at = CASE WHEN p_refresh_only THEN e.last_login_at ELSE r.last_login_at END,
    login_count = CASE WHEN p_refresh_only THEN e.login_count ELSE r.login_count END,
    notification_preferences = CASE WHEN p_refresh_only OR NOT r.legacy_snapshot ? 'users'
                                    THEN e.notification_preferences ELSE r.notification_preferences END,
    device_info = CASE WHEN p_refresh_only OR NOT r.legacy_snapshot ? 'users'
                       THEN e.device_info ELSE r.device_info END,
    -- (a refresh fills a department, channel, team or country the writer left NULL with the
    -- Unassigned row or 'ZZ' the legacy NULL maps to: the legacy tables cannot tell them apart)
    legacy_snapshot = r.legacy_snapshot,  -- its version: employees_bump_version
    deleted_at = CASE WHEN p_refresh_only THEN e.deleted_at END
  FROM unnest(v_rows) r
  WHERE e.id = r.id;
  GET DIAGNOSTICS v_changed = ROW_COUNT;
  v_n := v_n + v_changed;

  UPDATE public.employees e SET
    auth_user_id = r.auth_user_id,
    employee_id = CASE WHEN r.employee_id IS NULL AND e.employee_id IS NOT NULL
                         AND e.employee_id IS NOT DISTINCT FROM ({people.r_snapshot.employee_id})
                       THEN e.employee_id ELSE r.employee_id END
  FROM unnest(v_rows) r
  WHERE NOT p_refresh_only AND e.id = r.id
    AND (e.auth_user_id, e.employee_id) IS DISTINCT FROM
        (r.auth_user_id, CASE WHEN r.employee_id IS NULL AND e.employee_id IS NOT NULL
                                AND e.employee_id IS NOT DISTINCT FROM ({people.r_snapshot.employee_id})
                              THEN e.employee_id ELSE r.employee_id END);

  -- an employee whose legacy rows are all gone is soft-deleted (audits keep a valid key); before
  -- the reports are re-linked below, so that they let go of a supervisor who left
  UPDATE public.employees e SET deleted_at = now()
  WHERE NOT p_refresh_only AND e.deleted_at IS NULL AND e.legacy_snapshot IS NOT NULL
    AND NOT e.legacy_snapshot ? 'placeholder_phase'
    AND (v_nes IS NULL OR lower(btrim(e.email)) IN (SELECT unnest(v_nes)))
    AND NOT (lower(btrim(e.email)) IN (SELECT x.ne FROM unnest(v_exp) x));

  -- everyone else whose supervisor or mentor is one of these emails (it appeared, or it left)
  IF NOT p_refresh_only AND v_nes IS NOT NULL THEN
    PERFORM cqms_migration.p01_relink(v_nes);
    -- these emails' own links, read again by this newer statement (issue 21): a supervisor or
    -- mentor whose own apply committed after the mapping above was read (its re-link did not
    -- see this employee's new row, or this write overwrote its re-link) is found as it is now
    UPDATE public.employees e SET supervisor_id = l.supervisor_id, quality_mentor_id = l.quality_mentor_id
    FROM (SELECT r.id,
                 (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = x.supervisor_ne
                    AND s.id <> r.id AND s.deleted_at IS NULL) AS supervisor_id,
                 (SELECT s.id FROM public.employees s WHERE lower(btrim(s.email)) = x.mentor_ne
                    AND s.id <> r.id AND s.deleted_at IS NULL) AS quality_mentor_id
          FROM unnest(v_rows) r JOIN unnest(v_exp) x ON x.ne = lower(btrim(r.email))) l
    WHERE e.id = l.id AND e.deleted_at IS NULL
      AND (e.supervisor_id, e.quality_mentor_id) IS DISTINCT FROM (l.supervisor_id, l.quality_mentor_id);
  END IF;

  -- provenance, email map and quarantine of these emails, rebuilt from the current rows
  DELETE FROM cqms_migration.employee_email_map m WHERE v_nes IS NULL OR m.normalized_email IN (SELECT unnest(v_nes));
  DELETE FROM cqms_migration.employee_sources s
  WHERE v_nes IS NULL OR coalesce(lower(btrim(s.email_as_written)), '') IN (SELECT unnest(v_nes));
  DELETE FROM cqms_migration.quarantine q
  WHERE q.phase = '01_foundation' AND q.source_table IN ('users', 'people')
    AND (v_nes IS NULL OR coalesce(lower(btrim(CASE q.source_table WHEN 'users' THEN {users.q.email} ELSE {people.q.email} END)), '') IN (SELECT unnest(v_nes)));

  INSERT INTO cqms_migration.quarantine (phase, source_table, source_key, reason, detail, original_row, run_id)
  SELECT '01_foundation', s.source_table, s.source_key, s.problem,
         CASE s.problem WHEN 'email_collision'
              THEN format('email %L is the login of another users row bound to its employee: review (a login never moves by an email collision)', left(s.email, 300))
              ELSE format('email %L fails the employees email format check (or is longer than 254 bytes)', left(s.email, 300)) END, s.original_row,
         current_setting('cqms.run_id', true)
  FROM unnest(v_src) s WHERE s.problem IS NOT NULL;

  INSERT INTO cqms_migration.employee_sources (source_table, source_key, employee_id, disposition, email_as_written)
  SELECT s.source_table, s.source_key, e.id, CASE WHEN s.rank = 1 THEN 'migrated' ELSE 'merged_duplicate' END, s.email
  FROM unnest(v_src) s JOIN public.employees e ON lower(btrim(e.email)) = s.ne
  WHERE s.problem IS NULL;

  INSERT INTO cqms_migration.employee_email_map (email, normalized_email, employee_id, source)
  SELECT s.email_as_written, lower(btrim(s.email_as_written)), min(s.employee_id::text)::uuid,
         CASE WHEN bool_or(s.source_table = 'users') AND bool_or(s.source_table = 'people') THEN 'both'
              WHEN bool_or(s.source_table = 'users') THEN 'users' ELSE 'people' END
  FROM cqms_migration.employee_sources s
  WHERE v_nes IS NULL OR lower(btrim(s.email_as_written)) IN (SELECT unnest(v_nes))
  GROUP BY s.email_as_written;

  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN v_n;
END $fn$;

-- merge_employees, one chunk of the emails (those whose hash falls in chunk p_k of p_n) per
-- transaction (issue 21): each takes only its emails' locks, so a legacy writer waits for at most
-- one chunk, never for the whole merge, at any size. The runbook vouches for the roles of the
-- legacy rows it merges (not for a role a hold keeps). A write committed before a chunk's
-- snapshot is merged by it; one after reaches employees through its own trigger.
-- A chunk is a range of normalized emails (after p_after, up to p_upto, in "C" order; NULL: no
-- bound), cut by the step from the rows' counts and sizes, so a person whose legacy rows hold
-- megabytes is a chunk of its own.
CREATE FUNCTION cqms_migration.p01_merge_chunk(p_after text, p_upto text) RETURNS bigint
LANGUAGE plpgsql SET search_path = '' AS $fn$
DECLARE
  v_nes text[];
  v_n bigint;
BEGIN
  SELECT array_agg(DISTINCT x.ne) INTO v_nes
  FROM (SELECT coalesce(lower(btrim({people.p.email})), '') AS ne FROM public.people p
        UNION ALL
        SELECT coalesce(lower(btrim({users.u.email})), '') FROM public.users u) x
  WHERE (p_after IS NULL OR x.ne COLLATE "C" > p_after COLLATE "C")
    AND (p_upto IS NULL OR x.ne COLLATE "C" <= p_upto COLLATE "C");
  IF v_nes IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO cqms_migration.p01_role_vouch (ne)
  SELECT x FROM unnest(v_nes) x WHERE NOT EXISTS (SELECT 1 FROM cqms_migration.p01_role_holds h WHERE h.ne = x);
  v_n := cqms_migration.p01_apply(v_nes);
  DELETE FROM cqms_migration.p01_role_vouch v WHERE v.xid = pg_current_xact_id();
  RETURN v_n;
END $fn$;

-- Emails a legacy statement touched, applied when the writer commits (p01_flush, a deferred
-- constraint trigger): by then the writer holds every row lock it will take, so the per-email
-- (and per-code, per-reference) locks can no longer sit between two of its legacy row locks. A
-- login that updates users then people, next to another transaction updating that person's
-- people row, waits as it did on the legacy schema and never deadlocks; two hiring transactions
-- never wait on each other's codes or new departments before they commit. Anything that needs
-- the employees of this transaction earlier flushes the queue first (p01_flush_pending): the
-- reverse sync (a write through employees after a legacy write) and phase 2's forward sync (an
-- audit for a person hired or renamed earlier in the same transaction).
CREATE TABLE cqms_migration.p01_pending (
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  nes text[]  -- NULL: every email (a TRUNCATE)
);
CREATE INDEX p01_pending_xid_idx ON cqms_migration.p01_pending (xid);

-- apply what this transaction queued (nothing queued: nothing done); returns the emails applied
CREATE FUNCTION cqms_migration.p01_flush_pending() RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
DECLARE
  v_all boolean;
  v_nes text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM cqms_migration.p01_pending WHERE xid = pg_current_xact_id_if_assigned()) THEN
    RETURN NULL;
  END IF;
  WITH done AS (DELETE FROM cqms_migration.p01_pending WHERE xid = pg_current_xact_id() RETURNING nes)
  SELECT bool_or(d.nes IS NULL), array_agg(DISTINCT x) INTO v_all, v_nes
  FROM done d LEFT JOIN LATERAL unnest(d.nes) x ON true;
  IF v_all THEN
    PERFORM cqms_migration.p01_apply(NULL);
  ELSIF v_nes IS NOT NULL THEN
    PERFORM cqms_migration.p01_apply(v_nes);
  END IF;
  DELETE FROM cqms_migration.p01_role_vouch v WHERE v.xid = pg_current_xact_id();
  DELETE FROM cqms_migration.p01_role_taint t WHERE t.xid = pg_current_xact_id();
  RETURN v_nes;
END $fn$;

CREATE FUNCTION cqms_migration.p01_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
BEGIN
  PERFORM cqms_migration.p01_flush_pending();
  RETURN NULL;  -- the first flush of a transaction applies everything; later ones find nothing
END $fn$;
CREATE CONSTRAINT TRIGGER p01_flush AFTER INSERT ON cqms_migration.p01_pending
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cqms_migration.p01_flush();

-- the forward sync: one statement-level trigger per event on users and on people, reading the
-- transition tables (one apply per statement, whatever its row count)
CREATE FUNCTION cqms_migration.p01_forward_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
DECLARE
  v_nes text[];
BEGIN
  IF coalesce(current_setting('cqms.sync_echo', true), '') LIKE 'reverse:employees:%' THEN
    RETURN NULL;  -- the reverse sync writing the legacy rows; it applies the refresh itself
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO cqms_migration.p01_pending (nes) VALUES (NULL);
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    IF TG_TABLE_NAME = 'users' THEN
      SELECT array_agg(DISTINCT coalesce(lower(btrim({users.n.email})), '')) INTO v_nes FROM new_rows n;
    ELSE
      SELECT array_agg(DISTINCT coalesce(lower(btrim({people.n.email})), '')) INTO v_nes FROM new_rows n;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF TG_TABLE_NAME = 'users' THEN
      SELECT array_agg(DISTINCT coalesce(lower(btrim({users.o.email})), '')) INTO v_nes FROM old_rows o;
    ELSE
      SELECT array_agg(DISTINCT coalesce(lower(btrim({people.o.email})), '')) INTO v_nes FROM old_rows o;
    END IF;
  ELSIF TG_TABLE_NAME = 'users' THEN
    SELECT array_agg(DISTINCT x) INTO v_nes FROM (
      SELECT coalesce(lower(btrim({users.n.email})), '') FROM new_rows n
      UNION SELECT coalesce(lower(btrim({users.o.email})), '') FROM old_rows o) s(x);
  ELSE
    SELECT array_agg(DISTINCT x) INTO v_nes FROM (
      SELECT coalesce(lower(btrim({people.n.email})), '') FROM new_rows n
      UNION SELECT coalesce(lower(btrim({people.o.email})), '') FROM old_rows o) s(x);
  END IF;
  IF v_nes IS NOT NULL THEN
    INSERT INTO cqms_migration.p01_pending (nes) VALUES (v_nes);
  END IF;
  -- an untrusted writer's statement (p01_role_taint): the emails it may have given a role. An
  -- insert or a delete, every email it names; an update, the emails a row reached or left and,
  -- on people, the emails whose set of role spellings changed (a login keeps both)
  IF v_nes IS NOT NULL AND NOT cqms_migration.p01_trusted_writer() THEN
    IF TG_OP IN ('INSERT', 'DELETE') THEN
      INSERT INTO cqms_migration.p01_role_taint (ne) SELECT unnest(v_nes);
    ELSIF TG_TABLE_NAME = 'users' THEN
      INSERT INTO cqms_migration.p01_role_taint (ne)
      SELECT x FROM (SELECT coalesce(lower(btrim({users.n.email})), '') FROM new_rows n
                     EXCEPT SELECT coalesce(lower(btrim({users.o.email})), '') FROM old_rows o) a(x)
      UNION SELECT x FROM (SELECT coalesce(lower(btrim({users.o.email})), '') FROM old_rows o
                           EXCEPT SELECT coalesce(lower(btrim({users.n.email})), '') FROM new_rows n) b(x);
    ELSE
      INSERT INTO cqms_migration.p01_role_taint (ne)
      SELECT DISTINCT x FROM (
        (SELECT coalesce(lower(btrim({people.n.email})), ''), cqms_migration.vocab_key({people.n.role}) FROM new_rows n
         EXCEPT SELECT coalesce(lower(btrim({people.o.email})), ''), cqms_migration.vocab_key({people.o.role}) FROM old_rows o)
        UNION
        (SELECT coalesce(lower(btrim({people.o.email})), ''), cqms_migration.vocab_key({people.o.role}) FROM old_rows o
         EXCEPT SELECT coalesce(lower(btrim({people.n.email})), ''), cqms_migration.vocab_key({people.n.role}) FROM new_rows n)) d(x, rk);
    END IF;
  END IF;
  -- a trusted writer's role (p01_role_vouch): a people row inserted, or one whose role changed
  IF TG_TABLE_NAME = 'people' AND TG_OP IN ('INSERT', 'UPDATE') AND cqms_migration.p01_trusted_writer() THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO cqms_migration.p01_role_vouch (ne)
      SELECT DISTINCT coalesce(lower(btrim({people.n.email})), '') FROM new_rows n;
    ELSE
      INSERT INTO cqms_migration.p01_role_vouch (ne)
      SELECT DISTINCT x.ne FROM (SELECT coalesce(lower(btrim({people.n.email})), '') AS ne,
                                        cqms_migration.vocab_key({people.n.role}) AS rk FROM new_rows n) x
      WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE coalesce(lower(btrim({people.o.email})), '') = x.ne
                          AND cqms_migration.vocab_key({people.o.role}) IS NOT DISTINCT FROM x.rk);
    END IF;
  END IF;
  RETURN NULL;
END $fn$;

-- merge_employees' revert, a chunk of emails per transaction (issue 21, decision 1.34), so a
-- legacy writer waits for one chunk, never for the whole revert. A chunk's employees are first
-- retired under their emails' locks, as an apply retires a person whose rows are gone: soft
-- deleted, and nobody reports to them, is mentored or managed by them any more (the sync links
-- only live employees, so no writer links to them again). Once every transaction that was
-- running then has ended (p01_unmerge_wait), each chunk's retired employees are deleted with
-- their provenance. A person whose legacy write revived their employee in between is live data
-- of the sync that is still on: left as it is.
CREATE FUNCTION cqms_migration.p01_unmerge_chunk(p_after text, p_upto text, p_delete boolean) RETURNS bigint
LANGUAGE plpgsql SET search_path = '' AS $fn$
DECLARE
  v_nes text[];
  v_ids uuid[];
  v_n bigint;
BEGIN
  PERFORM set_config('cqms.sync_echo', 'runbook:revert', true);
  SELECT array_agg(DISTINCT lower(btrim(e.email))) INTO v_nes FROM public.employees e
  WHERE (p_after IS NULL OR lower(btrim(e.email)) COLLATE "C" > p_after COLLATE "C")
    AND (p_upto IS NULL OR lower(btrim(e.email)) COLLATE "C" <= p_upto COLLATE "C");
  IF v_nes IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO cqms_migration.p01_email_locks (ne) SELECT cqms_migration.p01_lock_key(x) FROM unnest(v_nes) x
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM cqms_migration.p01_email_locks l
  WHERE l.ne IN (SELECT cqms_migration.p01_lock_key(x) FROM unnest(v_nes) x) ORDER BY l.ne FOR UPDATE;
  SELECT array_agg(e.id) INTO v_ids FROM public.employees e
  WHERE lower(btrim(e.email)) = ANY (v_nes) AND (e.deleted_at IS NOT NULL OR NOT p_delete);
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;
  IF NOT p_delete THEN
    UPDATE public.employees SET deleted_at = now() WHERE id = ANY (v_ids) AND deleted_at IS NULL;
  END IF;
  -- nobody points at them (again, when deleting: a link written by a statement that read them
  -- live before they were retired)
  UPDATE public.employees SET supervisor_id = NULL WHERE supervisor_id = ANY (v_ids);
  UPDATE public.employees SET quality_mentor_id = NULL WHERE quality_mentor_id = ANY (v_ids);
  UPDATE public.employees SET reporting_manager_id = NULL WHERE reporting_manager_id = ANY (v_ids);
  UPDATE public.employees SET created_by = NULL WHERE created_by = ANY (v_ids);
  UPDATE public.employees SET updated_by = NULL WHERE updated_by = ANY (v_ids);
  UPDATE public.teams SET supervisor_id = NULL WHERE supervisor_id = ANY (v_ids);
  UPDATE public.departments SET manager_id = NULL WHERE manager_id = ANY (v_ids);
  IF NOT p_delete THEN
    RETURN cardinality(v_ids);
  END IF;
  DELETE FROM cqms_migration.employee_email_map WHERE employee_id = ANY (v_ids);
  DELETE FROM cqms_migration.employee_sources WHERE employee_id = ANY (v_ids);
  DELETE FROM public.employees WHERE id = ANY (v_ids);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END $fn$;
-- waits (at most p_seconds) until every transaction running now has ended: none can still link
-- to an employee retired before; returns how many were still running at the deadline
CREATE FUNCTION cqms_migration.p01_unmerge_wait(p_seconds double precision) RETURNS integer
LANGUAGE plpgsql SET search_path = '' AS $fn$
DECLARE
  v_xip xid8[];
  v_deadline timestamptz := clock_timestamp() + make_interval(secs => p_seconds);
BEGIN
  SELECT array_agg(x) INTO v_xip FROM pg_snapshot_xip(pg_current_snapshot()) x
  WHERE x IS DISTINCT FROM pg_current_xact_id_if_assigned();
  WHILE v_xip IS NOT NULL AND clock_timestamp() < v_deadline LOOP
    SELECT array_agg(x) INTO v_xip FROM unnest(v_xip) x WHERE pg_xact_status(x) = 'in progress';
    EXIT WHEN v_xip IS NULL;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN coalesce(cardinality(v_xip), 0);
END $fn$;

REVOKE ALL ON FUNCTION cqms_migration.p01_merge_chunk(text, text), cqms_migration.p01_unmerge_chunk(text, text, boolean), cqms_migration.p01_unmerge_wait(double precision), cqms_migration.p01_lock_key(text), cqms_migration.p01_writer(), cqms_migration.p01_trusted_writer(), cqms_migration.p01_sources(text[]), cqms_migration.p01_expected(text[]),
  cqms_migration.p01_expected_of(cqms_migration.p01_source[]),
  cqms_migration.p01_relink(text[]), cqms_migration.p01_touch(text[], boolean), cqms_migration.p01_apply(text[], boolean), cqms_migration.p01_forward_sync(), cqms_migration.p01_flush(),
  cqms_migration.p01_flush_pending() FROM PUBLIC;
