-- Rolling back the cutover: the flag went off first and the runbook waited
-- params.flag_propagation_s for the application to write the legacy table again. Now, in one
-- transaction (its lock waits for in-flight writers, within the lock-retry table): a fence makes
-- assignments refuse every write but p03_apply's (the forward sync of legacy writes, which goes
-- on) and the rollback's own, so a late writer gets an error, never a write the rollback would
-- lose; then the write path goes (reverse sync, guard, write policies, grants). The fence goes
-- with the table (create_assignments' revert).
LOCK TABLE public.assignments IN SHARE ROW EXCLUSIVE MODE;
CREATE OR REPLACE FUNCTION cqms_migration.p03_fence() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF current_setting('cqms.sync_echo', true) IN ('apply:audit_assignments', 'forward:audit_assignments', 'runbook:revert') THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'public.assignments refuses writes while phase 03_relationships rolls back: USE_UNIFIED_ASSIGNMENTS is off, write public.audit_assignments'
    USING ERRCODE = 'read_only_sql_transaction';
END $$;
REVOKE ALL ON FUNCTION cqms_migration.p03_fence() FROM PUBLIC;
CREATE OR REPLACE TRIGGER p03_fence BEFORE INSERT OR UPDATE OR DELETE ON public.assignments
  FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p03_fence();
DROP TRIGGER IF EXISTS p03_reverse_sync ON public.assignments;
DROP TRIGGER IF EXISTS assignments_guard ON public.assignments;
DROP POLICY IF EXISTS assignments_insert ON public.assignments;
DROP POLICY IF EXISTS assignments_update ON public.assignments;
DROP POLICY IF EXISTS assignments_delete ON public.assignments;
REVOKE INSERT, UPDATE, DELETE ON public.assignments FROM authenticated;
DROP FUNCTION IF EXISTS cqms_migration.p03_reverse_sync();
DROP FUNCTION IF EXISTS cqms_security.assignments_guard();
