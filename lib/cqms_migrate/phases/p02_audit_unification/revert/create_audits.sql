DROP TABLE IF EXISTS cqms_migration.p02_value_map;
DROP TABLE IF EXISTS cqms_migration.p02_legacy_spellings;
DROP TABLE IF EXISTS cqms_migration.p02_not_migrated;
DROP FUNCTION IF EXISTS cqms_migration.business_date(timestamptz);
DROP TABLE IF EXISTS cqms_migration.p02_settings;
DROP TABLE IF EXISTS cqms_migration.p02_parameter_kinds;
DROP TABLE IF EXISTS cqms_migration.p02_sync_claims;
DROP TABLE IF EXISTS cqms_migration.p02_legacy_tables;
DROP TABLE IF EXISTS cqms_migration.p02_unsynced;
-- (the patch function's argument is the audits row type: it goes before the table)
DROP FUNCTION IF EXISTS cqms_migration.p02_legacy_patch(public.audits);
DROP FUNCTION IF EXISTS cqms_migration.p02_score_of(uuid, text, integer, numeric);
DROP TABLE IF EXISTS public.audit_errors;
DROP TABLE IF EXISTS public.audits;
DROP FUNCTION IF EXISTS public.audits_bump_version();
DROP FUNCTION IF EXISTS cqms_migration.p02_fence();
DROP FUNCTION IF EXISTS cqms_migration.p02_errors_write_back();
DROP FUNCTION IF EXISTS cqms_migration.p02_reverse_sync();
DROP FUNCTION IF EXISTS cqms_migration.p02_audit_provenance();
