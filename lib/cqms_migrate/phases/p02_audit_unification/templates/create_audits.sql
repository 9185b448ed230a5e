-- audits (seed 2.3) and audit_errors (named by the seed, never defined), done as the seed means:
--  * no average_score column: the legacy average_score is total_score over max_possible_score 100;
--  * scores are numeric without a typmod (legacy scores have arbitrary precision; NUMERIC(5,2)
--    would round them) and percentage_score may exceed 100 (allow_over_100 scorecards);
--  * assignment_id carries no foreign key: audit_assignments.audit_id is the one link (phase 3),
--    so the two tables do not reference each other in a cycle;
--  * provenance: id = the legacy row's id, legacy_table names its table; legacy_values keeps the
--    legacy text the unified model normalises, for the compat views;
--  * partitioning (params partition_audits) makes the primary key (id, interaction_date).
-- The placeholders are filled according to the partitioning mode (params partition_audits).
CREATE TABLE public.audits (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  legacy_table text,
  legacy_id text,
  employee_id uuid NOT NULL REFERENCES public.employees(id),
  auditor_id uuid NOT NULL REFERENCES public.employees(id),
  scorecard_id uuid NOT NULL REFERENCES public.scorecards(id),
  assignment_id uuid,
  interaction_id text,
  interaction_date date NOT NULL,
  interaction_type text CHECK (interaction_type IN ('email', 'chat', 'call', 'ticket', 'other')),
  channel_id uuid REFERENCES public.channels(id),
  client_email text,
  client_name text,
  client_id text,
  transcript text,
  transcript_summary text,
  attachments jsonb DEFAULT '[]'::jsonb,
  total_score numeric,
  max_possible_score numeric,
  percentage_score numeric GENERATED ALWAYS AS (
    CASE WHEN max_possible_score > 0 THEN (total_score / max_possible_score) * 100 ELSE NULL END) STORED,
  passing_status text CHECK (passing_status IN ('pass', 'fail', 'pending', 'needs_review')),
  passing_threshold numeric,
  critical_errors_count integer DEFAULT 0,
  significant_errors_count integer DEFAULT 0,
  minor_errors_count integer DEFAULT 0,
  total_errors_count integer DEFAULT 0,
  parameter_scores jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  parameter_feedback jsonb DEFAULT '{{}}'::jsonb,
  parameter_comments jsonb DEFAULT '{{}}'::jsonb,
  status text DEFAULT 'draft' CHECK (status IN ('draft', 'in_progress', 'submitted', 'validated', 'rejected', 'archived')),
  validation_status text CHECK (validation_status IN ('pending', 'approved', 'rejected', 'needs_revision')),
  acknowledgement_status text CHECK (acknowledgement_status IN ('pending', 'acknowledged', 'disputed', 'not_required')),
  audit_start_time timestamptz,
  audit_end_time timestamptz,
  audit_duration integer,
  submitted_at timestamptz,
  validated_at timestamptz,
  acknowledged_at timestamptz,
  reversal_requested_at timestamptz,
  reversal_requested_by uuid REFERENCES public.employees(id),
  reversal_reason text,
  reversal_responded_at timestamptz,
  reversal_responded_by uuid REFERENCES public.employees(id),
  reversal_approved boolean,
  reversal_notes text,
  recommendations text,
  strengths text[],
  improvement_areas text[],
  coaching_notes text,
  agent_pre_status text,
  agent_post_status text,
  quarter text,
  week integer,
  period_start_date date,
  period_end_date date,
  ai_assisted boolean DEFAULT false NOT NULL,
  ai_confidence_score numeric(3,2),
  ai_review_required boolean DEFAULT false,
  version integer DEFAULT 1 NOT NULL,
  parent_audit_id uuid {parent_fk},
  revision_reason text,
  metadata jsonb DEFAULT '{{}}'::jsonb,
  tags text[],
  legacy_values jsonb,
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL,
  deleted_at timestamptz,
  CONSTRAINT audits_pkey {primary_key},
  CONSTRAINT valid_score CHECK (total_score >= 0),
  CONSTRAINT valid_percentage CHECK (percentage_score IS NULL OR percentage_score >= 0),
  CONSTRAINT valid_duration CHECK (audit_duration IS NULL OR audit_duration >= 0),
  CONSTRAINT valid_dates CHECK (audit_end_time IS NULL OR audit_start_time IS NULL OR audit_end_time >= audit_start_time),
  CONSTRAINT no_self_audit CHECK (employee_id != auditor_id)
) {partition_by};

{partitions}

