ALTER TABLE public.teams DROP CONSTRAINT IF EXISTS teams_supervisor_id_fkey;
ALTER TABLE public.departments DROP CONSTRAINT IF EXISTS departments_manager_id_fkey;
