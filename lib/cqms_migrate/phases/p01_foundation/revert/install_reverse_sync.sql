-- Rolling back after cutover: the flag went off first and the runbook waited
-- params.flag_propagation_s for the application to switch to users and people. Now a fence makes
-- employees refuse writes — a late writer gets an error, never a write the rollback would lose.
-- The forward sync (a legacy write re-applied by its trigger) and the rollback's own later steps
-- still write through it. Its lock (SHARE ROW EXCLUSIVE: waits for in-flight writers within the
-- lock-retry table, blocks no reader) is the strongest this takes: the reverse sync trigger
-- stays behind the fence and goes with the table (create_employees), as the fence does.
LOCK TABLE public.employees IN SHARE ROW EXCLUSIVE MODE;
CREATE OR REPLACE FUNCTION cqms_migration.p01_fence() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF pg_trigger_depth() > 1 AND current_setting('cqms.sync_echo', true) LIKE 'forward:%'
     OR current_setting('cqms.sync_echo', true) = 'runbook:revert' THEN
    RETURN NULL;  -- the forward sync, or the rollback's own later steps
  END IF;
  RAISE EXCEPTION 'public.employees refuses writes while phase 01_foundation rolls back: USE_UNIFIED_EMPLOYEES_TABLE is off, write through users and people'
    USING ERRCODE = 'read_only_sql_transaction';
END $$;
REVOKE ALL ON FUNCTION cqms_migration.p01_fence() FROM PUBLIC;
CREATE OR REPLACE TRIGGER cqms_p01_fence BEFORE INSERT OR UPDATE OR DELETE ON public.employees
  FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p01_fence();
