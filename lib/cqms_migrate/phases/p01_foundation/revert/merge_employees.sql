DELETE FROM cqms_migration.employee_email_map;
DELETE FROM cqms_migration.employee_sources;
DELETE FROM public.employees;
DELETE FROM cqms_migration.quarantine WHERE phase = '01_foundation';
