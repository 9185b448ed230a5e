-- the rollback's own write passes the rollback fence (revert/install_reverse_sync.sql)
SELECT set_config('cqms.sync_echo', 'runbook:revert', true);
-- the sync triggers are still on users and people: wait for the applies in flight and hold new
-- ones back (they take rows of this table) until the employees are gone; else a writer's apply
-- and this delete lock rows of employees and the provenance in opposite orders
LOCK TABLE cqms_migration.p01_email_locks IN EXCLUSIVE MODE;
-- (the merge's chunks left a lock row per email: serialisation only, re-created on demand)
DELETE FROM cqms_migration.p01_email_locks;
DELETE FROM cqms_migration.employee_email_map;
DELETE FROM cqms_migration.employee_sources;
DELETE FROM public.employees;
DELETE FROM cqms_migration.quarantine WHERE phase = '01_foundation';
