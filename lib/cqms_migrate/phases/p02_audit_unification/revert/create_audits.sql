DROP TABLE IF EXISTS cqms_migration.p02_passing_status_map;
DROP TABLE IF EXISTS cqms_migration.p02_sync_claims;
DROP TABLE IF EXISTS public.audit_errors;
DROP TABLE IF EXISTS public.audits;
DROP FUNCTION IF EXISTS public.audits_bump_version();
