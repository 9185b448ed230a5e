DROP TABLE IF EXISTS cqms_migration.p01_access_grants;
DROP TABLE IF EXISTS cqms_migration.employee_email_map;
DROP TABLE IF EXISTS cqms_migration.employee_sources;
DROP TABLE IF EXISTS public.employees;
DROP FUNCTION IF EXISTS public.employees_bump_version();
DROP FUNCTION IF EXISTS public.employees_auth_user_gone();
DROP FUNCTION IF EXISTS cqms_migration.p01_fence();
DROP FUNCTION IF EXISTS cqms_migration.p01_reverse_sync();
