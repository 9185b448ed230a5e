-- Rolling back after cutover: the flag went off first and the runbook waited
-- params.flag_propagation_s for the application to switch to the legacy tables. Now, in one
-- transaction (its lock waits for in-flight writers, within the lock-retry table): a fence makes
-- audits and audit_errors refuse writes — a late writer gets an error, never a write the rollback
-- would lose — and the write-back triggers go. The forward sync still writes through the fence. The fence goes with the tables (create_audits).
LOCK TABLE public.audits, public.audit_errors IN SHARE ROW EXCLUSIVE MODE;
CREATE OR REPLACE FUNCTION cqms_migration.p02_fence() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  -- the forward sync (a legacy write re-applied by its trigger) still passes: it is nested in a
  -- trigger and carries its row marker; everything else is refused
  IF pg_trigger_depth() > 1 AND current_setting('cqms.sync_echo', true) LIKE 'forward:%'
     OR current_setting('cqms.sync_echo', true) = 'runbook:revert' THEN
    RETURN NULL;  -- the forward sync, or the rollback's own later steps
  END IF;
  RAISE EXCEPTION 'public.% refuses writes while phase 02_audit_unification rolls back: USE_UNIFIED_AUDITS_TABLE is off, write through the legacy tables', TG_TABLE_NAME
    USING ERRCODE = 'read_only_sql_transaction';
END $$;
REVOKE ALL ON FUNCTION cqms_migration.p02_fence() FROM PUBLIC;
CREATE OR REPLACE TRIGGER cqms_p02_fence BEFORE INSERT OR UPDATE OR DELETE ON public.audits
  FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p02_fence();
CREATE OR REPLACE TRIGGER cqms_p02_fence BEFORE INSERT OR UPDATE OR DELETE ON public.audit_errors
  FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p02_fence();
