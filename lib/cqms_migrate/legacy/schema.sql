-- Legacy "Express CQMS" schema, as the old application left it (synthetic test fixture).
-- Executed by the owning role (postgres, not superuser) as one multi-statement string.
-- Deliberately loose: people has no key at all, email references are plain text, the
-- dynamic per-scorecard audit tables (created by generator.py) have no foreign keys.

CREATE TABLE public.users (
  id uuid PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
  email text UNIQUE,
  full_name text,
  avatar_url text,
  provider text,
  last_sign_in_at timestamptz,
  sign_in_count integer,
  device_info jsonb,
  notification_preferences jsonb,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);

CREATE TABLE public.people (
  email text,
  name text,
  role text,
  department text,
  designation text,
  employee_id text,
  channel text,
  team text,
  team_supervisor text,
  quality_mentor text,
  country text,
  is_active boolean,
  last_login timestamptz,
  login_count integer,
  avatar_url text,
  intercom_admin_alias text
);

CREATE TABLE public.scorecards (
  id uuid PRIMARY KEY,
  name text,
  description text,
  table_name text,
  passing_threshold numeric,
  scoring_type text,
  channels jsonb,
  is_active boolean,
  version integer,
  parent_scorecard_id uuid,
  allow_over_100 boolean,
  max_bonus_points numeric,
  created_at timestamptz DEFAULT now()
);

CREATE TABLE public.scorecard_perameters (
  id uuid PRIMARY KEY,
  scorecard_id uuid REFERENCES public.scorecards(id),
  error_name text,
  penalty_points numeric,
  parameter_type text,
  field_type text,
  field_id text,
  enable_ai_audit boolean,
  prompt text,
  is_fail_all boolean,
  requires_feedback boolean,
  display_order integer,
  is_active boolean
);

CREATE TABLE public.audit_assignments (
  id uuid PRIMARY KEY,
  employee_email text,
  employee_name text,
  auditor_email text,
  scorecard_id uuid REFERENCES public.scorecards(id),
  status text,
  scheduled_date date,
  week integer,
  completed_at timestamptz,
  audit_id uuid,
  conversation_id text,
  intercom_alias text,
  source_type text,
  assigned_by text,
  created_at timestamptz DEFAULT now()
);

-- Names of the dynamic per-scorecard audit tables (base tables in public ending in _audit).
CREATE FUNCTION public.get_audit_tables()
RETURNS TABLE(table_name text)
LANGUAGE sql STABLE
AS $fn$
  SELECT c.relname::text
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public'
    AND c.relkind IN ('r', 'p')
    AND c.relname LIKE '%\_audit' ESCAPE '\'
  ORDER BY c.relname COLLATE "C"
$fn$;
