-- The migration ledger: what ran, what is applied, checkpoints, quarantine, feature flags.
-- Idempotent; created by the first run on a database, as the migration role.
CREATE SCHEMA IF NOT EXISTS cqms_migration;

CREATE TABLE IF NOT EXISTS cqms_migration.runs (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  env           text NOT NULL,
  phase         text NOT NULL,
  action        text NOT NULL CHECK (action IN ('deploy', 'rollback', 'preflight', 'dry_run')),
  operator      text NOT NULL DEFAULT current_user,
  client_host   text,
  tool_version  text,
  git_commit    text,
  params        jsonb,
  status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  message       text,
  started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at   timestamptz,
  UNIQUE (run_id, phase, action)
);

-- one row per step action taken (append-only history, sqitch/Flyway style)
CREATE TABLE IF NOT EXISTS cqms_migration.steps (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  phase         text NOT NULL,
  step          text NOT NULL,
  action        text NOT NULL CHECK (action IN ('deploy', 'revert')),
  status        text NOT NULL CHECK (status IN ('applied', 'reverted', 'failed')),
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  rows_affected bigint,
  attempts      integer NOT NULL DEFAULT 1,
  sql_sha256    text,
  sql_text      text,
  message       text
);
CREATE INDEX IF NOT EXISTS steps_phase_step_idx ON cqms_migration.steps (phase, step, id);

