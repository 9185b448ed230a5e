-- employees (seed 2.1), done as the seed means it:
--  * email uniqueness ignores case and surrounding whitespace (unique index on the normalized
--    email) while the seed's format CHECK stays;
--  * role_id stays NOT NULL: load_reference_data fills it from params (role_mapping, default_role);
--  * legacy_snapshot keeps the migrated users/people rows verbatim so the compat views return
--    the legacy rows exactly until the employee is changed (transitional; dropped in cleanup);
--  * version is maintained by a trigger (the seed's optimistic-locking column).
CREATE TABLE public.employees (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- an auth user's deletion keeps its legacy meaning: legacy users rows cascade away with it,
  -- people rows stay. So the link is cleared (SET NULL) and an employee who was only a users row
  -- is soft-deleted (employees_auth_user_gone); audits keep a valid key either way
  auth_user_id uuid UNIQUE REFERENCES auth.users(id) ON DELETE SET NULL,
  email text NOT NULL,
  employee_id text UNIQUE,
  name text NOT NULL,
  display_name text,
  avatar_url text,
  phone text,
  timezone text DEFAULT 'UTC',
  role_id uuid NOT NULL REFERENCES public.roles(id),
  department_id uuid REFERENCES public.departments(id),
  designation text,
  channel_id uuid REFERENCES public.channels(id),
  team_id uuid REFERENCES public.teams(id),
  supervisor_id uuid REFERENCES public.employees(id),
  quality_mentor_id uuid REFERENCES public.employees(id),
  reporting_manager_id uuid REFERENCES public.employees(id),
  country_code text REFERENCES public.countries(code),
  region text,
  office_location text,
  intercom_admin_id text,
  intercom_admin_alias text,
  slack_user_id text,
  google_workspace_id text,
  is_active boolean DEFAULT true NOT NULL,
  is_archived boolean DEFAULT false NOT NULL,
  access_level text DEFAULT 'standard' CHECK (access_level IN ('standard', 'elevated', 'admin')),
  last_login_at timestamptz,
  last_activity_at timestamptz,
  login_count integer DEFAULT 0,
  failed_login_attempts integer DEFAULT 0,
  account_locked_until timestamptz,
  notification_preferences jsonb DEFAULT '{"email": true, "push": true, "in_app": true,
    "categories": {"system": true, "task": true, "message": true, "reminder": true}}'::jsonb NOT NULL,
  ui_preferences jsonb DEFAULT '{}'::jsonb,
  device_info jsonb DEFAULT '{}'::jsonb,
  created_by uuid REFERENCES public.employees(id),
  updated_by uuid REFERENCES public.employees(id),
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL,
  deleted_at timestamptz,
  version integer DEFAULT 1 NOT NULL,
  needs_review boolean DEFAULT false NOT NULL,
  legacy_snapshot jsonb,
  CONSTRAINT valid_email_format CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$'),
  CONSTRAINT no_self_supervisor CHECK (supervisor_id != id OR supervisor_id IS NULL),
  CONSTRAINT no_self_mentor CHECK (quality_mentor_id != id OR quality_mentor_id IS NULL)
);

