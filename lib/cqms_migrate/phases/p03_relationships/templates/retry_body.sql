-- An employee (inserted, or their email changed) or an audit (inserted) that assignments were
-- waiting for: those assignments are applied again, in this transaction. Their legacy rows are
-- read FOR SHARE first, so an application writing one of them at the same moment is waited for
-- and its version is the one applied (a lock, not a change: no REPEATABLE READ writer fails on it).
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
  PERFORM 1 FROM (SELECT t.{id_column} FROM public.{table} t WHERE t.{id_column} = ANY (v_keys::{id_type}[])
                  ORDER BY t.{id_column} FOR SHARE) l;
  -- a retry that cannot write never fails the hire or the audit: the assignments stay as they were
  BEGIN
    PERFORM cqms_migration.p03_apply(v_keys, 'retry');
  EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
    NULL;
  END;
  RETURN NULL;
END
