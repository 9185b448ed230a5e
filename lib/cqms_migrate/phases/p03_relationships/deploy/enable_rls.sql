-- Who reads which assignments (docs/security.md, seed 2.4's intent): an agent their own, an
-- auditor the ones assigned to them (and the ones they assigned), a supervisor their team's, an
-- admin all, anon nothing. Until cutover the application writes assignments through the legacy
-- table (the sync keeps this one current), so no API role writes here yet: SELECT only.
CREATE POLICY assignments_select ON public.assignments FOR SELECT TO authenticated
  USING (employee_id = (SELECT cqms_security.current_employee_id())
         OR auditor_id = (SELECT cqms_security.current_employee_id())
         OR assigner_id = (SELECT cqms_security.current_employee_id())
         OR (SELECT cqms_security.current_access_level()) = 'admin'
         OR ((SELECT cqms_security.current_access_level()) = 'elevated'
             AND employee_id = ANY ((SELECT cqms_security.team_member_ids())::uuid[])));
GRANT SELECT ON public.assignments TO authenticated;
