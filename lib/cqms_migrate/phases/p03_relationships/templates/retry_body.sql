-- An employee (inserted, or their email changed) or an audit (inserted) that assignments were
-- waiting for: those assignments are applied again, in this transaction. Their legacy rows are
-- locked FOR SHARE first, so none changes under the apply (a lock, not a change).
DECLARE
  v_keys text[];
BEGIN
  IF TG_TABLE_NAME = 'employees' THEN
    SELECT array_agg(w.assignment_key ORDER BY w.assignment_key) INTO v_keys FROM cqms_migration.p03_waiting w
    WHERE w.kind = 'email' AND w.wait_key = md5(lower(btrim(NEW.email)));
  ELSE
    SELECT array_agg(w.assignment_key ORDER BY w.assignment_key) INTO v_keys FROM cqms_migration.p03_waiting w
    WHERE w.kind = 'audit' AND w.wait_key = NEW.id::text;
  END IF;
  IF v_keys IS NULL THEN
    RETURN NULL;
  END IF;
  -- the waiting legacy rows that no transaction is writing now (SKIP LOCKED): a hire never waits
  -- for a writer (that wait could close a cycle with the writer's own commit); a row skipped here
  -- is applied by its writer's next write or by a re-run of the phase (Backfill re-applies what
  -- waits for an employee or audit that exists). A retry that cannot write
  -- (the legacy table moved since deploy) never fails the hire or the audit: they stay as they were
  BEGIN
    SELECT array_agg(l.k ORDER BY l.k) INTO v_keys
    FROM (SELECT t.{id_column}::text AS k FROM public.{table} t WHERE t.{id_column} = ANY (v_keys::{id_type}[])
          ORDER BY t.{id_column} FOR SHARE SKIP LOCKED) l;
    PERFORM cqms_migration.p03_apply(v_keys, 'retry');
  EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_column OR datatype_mismatch
                 OR cannot_coerce OR undefined_function OR wrong_object_type OR program_limit_exceeded
                 OR cardinality_violation THEN
    NULL;
  END;
  RETURN NULL;
END
