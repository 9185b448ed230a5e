DELETE FROM public.teams;
DELETE FROM public.channels;
DELETE FROM public.departments;
DELETE FROM public.countries;
DELETE FROM cqms_migration.p01_role_mapping;
DELETE FROM cqms_migration.p01_country_map;
DELETE FROM cqms_migration.p01_country_alias;
DELETE FROM public.roles;