-- statements a step decided while it ran, recorded as they ran (a batch's page range, an index
-- build retried under a longer lock_timeout, a rebuild of what a killed build left); the step's
-- rendered statements are steps.sql_text: together, everything the step executed
CREATE TABLE IF NOT EXISTS cqms_migration.step_statements (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  phase         text NOT NULL,
  step          text NOT NULL,
  action        text NOT NULL CHECK (action IN ('deploy', 'revert')),
  sql_sha256    text NOT NULL,
  sql_text      text NOT NULL,
  executed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS step_statements_step_idx ON cqms_migration.step_statements (phase, step, id);

-- the current state of each step: present iff the step is applied
CREATE TABLE IF NOT EXISTS cqms_migration.applied_steps (
  phase         text NOT NULL,
  step          text NOT NULL,
  ordinal       integer NOT NULL,
  run_id        text NOT NULL,
  sql_sha256    text,
  applied_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (phase, step)
);

-- resumable positions of batched jobs (backfills)
CREATE TABLE IF NOT EXISTS cqms_migration.checkpoints (
  job           text PRIMARY KEY,
  phase         text NOT NULL,
  position      jsonb,
  rows_done     bigint NOT NULL DEFAULT 0,
  batches_done  bigint NOT NULL DEFAULT 0,
  finished      boolean NOT NULL DEFAULT false,
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- the batch size the engine tuned itself to, so a resumed job starts where it left off
ALTER TABLE cqms_migration.checkpoints ADD COLUMN IF NOT EXISTS next_rows integer;

-- one row per committed batch of a batched job (written in the batch's transaction)
CREATE TABLE IF NOT EXISTS cqms_migration.batches (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  phase         text NOT NULL,
  job           text NOT NULL,
  batch         integer NOT NULL,
  position_from jsonb,
  position_to   jsonb,
  target_rows   integer NOT NULL,
  rows_read     integer NOT NULL,
  rows_written  integer NOT NULL,
  rows_quarantined integer NOT NULL,
  seconds       double precision NOT NULL,
  next_rows     integer NOT NULL,
  finished_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS batches_phase_job_idx ON cqms_migration.batches (phase, job, id);

-- what the batch engine decided and why: size changes, throttling on a health signal, a batch
-- split after a statement timeout, a restart after a table rewrite
CREATE TABLE IF NOT EXISTS cqms_migration.batch_decisions (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  phase         text NOT NULL,
  job           text NOT NULL,
  batch         integer,
  decision      text NOT NULL,
  reason        text NOT NULL,
  detail        jsonb,
  decided_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS batch_decisions_phase_job_idx ON cqms_migration.batch_decisions (phase, job, id);

-- every legacy row that could not be migrated, whole, with its reason
CREATE TABLE IF NOT EXISTS cqms_migration.quarantine (
  id            bigserial PRIMARY KEY,
  phase         text NOT NULL,
  source_table  text NOT NULL,
  source_key    text NOT NULL,
  reason        text NOT NULL,
  detail        text,
  original_row  jsonb NOT NULL,
  run_id        text,
  quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (phase, source_table, source_key)
);

-- checksums of legacy tables taken before a phase deploys, compared after its revert
CREATE TABLE IF NOT EXISTS cqms_migration.legacy_checksums (
  phase         text NOT NULL,
  table_name    text NOT NULL,
  row_count     bigint NOT NULL,
  checksum      text NOT NULL,
  taken_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (phase, table_name)
);

-- results a phase records (reconciliation figures, benchmark ratios) for reviewers and tests
CREATE TABLE IF NOT EXISTS cqms_migration.metrics (
  id            bigserial PRIMARY KEY,
  run_id        text NOT NULL,
  phase         text NOT NULL,
  name          text NOT NULL,
  value         jsonb NOT NULL,
  recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- the flags the application reads to choose legacy or unified code paths
CREATE TABLE IF NOT EXISTS cqms_migration.feature_flags (
  flag          text PRIMARY KEY,
  enabled       boolean NOT NULL DEFAULT false,
  description   text,
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_by_run text
);
INSERT INTO cqms_migration.feature_flags (flag, description) VALUES
  ('USE_UNIFIED_EMPLOYEES_TABLE', 'read employees instead of users + people (phase 01_foundation)'),
  ('USE_UNIFIED_AUDITS_TABLE', 'read and write audits instead of the per-scorecard tables (phase 02_audit_unification)'),
  ('USE_UNIFIED_ASSIGNMENTS', 'read and write assignments instead of audit_assignments (phase 03_relationships)'),
  ('USE_MATERIALIZED_VIEWS', 'read reports from materialized views (phase 04)')
ON CONFLICT (flag) DO NOTHING;

-- the application (any Supabase role) may read the flags, nothing else here
GRANT USAGE ON SCHEMA cqms_migration TO anon, authenticated, service_role;
GRANT SELECT ON cqms_migration.feature_flags TO anon, authenticated, service_role;

-- Lossless conversion of a legacy value to the type the unified schema holds it in (lib
-- cqms_migrate/convert.py decides which legacy types need one). Each returns NULL when the text
-- does not denote exactly one value of the type: the row is then reported (never a value guessed
-- or rounded) and the legacy value stays where it was. Times are read in UTC and only in ISO
-- 8601 order ('03/04/2024' could be March or April: not converted), whatever the session's
-- TimeZone and DateStyle. Replaced on every run: one definition.
CREATE OR REPLACE FUNCTION cqms_migration.to_integer(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN v ~ '^\s*[-+]?[0-9]{1,10}\s*$' THEN
           CASE WHEN v::bigint BETWEEN -2147483648 AND 2147483647 THEN v::integer END END
$$;
CREATE OR REPLACE FUNCTION cqms_migration.to_numeric(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  -- at most 1000 characters and an exponent of at most three digits: within what numeric holds
  SELECT CASE WHEN length(v) <= 1000 AND v ~ '^\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
              THEN v::numeric END
$$;
CREATE OR REPLACE FUNCTION cqms_migration.to_boolean(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN lower(btrim(v)) IN ('t', 'true', 'y', 'yes', 'on', '1') THEN true
              WHEN lower(btrim(v)) IN ('f', 'false', 'n', 'no', 'off', '0') THEN false END
$$;
CREATE OR REPLACE FUNCTION cqms_migration.to_uuid(v text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN btrim(v) ~* '^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$' THEN btrim(v)::uuid END
$$;
CREATE OR REPLACE FUNCTION cqms_migration.to_timestamptz(v text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = '' SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' AS $$
BEGIN
  IF btrim(v) !~ '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' THEN
    RETURN NULL;
  END IF;
  RETURN v::timestamptz;
EXCEPTION WHEN data_exception THEN
  RETURN NULL;  -- a month 13, a 30 February
END $$;
CREATE OR REPLACE FUNCTION cqms_migration.to_date(v text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = '' SET DateStyle = 'ISO, YMD' AS $$
BEGIN
  -- a date, or a time of day that is exactly midnight (a timestamp column holding dates)
  IF btrim(v) !~ '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}( 00:00(:00([.]0+)?)?)?$' THEN
    RETURN NULL;
  END IF;
  RETURN split_part(btrim(v), ' ', 1)::date;
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION cqms_migration.to_jsonb(v text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
BEGIN
  RETURN v::jsonb;
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END $$;
-- a duration as a number of seconds: whole seconds, 'mm:ss' or 'h:mm:ss' (minutes and seconds
-- below 60 after the first field); anything else is not one
CREATE OR REPLACE FUNCTION cqms_migration.to_seconds(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE
    WHEN v ~ '^\s*[0-9]{1,9}\s*$' THEN btrim(v)::integer
    WHEN v ~ '^\s*[0-9]{1,6}:[0-5][0-9]\s*$' THEN split_part(btrim(v), ':', 1)::integer * 60 + split_part(btrim(v), ':', 2)::integer
    WHEN v ~ '^\s*[0-9]{1,4}:[0-5][0-9]:[0-5][0-9]\s*$'
      THEN split_part(btrim(v), ':', 1)::integer * 3600 + split_part(btrim(v), ':', 2)::integer * 60
           + split_part(btrim(v), ':', 3)::integer
  END
$$;
REVOKE ALL ON FUNCTION cqms_migration.to_seconds(text) FROM PUBLIC, anon, authenticated, service_role;
-- and back: seconds as people type a duration ('12:34', '1:02:03' from an hour), which
-- to_seconds reads as the same number (a text duration column written through audits)
CREATE OR REPLACE FUNCTION cqms_migration.clock_duration(s integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN s IS NULL OR s < 0 OR s >= 36000000 THEN s::text
              WHEN s >= 3600 THEN format('%s:%s:%s', s / 3600, lpad((s % 3600 / 60)::text, 2, '0'), lpad((s % 60)::text, 2, '0'))
              ELSE format('%s:%s', s / 60, lpad((s % 60)::text, 2, '0')) END
$$;
REVOKE ALL ON FUNCTION cqms_migration.clock_duration(integer) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION cqms_migration.to_integer(text), cqms_migration.to_numeric(text),
  cqms_migration.to_boolean(text), cqms_migration.to_uuid(text), cqms_migration.to_timestamptz(text),
  cqms_migration.to_date(text), cqms_migration.to_jsonb(text) FROM PUBLIC, anon, authenticated, service_role;

-- The matching key of a legacy spelling (lib/cqms_migrate/vocab.py: key): lower case, '-', '_'
-- and runs of whitespace as one space, trimmed; NULL for a blank value. Every vocabulary (statuses,
-- roles, countries, channels) is matched through it.
-- (the shaped SELECT, on every backfilled row and legacy write, writes the same expression inline,
-- vocab.KEY_SQL: a call to a function with a SET clause costs twice the expression, 4.4 against
-- 2.2 microseconds; tests/test_outcome.py checks the two are the same text)
CREATE OR REPLACE FUNCTION cqms_migration.vocab_key(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT nullif(lower(btrim(regexp_replace(v, '[-_[:space:]]+', ' ', 'g'))), '')
$$;
-- The audits id of a legacy audit row whose table is not keyed by uuid (a bigint, an integer, a
-- text id): its canonical uuid text as that uuid, else a name-based uuid of table and id (md5,
-- as employees' and the reference rows' ids). Stable across re-runs and rollbacks; the legacy id
-- itself stays in audits.legacy_id.
CREATE OR REPLACE FUNCTION cqms_migration.audit_uuid(p_table text, p_id text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = '' AS $$
  SELECT CASE WHEN p_id IS NULL THEN NULL
              WHEN p_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN p_id::uuid
              ELSE md5('cqms-audit:' || p_table || ':' || p_id)::uuid END
$$;
REVOKE ALL ON FUNCTION cqms_migration.vocab_key(text), cqms_migration.audit_uuid(text, text)
  FROM PUBLIC, anon, authenticated, service_role;
