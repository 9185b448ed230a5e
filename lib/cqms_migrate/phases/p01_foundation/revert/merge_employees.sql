-- the last of merge_employees' revert (the chunks before it retired and deleted the employees,
-- p01_unmerge_chunk): the rollback's own write passes the rollback fence
-- (revert/install_reverse_sync.sql)
SELECT set_config('cqms.sync_echo', 'runbook:revert', true);
-- the lock rows the merge and the chunks left (serialisation only, re-created on demand): taken
-- whole for the moment of one delete, so no apply holds a row that goes
LOCK TABLE cqms_migration.p01_email_locks IN EXCLUSIVE MODE;
DELETE FROM cqms_migration.p01_email_locks;
DELETE FROM cqms_migration.quarantine WHERE phase = '01_foundation';
