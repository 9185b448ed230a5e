-- assignments (seed 2.4 "Enhanced Audit Assignments"), done as the seed means it:
--  * a new table beside the legacy audit_assignments, which the application keeps writing until
--    phase 05 (decision 3.1): the seed's in-place UPDATE would refuse legacy writes the moment its
--    constraints exist;
--  * id = the legacy row's id (deterministic: a rollback and re-run gives the same ids);
--  * the foreign keys come after the backfill, NOT VALID then validated (add_foreign_keys): the
--    backfill pays no per-row key check and holds no key-share lock on employees;
--  * with partitioned audits the key to audits is (audit_id, audit_interaction_date), as
--    audit_errors' is.
CREATE TABLE public.assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  employee_id uuid NOT NULL,
  auditor_id uuid NOT NULL,
  assigner_id uuid,
  scorecard_id uuid,
  status text DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled', 'on_hold')),
  priority text DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  scheduled_date date NOT NULL,
  due_date date,
  week integer,
  quarter text,
  interaction_id text,
  conversation_id text,
  intercom_alias text,
  source_type text CHECK (source_type IN ('manual', 'automated', 'import', 'api')),
  completed_at timestamptz,
  audit_id uuid,
  {audit_date_column}
  completion_notes text,
  cancelled_at timestamptz,
  cancelled_by uuid,
  cancellation_reason text,
  metadata jsonb DEFAULT '{{}}'::jsonb,
  tags text[],
  created_at timestamptz DEFAULT now() NOT NULL,
  updated_at timestamptz DEFAULT now() NOT NULL,
  CONSTRAINT no_self_assignment CHECK (employee_id != auditor_id),
  CONSTRAINT valid_due_date CHECK (due_date IS NULL OR due_date >= scheduled_date)
);

-- no moment of exposure: RLS on and Supabase's default grants revoked in the creating transaction
ALTER TABLE public.assignments ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.assignments FROM PUBLIC, anon, authenticated;

-- the claims that arbitrate between the backfill and the sync trigger (as phase 02's): the
-- backfill claims with DO NOTHING and skips what a trigger claimed; a trigger claims with DO
-- UPDATE, waiting for a batch holding the claim, and then writes the newer version
CREATE UNLOGGED TABLE cqms_migration.p03_claims (
  assignment_key text PRIMARY KEY,
  claimed_by text NOT NULL DEFAULT 'backfill'
);

-- assignments waiting for an employee (md5 of a normalized email) or an audit (its id) to appear
CREATE TABLE cqms_migration.p03_waiting (
  assignment_key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('email', 'audit')),
  wait_key text NOT NULL,
  PRIMARY KEY (assignment_key, kind, wait_key)
);
CREATE INDEX p03_waiting_key_idx ON cqms_migration.p03_waiting (kind, wait_key);

-- the vocabularies of the constrained assignment columns (legacy key -> unified value)
CREATE TABLE cqms_migration.p03_value_map (
  vocabulary text NOT NULL,
  legacy text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (vocabulary, legacy)
);
