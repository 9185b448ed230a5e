DROP TABLE IF EXISTS cqms_migration.p01_role_mapping;
DROP TABLE IF EXISTS public.teams;
DROP TABLE IF EXISTS public.channels;
DROP TABLE IF EXISTS public.departments;

DROP TABLE IF EXISTS public.roles;
DROP FUNCTION IF EXISTS cqms_migration.country_code(text);
DROP TABLE IF EXISTS cqms_migration.p01_country_map;
DROP TABLE IF EXISTS cqms_migration.p01_country_alias;
DROP FUNCTION IF EXISTS cqms_migration.ref_code(text);
DROP FUNCTION IF EXISTS cqms_migration.ref_name(text);
DROP TABLE IF EXISTS public.countries;
