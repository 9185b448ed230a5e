DROP VIEW IF EXISTS public.people_compat;
DROP VIEW IF EXISTS public.users_compat;
DROP TYPE IF EXISTS cqms_migration.p01_people_shape;
DROP TYPE IF EXISTS cqms_migration.p01_users_shape;