CREATE UNIQUE INDEX employees_email_normalized_key ON public.employees (lower(btrim(email)));
CREATE INDEX idx_employees_role_id ON public.employees (role_id) WHERE is_active = true AND deleted_at IS NULL;
CREATE INDEX idx_employees_department_id ON public.employees (department_id) WHERE is_active = true AND deleted_at IS NULL;
CREATE INDEX idx_employees_channel_id ON public.employees (channel_id) WHERE is_active = true AND deleted_at IS NULL;
CREATE INDEX idx_employees_team_id ON public.employees (team_id) WHERE is_active = true AND deleted_at IS NULL;
-- every key referencing employees has a whole (not partial) index: deleting an employee checks
-- each one with `WHERE supervisor_id = $1`, which a partial index cannot serve (decision 1.34)
CREATE INDEX idx_employees_supervisor_id ON public.employees (supervisor_id);
CREATE INDEX idx_employees_quality_mentor_id ON public.employees (quality_mentor_id);
CREATE INDEX idx_employees_reporting_manager_id ON public.employees (reporting_manager_id);
CREATE INDEX idx_employees_country_code ON public.employees (country_code);
CREATE INDEX idx_employees_created_by ON public.employees (created_by);
CREATE INDEX idx_employees_updated_by ON public.employees (updated_by);
CREATE INDEX idx_employees_is_active ON public.employees (is_active) WHERE deleted_at IS NULL;
CREATE INDEX idx_employees_created_at ON public.employees (created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_employees_name_search ON public.employees
  USING gin (to_tsvector('english', left(name || ' ' || coalesce(email, ''), 100000)));

CREATE FUNCTION public.employees_bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF NEW IS DISTINCT FROM OLD THEN
    IF coalesce(current_setting('cqms.sync_echo', true), '') LIKE 'forward:%' THEN
      -- the phase-1 sync: a write that only follows the legacy rows (the snapshot) leaves the
      -- version alone, so an application's optimistic lock is not broken by a sync; and a synced
      -- snapshot is current (the compat views return it) unless the employee was changed
      -- through employees since
      IF (to_jsonb(NEW) - 'legacy_snapshot' - 'updated_at') <> (to_jsonb(OLD) - 'legacy_snapshot' - 'updated_at') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
      ELSE
        NEW.updated_at := OLD.updated_at;
      END IF;
      IF NEW.legacy_snapshot IS NOT NULL AND (NEW.legacy_snapshot - 'version' IS DISTINCT FROM OLD.legacy_snapshot - 'version'
          OR (OLD.legacy_snapshot ->> 'version')::integer = OLD.version) THEN
        NEW.legacy_snapshot := jsonb_set(NEW.legacy_snapshot, '{version}', to_jsonb(NEW.version));
      END IF;
    ELSE
      NEW.version := OLD.version + 1;
      NEW.updated_at := now();
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER employees_bump_version BEFORE UPDATE ON public.employees
  FOR EACH ROW EXECUTE FUNCTION public.employees_bump_version();
REVOKE ALL ON FUNCTION public.employees_bump_version() FROM PUBLIC, anon, authenticated;

CREATE FUNCTION public.employees_auth_user_gone() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF OLD.auth_user_id IS NOT NULL AND NEW.auth_user_id IS NULL AND NEW.deleted_at IS NULL
     AND NEW.legacy_snapshot IS NOT NULL AND NOT NEW.legacy_snapshot ? 'people' THEN
    NEW.deleted_at := now();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER employees_auth_user_gone BEFORE UPDATE OF auth_user_id ON public.employees
  FOR EACH ROW EXECUTE FUNCTION public.employees_auth_user_gone();
REVOKE ALL ON FUNCTION public.employees_auth_user_gone() FROM PUBLIC, anon, authenticated;

-- no moment of exposure (see create_reference_tables): RLS on and the default grants revoked
-- in the transaction that creates the table
ALTER TABLE public.employees ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.employees FROM PUBLIC, anon, authenticated;

-- where every users / people row went (row-level provenance for reconciliation)
CREATE TABLE cqms_migration.employee_sources (
  source_table text NOT NULL CHECK (source_table IN ('users', 'people')),
  source_key   text NOT NULL,
  employee_id  uuid NOT NULL REFERENCES public.employees(id) ON DELETE CASCADE,
  disposition  text NOT NULL CHECK (disposition IN ('migrated', 'merged_duplicate')),
  email_as_written text,
  PRIMARY KEY (source_table, source_key)
);
CREATE INDEX employee_sources_employee_idx ON cqms_migration.employee_sources (employee_id);
CREATE INDEX employee_sources_normalized_idx ON cqms_migration.employee_sources ((coalesce(lower(btrim(email_as_written)), '')));

-- every legacy email spelling -> its employee; later phases resolve emails through this
CREATE TABLE cqms_migration.employee_email_map (
  email            text PRIMARY KEY,
  normalized_email text NOT NULL,
  employee_id      uuid NOT NULL REFERENCES public.employees(id) ON DELETE CASCADE,
  source           text NOT NULL CHECK (source IN ('users', 'people', 'both'))
);
CREATE INDEX employee_email_map_normalized_idx ON cqms_migration.employee_email_map (normalized_email);
CREATE INDEX employee_email_map_employee_idx ON cqms_migration.employee_email_map (employee_id);
