-- The seed's indexes on assignments (section 2.4), built CONCURRENTLY after the load. Kept: the
-- keys (each foreign key's referencing side: deleting an employee or an audit checks them), the
-- auditor's work list and the due dates. Which of the others earn their cost is phase 04's
-- measurement (decision 3.6).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_employee_id ON public.assignments (employee_id) WHERE status <> 'cancelled';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_employee_fk ON public.assignments (employee_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_auditor_id ON public.assignments (auditor_id) WHERE status <> 'cancelled';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_assigner_id ON public.assignments (assigner_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_scorecard_id ON public.assignments (scorecard_id) WHERE status <> 'cancelled';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_audit_id ON public.assignments (audit_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_status ON public.assignments (status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_scheduled_date ON public.assignments (scheduled_date DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_due_date ON public.assignments (due_date) WHERE status IN ('pending', 'in_progress');
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_auditor_status_date ON public.assignments (auditor_id, status, scheduled_date DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_week_quarter ON public.assignments (week, quarter) WHERE status <> 'cancelled';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_assignments_cancelled_by ON public.assignments (cancelled_by) WHERE cancelled_by IS NOT NULL;
