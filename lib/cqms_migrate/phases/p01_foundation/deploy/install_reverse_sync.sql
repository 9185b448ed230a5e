-- After cutover the application writes employees: every write reaches users and people in the
-- writer's transaction, so a rollback loses nothing. The legacy rows are written under the
-- marker 'reverse:employees:<id>' (the forward sync skips them); then the snapshot and the
-- provenance follow them (p01_apply p_refresh_only): the compat views keep returning the legacy
-- rows exactly.
-- What goes where (the inverse of the mapping; columns with no legacy home stay in employees):
--   people: the row the employee was built from (its snapshot); only the columns whose source
--           changed are written; a new employee, or one that was only a users row and gains a
--           people value, gets a people row
--   users:  the auth user's row (by id); a new employee with an auth user gets one
--   a deletion (or soft deletion) removes the employee's users and people rows
-- Any fence a previous rollback left goes first (a re-run of the cutover lifts it; its function
-- stays until create_employees' revert).
DROP TRIGGER IF EXISTS cqms_p01_fence ON public.employees;

CREATE OR REPLACE FUNCTION cqms_migration.p01_reverse_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
DECLARE
  v_marker text := current_setting('cqms.sync_echo', true);
  v_old_ne text;
  v_new_ne text;
  v_people_ctid tid;
  v_role text; v_department text; v_channel text; v_team text; v_sup text; v_qm text;
  v_people_change boolean;
  v_reports text[];
  v_snapshot jsonb;
BEGIN
  IF coalesce(v_marker, '') LIKE 'forward:%' OR coalesce(v_marker, '') = 'runbook:revert' THEN
    RETURN NULL;  -- the forward sync's own write, or the rollback's
  END IF;
  IF coalesce(NEW.legacy_snapshot, OLD.legacy_snapshot) ? 'placeholder_phase' THEN
    RETURN NULL;  -- a later phase's placeholder for an unknown email: never a person in users or people
  END IF;
  IF TG_OP <> 'INSERT' THEN
    v_old_ne := lower(btrim(OLD.email));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    v_new_ne := lower(btrim(NEW.email));
  END IF;
  -- the same per-email locks as the forward sync
  INSERT INTO cqms_migration.p01_email_locks (ne)
  SELECT x FROM unnest(ARRAY[v_old_ne, v_new_ne]) x WHERE x IS NOT NULL ON CONFLICT DO NOTHING;
  PERFORM 1 FROM cqms_migration.p01_email_locks l WHERE l.ne IN (v_old_ne, v_new_ne) ORDER BY l.ne FOR UPDATE;
  v_snapshot := OLD.legacy_snapshot;
  -- legacy writes earlier in this transaction are still queued (they apply at commit): apply
  -- them now, as if committed before this write, then put back what this write changed (the
  -- apply rebuilt the employee from the legacy rows); the people row is then found by the
  -- snapshot the apply just took
  IF cqms_migration.p01_flush_pending() IS NOT NULL AND TG_OP = 'UPDATE' THEN
    PERFORM set_config('cqms.sync_echo', 'forward:employees', true);
    UPDATE public.employees e SET
      email = CASE WHEN OLD.email IS DISTINCT FROM NEW.email THEN NEW.email ELSE e.email END,
      name = CASE WHEN OLD.name IS DISTINCT FROM NEW.name THEN NEW.name ELSE e.name END,
      role_id = CASE WHEN OLD.role_id IS DISTINCT FROM NEW.role_id THEN NEW.role_id ELSE e.role_id END,
      access_level = CASE WHEN OLD.access_level IS DISTINCT FROM NEW.access_level THEN NEW.access_level ELSE e.access_level END,
      department_id = CASE WHEN OLD.department_id IS DISTINCT FROM NEW.department_id THEN NEW.department_id ELSE e.department_id END,
      designation = CASE WHEN OLD.designation IS DISTINCT FROM NEW.designation THEN NEW.designation ELSE e.designation END,
      employee_id = CASE WHEN OLD.employee_id IS DISTINCT FROM NEW.employee_id THEN NEW.employee_id ELSE e.employee_id END,
      channel_id = CASE WHEN OLD.channel_id IS DISTINCT FROM NEW.channel_id THEN NEW.channel_id ELSE e.channel_id END,
      team_id = CASE WHEN OLD.team_id IS DISTINCT FROM NEW.team_id THEN NEW.team_id ELSE e.team_id END,
      supervisor_id = CASE WHEN OLD.supervisor_id IS DISTINCT FROM NEW.supervisor_id THEN NEW.supervisor_id ELSE e.supervisor_id END,
      quality_mentor_id = CASE WHEN OLD.quality_mentor_id IS DISTINCT FROM NEW.quality_mentor_id THEN NEW.quality_mentor_id
                               ELSE e.quality_mentor_id END,
      country_code = CASE WHEN OLD.country_code IS DISTINCT FROM NEW.country_code THEN NEW.country_code ELSE e.country_code END,
      is_active = CASE WHEN OLD.is_active IS DISTINCT FROM NEW.is_active THEN NEW.is_active ELSE e.is_active END,
      last_login_at = CASE WHEN OLD.last_login_at IS DISTINCT FROM NEW.last_login_at THEN NEW.last_login_at ELSE e.last_login_at END,
      login_count = CASE WHEN OLD.login_count IS DISTINCT FROM NEW.login_count THEN NEW.login_count ELSE e.login_count END,
      avatar_url = CASE WHEN OLD.avatar_url IS DISTINCT FROM NEW.avatar_url THEN NEW.avatar_url ELSE e.avatar_url END,
      intercom_admin_alias = CASE WHEN OLD.intercom_admin_alias IS DISTINCT FROM NEW.intercom_admin_alias
                                  THEN NEW.intercom_admin_alias ELSE e.intercom_admin_alias END,
      device_info = CASE WHEN OLD.device_info IS DISTINCT FROM NEW.device_info THEN NEW.device_info ELSE e.device_info END,
      notification_preferences = CASE WHEN OLD.notification_preferences IS DISTINCT FROM NEW.notification_preferences
                                      THEN NEW.notification_preferences ELSE e.notification_preferences END
    WHERE e.id = NEW.id
    RETURNING e.legacy_snapshot INTO v_snapshot;
  END IF;
  PERFORM set_config('cqms.sync_echo', 'reverse:employees:' || coalesce(NEW.id, OLD.id)::text, true);
  -- a role set through employees (an admin's, employees_guard) lifts a hold on a legacy role
  IF TG_OP = 'UPDATE' AND NEW.role_id IS DISTINCT FROM OLD.role_id THEN
    DELETE FROM cqms_migration.p01_role_holds h WHERE h.ne IN (v_old_ne, lower(btrim(NEW.email)));
  END IF;

  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) THEN
    DELETE FROM public.people p WHERE coalesce(lower(btrim({people.p.email})), '') = v_old_ne;
    DELETE FROM public.users u WHERE {users.u.id} = OLD.auth_user_id OR coalesce(lower(btrim({users.u.email})), '') = v_old_ne;
    -- not a refresh: the apply of an email whose rows are gone also lets the people this one
    -- supervised or mentored go of it (a refresh would leave them pointing at a departed employee)
    PERFORM cqms_migration.p01_apply(ARRAY[v_old_ne]);
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;
  END IF;
  IF NEW.deleted_at IS NOT NULL THEN
    PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
    RETURN NULL;  -- a change to a deleted employee: no legacy row stands for it
  END IF;

  SELECT r.name INTO v_role FROM public.roles r WHERE r.id = NEW.role_id;
  SELECT nullif(d.name, 'Unassigned') INTO v_department FROM public.departments d WHERE d.id = NEW.department_id;
  SELECT nullif(c.name, 'Unassigned') INTO v_channel FROM public.channels c WHERE c.id = NEW.channel_id;
  SELECT nullif(t.name, 'Unassigned') INTO v_team FROM public.teams t WHERE t.id = NEW.team_id;
  SELECT s.email INTO v_sup FROM public.employees s WHERE s.id = NEW.supervisor_id;
  SELECT s.email INTO v_qm FROM public.employees s WHERE s.id = NEW.quality_mentor_id;

  IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL THEN
    IF v_snapshot ? 'people' THEN
      SELECT p.ctid INTO v_people_ctid FROM public.people p
      WHERE coalesce(lower(btrim({people.p.email})), '') = v_old_ne AND to_jsonb(p) = v_snapshot -> 'people' LIMIT 1;
    END IF;
    v_people_change := (OLD.email, OLD.name, OLD.role_id, OLD.department_id, OLD.designation, OLD.employee_id,
                        OLD.channel_id, OLD.team_id, OLD.supervisor_id, OLD.quality_mentor_id, OLD.country_code,
                        OLD.is_active, OLD.last_login_at, OLD.login_count, OLD.avatar_url, OLD.intercom_admin_alias)
                       IS DISTINCT FROM
                       (NEW.email, NEW.name, NEW.role_id, NEW.department_id, NEW.designation, NEW.employee_id,
                        NEW.channel_id, NEW.team_id, NEW.supervisor_id, NEW.quality_mentor_id, NEW.country_code,
                        NEW.is_active, NEW.last_login_at, NEW.login_count, NEW.avatar_url, NEW.intercom_admin_alias);
    IF v_people_ctid IS NOT NULL AND v_people_change THEN
      {people_update};
    ELSIF v_people_change AND (v_snapshot ? 'people' OR v_snapshot IS NULL
          OR (OLD.role_id, OLD.department_id, OLD.designation, OLD.employee_id, OLD.channel_id, OLD.team_id,
              OLD.supervisor_id, OLD.quality_mentor_id, OLD.country_code, OLD.is_active, OLD.intercom_admin_alias)
             IS DISTINCT FROM
             (NEW.role_id, NEW.department_id, NEW.designation, NEW.employee_id, NEW.channel_id, NEW.team_id,
              NEW.supervisor_id, NEW.quality_mentor_id, NEW.country_code, NEW.is_active, NEW.intercom_admin_alias)) THEN
      -- no people row stands for the employee yet (or its row is not where the snapshot says):
      -- the employee becomes one, whole
      v_people_change := NULL;
    END IF;
    IF v_old_ne IS DISTINCT FROM v_new_ne THEN
      -- an email change moves the person's other legacy rows too (duplicates merged into this
      -- employee), and the reports and mentees who name the old email in people follow it (their
      -- snapshots are refreshed below)
      UPDATE public.people p SET {people_set_email}
      WHERE coalesce(lower(btrim({people.p.email})), '') = v_old_ne AND p.ctid IS DISTINCT FROM v_people_ctid;
      {people_move_reports};
    END IF;
    IF OLD.auth_user_id IS NOT NULL AND NEW.auth_user_id IS NOT DISTINCT FROM OLD.auth_user_id THEN
      {users_update};
    END IF;
  END IF;

  -- a new (or restored) employee, or one that needs a people row now
  IF TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL OR v_people_change IS NULL THEN
    {people_insert};
  END IF;
  IF NEW.auth_user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.users u WHERE {users.u.id} = NEW.auth_user_id) THEN
    {users_insert};
  END IF;
  -- the snapshot and the provenance follow the legacy rows just written (the forward sync skips
  -- writes under this marker)
  PERFORM cqms_migration.p01_apply(ARRAY[v_old_ne, v_new_ne] || coalesce(v_reports, '{{}}'), true);
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END $fn$;
REVOKE ALL ON FUNCTION cqms_migration.p01_reverse_sync() FROM PUBLIC;