-- lookups by id that every sync and backfill statement makes (the primary key serves them when
-- the table is not partitioned; partitioned, the key is (id, interaction_date))
{id_lookup}
-- deleting an audit checks parent_audit_id references: without this index every delete
-- (sync trigger, application) would scan the whole table
CREATE INDEX idx_audits_parent_audit_id ON public.audits (parent_audit_id);

CREATE TABLE public.audit_errors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  audit_id uuid NOT NULL,
  interaction_date date NOT NULL,
  scorecard_parameter_id uuid REFERENCES {parameters}(id),
  field_id text NOT NULL,
  parameter_type text,
  error_count integer NOT NULL CHECK (error_count >= 0),
  penalty_points numeric,
  feedback text[],
  comment text,
  created_at timestamptz DEFAULT now() NOT NULL,
  CONSTRAINT audit_errors_audit_fkey FOREIGN KEY {errors_fk} ON DELETE CASCADE
);
CREATE INDEX idx_audit_errors_audit_id ON public.audit_errors (audit_id);
CREATE INDEX idx_audit_errors_parameter ON public.audit_errors (scorecard_parameter_id);

CREATE FUNCTION public.audits_bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF NEW IS DISTINCT FROM OLD THEN
    IF current_setting('cqms.sync_echo', true) LIKE 'refresh:%' THEN
      -- the reverse sync's refresh of the legacy text after writing the legacy row: not a change
      -- of the audit (an optimistic lock holds), and the compat view returns that text again
      NEW.version := OLD.version;
      NEW.updated_at := OLD.updated_at;
      NEW.legacy_values := NEW.legacy_values || jsonb_build_object('version', OLD.version);
      RETURN NEW;
    END IF;
    NEW.version := OLD.version + 1;
    -- a write from the forward sync carries the legacy row's updated_at: keep it
    NEW.updated_at := CASE WHEN NEW.updated_at IS DISTINCT FROM OLD.updated_at
                             OR current_setting('cqms.sync_echo', true) LIKE 'forward:%'
                           THEN NEW.updated_at ELSE now() END;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audits_bump_version BEFORE UPDATE ON public.audits
  FOR EACH ROW EXECUTE FUNCTION public.audits_bump_version();
REVOKE ALL ON FUNCTION public.audits_bump_version() FROM PUBLIC, anon, authenticated;

-- No moment of exposure: Supabase's default privileges have just granted these tables to anon
-- and authenticated; RLS on (no policy yet) and the grants revoked in the creating transaction.
-- Partitions are tables of their own (a query may name one): the step does the same for each.
ALTER TABLE public.audits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.audit_errors ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.audits, public.audit_errors FROM PUBLIC, anon, authenticated;

-- The per-row arbiter between the backfill and the sync triggers: whoever claims a legacy row
-- first owns it. The backfill claims with ON CONFLICT DO NOTHING and skips rows a trigger already
-- claimed (its newer version wins); a trigger claims with ON CONFLICT DO UPDATE, which waits for
-- a batch that holds the claim and then writes the newer version. No lock on the legacy heap.
-- UNLOGGED: claims are coordination state, not data. After a crash the table comes back empty,
-- and that is safe: in-flight batches and triggers rolled back with it, and a backfill that meets
-- a row again skips it (already in audits or quarantine). No WAL for a per-row random index.
CREATE UNLOGGED TABLE cqms_migration.p02_sync_claims (
  legacy_table text NOT NULL,
  id uuid NOT NULL,
  claimed_by text NOT NULL DEFAULT 'backfill',
  PRIMARY KEY (legacy_table, id)
);

-- The legacy tables phase 2 adopted (install_sync_triggers writes a row per table): the table by
-- OID (a rename does not lose it), its scorecard, and the columns it had then. The reverse sync
-- finds its table here; `cqms-migrate status` and the runner compare it with the catalog (drift).
CREATE TABLE cqms_migration.p02_legacy_tables (
  legacy_table text PRIMARY KEY,
  relid oid NOT NULL,
  scorecard_id uuid,
  columns jsonb NOT NULL,
  adopted_at timestamptz NOT NULL DEFAULT now()
);

-- writes through audits whose legacy table is gone (dropped after adoption): kept in audits,
-- listed here and by `cqms-migrate status`
CREATE TABLE cqms_migration.p02_unsynced (
  audit_id uuid NOT NULL,
  legacy_table text,
  operation text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (audit_id, operation)
);

-- the vocabularies (vocab.py): legacy spelling (vocab_key) -> unified value, per constrained
-- column ('channel': -> channel code), from the built-in defaults and params (step load_value_maps)
CREATE TABLE cqms_migration.p02_value_map (
  vocabulary text NOT NULL,
  legacy text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (vocabulary, legacy)
);

