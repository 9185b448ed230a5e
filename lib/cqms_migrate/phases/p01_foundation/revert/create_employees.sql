DROP TABLE IF EXISTS cqms_migration.employee_email_map;
DROP TABLE IF EXISTS cqms_migration.employee_sources;
DROP TABLE IF EXISTS public.employees;
DROP FUNCTION IF EXISTS public.employees_bump_version();