CREATE OR REPLACE TRIGGER cqms_p01_reverse_sync AFTER INSERT OR UPDATE OR DELETE ON public.employees
  FOR EACH ROW EXECUTE FUNCTION cqms_migration.p01_reverse_sync();


-- access_level: the role's level (the mapping's rule; the legacy tables hold only the role),
-- unless granted otherwise through employees (the security model lets admins change a level).
-- A write that changes role_id without setting access_level gets the new role's level; an
-- explicit level other than the role's is recorded in cqms_migration.p01_access_grants (who,
-- when, under which role), which the forward sync keeps and `cqms-migrate verify` accepts. A
-- level changed behind the triggers' back has no grant: verify names it.
CREATE TABLE IF NOT EXISTS cqms_migration.p01_access_grants (
  employee_id uuid PRIMARY KEY,
  access_level text NOT NULL,
  role_id uuid,
  granted_at timestamptz NOT NULL DEFAULT now(),
  granted_by text NOT NULL DEFAULT current_user,
  claims_sub text DEFAULT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
);
CREATE OR REPLACE FUNCTION cqms_migration.p01_access_follows_role() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
DECLARE
  v_level text;
BEGIN
  IF coalesce(current_setting('cqms.sync_echo', true), '') LIKE 'forward:%' THEN
    RETURN NEW;  -- the forward sync writes what the mapping says
  END IF;
  v_level := coalesce((SELECT r.permissions ->> 'access_level' FROM public.roles r WHERE r.id = NEW.role_id), 'standard');
  IF TG_OP = 'INSERT' AND NEW.access_level IS NOT DISTINCT FROM 'standard'
     OR TG_OP = 'UPDATE' AND NEW.role_id IS DISTINCT FROM OLD.role_id AND NEW.access_level IS NOT DISTINCT FROM OLD.access_level THEN
    NEW.access_level := v_level;  -- follows the role
  END IF;
  IF NEW.access_level IS DISTINCT FROM v_level THEN
    INSERT INTO cqms_migration.p01_access_grants (employee_id, access_level, role_id)
    VALUES (NEW.id, NEW.access_level, NEW.role_id)
    ON CONFLICT (employee_id) DO UPDATE SET access_level = EXCLUDED.access_level, role_id = EXCLUDED.role_id,
      granted_at = now(), granted_by = current_user, claims_sub = EXCLUDED.claims_sub;
  ELSE
    DELETE FROM cqms_migration.p01_access_grants g WHERE g.employee_id = NEW.id;
  END IF;
  RETURN NEW;
END $fn$;
REVOKE ALL ON FUNCTION cqms_migration.p01_access_follows_role() FROM PUBLIC;
CREATE OR REPLACE TRIGGER cqms_p01_access_follows_role BEFORE INSERT OR UPDATE ON public.employees
  FOR EACH ROW EXECUTE FUNCTION cqms_migration.p01_access_follows_role();