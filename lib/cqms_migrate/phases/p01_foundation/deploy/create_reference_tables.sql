-- Reference tables of seed section 2.2. The keys that point at employees
-- (departments.manager_id, teams.supervisor_id) are added by add_circular_keys, after
-- employees exists: the seed's DDL references tables before creating them.
CREATE TABLE public.roles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text UNIQUE NOT NULL,
  code text UNIQUE NOT NULL,
  level integer NOT NULL CHECK (level >= 0 AND level <= 10),
  description text,
  permissions jsonb DEFAULT '{}'::jsonb,
  is_system_role boolean DEFAULT false NOT NULL,
  is_active boolean DEFAULT true NOT NULL,
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL
);
CREATE INDEX idx_roles_level ON public.roles (level) WHERE is_active = true;

CREATE TABLE public.departments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text UNIQUE NOT NULL,
  code text UNIQUE,
  description text,
  parent_department_id uuid REFERENCES public.departments(id),
  manager_id uuid,
  budget_code text,
  is_active boolean DEFAULT true NOT NULL,
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL
);
CREATE INDEX idx_departments_parent ON public.departments (parent_department_id) WHERE is_active = true;
CREATE INDEX idx_departments_manager_id ON public.departments (manager_id);

CREATE TABLE public.channels (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text UNIQUE NOT NULL,
  code text UNIQUE NOT NULL,
  description text,
  icon_url text,
  color_hex text,
  default_scorecard_id uuid REFERENCES public.scorecards(id),
  is_active boolean DEFAULT true NOT NULL,
  display_order integer DEFAULT 0,
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL
);
CREATE INDEX idx_channels_display_order ON public.channels (display_order) WHERE is_active = true;
CREATE INDEX idx_channels_default_scorecard ON public.channels (default_scorecard_id);

CREATE TABLE public.teams (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  code text UNIQUE,
  channel_id uuid REFERENCES public.channels(id),
  supervisor_id uuid,
  department_id uuid REFERENCES public.departments(id),
  description text,
  capacity integer,
  is_active boolean DEFAULT true NOT NULL,
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL,
  CONSTRAINT unique_team_name_channel UNIQUE (name, channel_id)
);
CREATE INDEX idx_teams_channel_id ON public.teams (channel_id) WHERE is_active = true;
CREATE INDEX idx_teams_department_id ON public.teams (department_id) WHERE is_active = true;
CREATE INDEX idx_teams_supervisor_id ON public.teams (supervisor_id);   -- whole: a foreign key's (decision 1.34)

CREATE TABLE public.countries (
  code text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
  name text NOT NULL,
  iso_alpha3 text UNIQUE,
  numeric_code text,
  region text,
  timezone text,
  currency_code text
);

-- how legacy people.role text maps to a role code (from params, written by load_reference_data)
CREATE TABLE cqms_migration.p01_role_mapping (
  legacy_role text PRIMARY KEY,
  role_code text NOT NULL
);

-- the code a free-text legacy value maps to: 'E-mail ' -> 'E_MAIL'; blank -> 'UNASSIGNED'
-- (a code stays short enough for the unique index whatever the legacy value: past 100
-- characters, its first 80 and a hash of the whole, issue 21)
CREATE FUNCTION cqms_migration.ref_code(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN length(x.c) > 100 THEN left(x.c, 80) || '_' || upper(left(md5(x.c), 12)) ELSE x.c END
  FROM (SELECT coalesce(nullif(btrim(upper(regexp_replace(btrim(value), '[^A-Za-z0-9]+', '_', 'g')), '_'), ''),
                        'UNASSIGNED') AS c) x
$$;
-- a reference row's name from a legacy value: the value, trimmed; past 200 characters its first
-- 180 and a hash of the whole (the unique index on names holds it; the legacy row keeps the value)
CREATE FUNCTION cqms_migration.ref_name(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN length(btrim(value)) > 200 THEN left(btrim(value), 180) || ' #' || left(md5(btrim(value)), 12)
              ELSE btrim(value) END
$$;

-- how a legacy people.country spelling (vocab_key) maps to a country code: params country_map
CREATE TABLE cqms_migration.p01_country_map (
  legacy text PRIMARY KEY,
  code text NOT NULL
);
-- other names of the countries (ISO common and official names, a few usual ones), as matching keys
CREATE TABLE cqms_migration.p01_country_alias (
  alias text PRIMARY KEY,
  code text NOT NULL
);

-- ISO 3166-1 country for a legacy value: the operator's country_map, an alpha-2 code, the ISO
-- English name, the alpha-3 code, or another name of it (common, official, 'UK', 'USA')
CREATE FUNCTION cqms_migration.country_code(value text) RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    (SELECT m.code FROM cqms_migration.p01_country_map m WHERE m.legacy = cqms_migration.vocab_key(value)),
    (SELECT c.code FROM public.countries c WHERE c.code = upper(btrim(value))),
    (SELECT c.code FROM public.countries c WHERE lower(c.name) = lower(btrim(value))
        OR c.iso_alpha3 = upper(btrim(value))),
    (SELECT a.code FROM cqms_migration.p01_country_alias a WHERE a.alias = cqms_migration.vocab_key(value)),
    'ZZ')
$$;
REVOKE ALL ON FUNCTION cqms_migration.ref_code(text), cqms_migration.ref_name(text), cqms_migration.country_code(text) FROM PUBLIC;

-- No moment of exposure: on Supabase, the default privileges have just granted these tables to
-- anon and authenticated. Row level security on (no policy yet: no row for anyone but
-- service_role) and those grants revoked, in the transaction that creates them. enable_rls adds
-- the policies and the grants of the security model (docs/security.md).
ALTER TABLE public.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.departments ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.countries ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.roles, public.departments, public.channels, public.teams, public.countries
  FROM PUBLIC, anon, authenticated;
