DROP VIEW IF EXISTS public.people_compat;
DROP VIEW IF EXISTS public.users_compat;
