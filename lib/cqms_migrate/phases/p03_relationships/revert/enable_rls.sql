-- back to the state create_assignments left: RLS on, no policy, no grant to the API roles
DROP POLICY IF EXISTS assignments_select ON public.assignments;
REVOKE ALL ON public.assignments FROM anon, authenticated;