-- what each parameter column means (parameters.py; step load_parameter_kinds): an error count, an
-- error flag (the values that mean an error, as vocab keys; how the table spells yes and no),
-- points earned out of max_points, or feedback text; read by the backfill, the syncs and verify
CREATE TABLE cqms_migration.p02_parameter_kinds (
  legacy_table text NOT NULL,
  column_name text NOT NULL,
  field_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('count', 'flag', 'points', 'feedback')),
  error_values text[] NOT NULL DEFAULT '{{}}',
  max_points numeric,
  error_spelling text,
  ok_spelling text,
  PRIMARY KEY (legacy_table, column_name)
);

-- the score a parameter column holds for an audit's errors (written back when audit_errors change
-- through the new path), as its meaning says: a count; a flag's error or no-error spelling as the
-- table writes them; the points left out of max
CREATE FUNCTION cqms_migration.p02_score_of(p_audit uuid, p_field text, p_count integer, p_penalty numeric)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    (SELECT CASE k.kind
              WHEN 'flag' THEN to_jsonb(CASE WHEN p_count > 0 THEN coalesce(k.error_spelling, 'yes')
                                             ELSE coalesce(k.ok_spelling, 'no') END)
              WHEN 'points' THEN to_jsonb(CASE WHEN p_count > 0 THEN k.max_points - coalesce(p_penalty, 0)
                                               ELSE k.max_points END)
            END
     FROM public.audits a JOIN cqms_migration.p02_parameter_kinds k ON k.legacy_table = a.legacy_table
     WHERE a.id = p_audit AND k.column_name = p_field AND k.kind IN ('flag', 'points')),
    to_jsonb(greatest(coalesce(p_count, 0), 0)))
$$;
REVOKE ALL ON FUNCTION cqms_migration.p02_score_of(uuid, text, integer, numeric) FROM PUBLIC, anon, authenticated, service_role;

-- phase 2's settings from params (step load_value_maps): the business time zone a time stamp's
-- date is read in
CREATE TABLE cqms_migration.p02_settings (
  name text PRIMARY KEY,
  value text NOT NULL
);
-- an interaction_date held as timestamptz, as the date it falls on in the business time zone
CREATE FUNCTION cqms_migration.business_date(ts timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT (ts AT TIME ZONE coalesce((SELECT s.value FROM cqms_migration.p02_settings s WHERE s.name = 'business_time_zone'),
                                   'UTC'))::date
$$;
REVOKE ALL ON FUNCTION cqms_migration.business_date(timestamptz) FROM PUBLIC, anon, authenticated, service_role;

-- the tables scorecards name that phase 2 does not migrate (not an audit table, or excluded in
-- params), with why (step load_value_maps): writes through audits never reach them, drift does
-- not report them as new
CREATE TABLE cqms_migration.p02_not_migrated (
  legacy_table text PRIMARY KEY,
  disposition text NOT NULL
);

-- the legacy table a write through audits may reach (the reverse sync, the provenance of a new
-- audit): an adopted table by OID from the registry; else (a scorecard table created since
-- adoption) a plain table in public of that name with an audit table's columns, never a core
-- legacy table, a table of the runbook, or one phase 2 does not migrate. The name comes from
-- audits.legacy_table, which the provenance trigger sets and the API roles cannot change; this
-- function is the second wall (a scorecard row naming 'employees' reaches nothing).
CREATE FUNCTION cqms_migration.p02_legacy_rel(p_table text) RETURNS regclass
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    (SELECT c.oid::regclass FROM cqms_migration.p02_legacy_tables r JOIN pg_catalog.pg_class c ON c.oid = r.relid
     WHERE r.legacy_table = p_table),
    (SELECT c.oid::regclass FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = p_table AND c.relkind IN ('r', 'p')
       AND p_table <> ALL ({not_targets}::text[]) AND p_table NOT LIKE '%\_compat'
       AND NOT EXISTS (SELECT 1 FROM cqms_migration.p02_not_migrated x WHERE x.legacy_table = p_table)
       AND (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
            AND NOT a.attisdropped AND a.attname IN ('id', 'employee_email', 'auditor_email', 'interaction_date')) = 4))
$$;
REVOKE ALL ON FUNCTION cqms_migration.p02_legacy_rel(text) FROM PUBLIC, anon, authenticated, service_role;

-- how each legacy table spells a unified value when a write through audits reaches it (its own
-- most used spelling; written with the table's compat view, never changed after)
CREATE TABLE cqms_migration.p02_legacy_spellings (
  legacy_table text NOT NULL,
  vocabulary text NOT NULL,
  value text NOT NULL,
  spelling text NOT NULL,
  PRIMARY KEY (legacy_table, vocabulary, value)
);
