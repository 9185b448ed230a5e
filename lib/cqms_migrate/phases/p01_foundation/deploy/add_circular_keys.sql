-- The seed's circular references, added once both ends exist. The tables are new and
-- empty, so plain (validated) foreign keys take no time and lock nothing the application uses.
ALTER TABLE public.departments
  ADD CONSTRAINT departments_manager_id_fkey FOREIGN KEY (manager_id) REFERENCES public.employees(id);
ALTER TABLE public.teams
  ADD CONSTRAINT teams_supervisor_id_fkey FOREIGN KEY (supervisor_id) REFERENCES public.employees(id);
CREATE INDEX idx_departments_manager_id ON public.departments (manager_id);
CREATE INDEX idx_teams_supervisor_id ON public.teams (supervisor_id) WHERE is_active = true;
