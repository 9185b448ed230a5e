-- the rollback's own write passes the rollback fence (revert/install_reverse_sync.sql)
SELECT set_config('cqms.sync_echo', 'runbook:revert', true);
-- after the triggers are gone: what they wrote since merge_employees was reverted goes too (the
-- state before this step had no employee), then the functions
DELETE FROM cqms_migration.employee_email_map;
DELETE FROM cqms_migration.employee_sources;
DELETE FROM public.employees;
DELETE FROM cqms_migration.quarantine WHERE phase = '01_foundation';
DROP FUNCTION IF EXISTS cqms_migration.p01_forward_sync();
DROP TABLE IF EXISTS cqms_migration.p01_pending;
DROP FUNCTION IF EXISTS cqms_migration.p01_flush();
DROP FUNCTION IF EXISTS cqms_migration.p01_flush_pending();
DROP FUNCTION IF EXISTS cqms_migration.p01_apply(text[], boolean);
DROP FUNCTION IF EXISTS cqms_migration.p01_touch(text[], boolean);
DROP TYPE IF EXISTS cqms_migration.p01_touch_row;
DROP FUNCTION IF EXISTS cqms_migration.p01_relink(text[]);
DROP FUNCTION IF EXISTS cqms_migration.p01_expected(text[]);
DROP FUNCTION IF EXISTS cqms_migration.p01_expected_of(cqms_migration.p01_source[]);
DROP FUNCTION IF EXISTS cqms_migration.p01_sources(text[]);
DROP TYPE IF EXISTS cqms_migration.p01_row;
DROP TYPE IF EXISTS cqms_migration.p01_person;
DROP TYPE IF EXISTS cqms_migration.p01_source;
-- lint waived: a rollback of phase 01 has switched the application back to the legacy tables first
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS public.employees_legacy_supervisor_idx;
-- lint waived: as above
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX IF EXISTS public.employees_legacy_mentor_idx;
DROP FUNCTION IF EXISTS cqms_migration.p01_trusted_writer();
DROP FUNCTION IF EXISTS cqms_migration.p01_writer();
DROP TABLE IF EXISTS cqms_migration.p01_role_holds;
DROP TABLE IF EXISTS cqms_migration.p01_role_vouch;
DROP TABLE IF EXISTS cqms_migration.p01_role_taint;
DROP FUNCTION IF EXISTS cqms_migration.p01_merge_chunk(text, text);
DROP FUNCTION IF EXISTS cqms_migration.p01_unmerge_chunk(text, text, boolean);
DROP FUNCTION IF EXISTS cqms_migration.p01_unmerge_wait(double precision);
DROP FUNCTION IF EXISTS cqms_migration.p01_lock_key(text);
DROP TABLE IF EXISTS cqms_migration.p01_email_locks
