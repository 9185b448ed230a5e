-- what the backfill and the sync wrote: the assignments, their quarantine, the waits and claims,
-- and the job's checkpoint (a re-run starts over; the rows' ids are the legacy ids, so it writes
-- the same rows again)
-- (past a rolled-back cutover's fence: the rollback's own write)
SELECT set_config('cqms.sync_echo', 'runbook:revert', true);
DELETE FROM public.assignments;
DELETE FROM cqms_migration.quarantine WHERE phase = '03_relationships';
DELETE FROM cqms_migration.p03_waiting;
DELETE FROM cqms_migration.p03_claims;
DELETE FROM cqms_migration.checkpoints WHERE job = 'p03_backfill:audit_assignments';
