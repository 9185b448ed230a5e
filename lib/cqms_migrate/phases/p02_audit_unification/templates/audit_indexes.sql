-- The seed's indexes on audits (section 2.3, plus the compat views' lookup), built after the load
-- (about 10x faster than loading into an indexed table), CONCURRENTLY: the sync triggers' writes
-- are never blocked. On a partitioned audits the step builds each ON ONLY the parent, CONCURRENTLY
-- per partition, then attaches (ddl.ConcurrentIndexes derives those statements from these).
CREATE INDEX CONCURRENTLY IF NOT EXISTS audits_legacy_idx ON public.audits (legacy_table, legacy_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_employee_id ON public.audits (employee_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_auditor_id ON public.audits (auditor_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_scorecard_id ON public.audits (scorecard_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_assignment_id ON public.audits (assignment_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_channel_id ON public.audits (channel_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_interaction_id ON public.audits USING hash (interaction_id) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_status ON public.audits (status) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_passing_status ON public.audits (passing_status) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_validation_status ON public.audits (validation_status) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_acknowledgement_status ON public.audits (acknowledgement_status) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_interaction_date ON public.audits (interaction_date DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_submitted_at ON public.audits (submitted_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_created_at ON public.audits (created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_audit_start_time ON public.audits (audit_start_time DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_auditor_status_date ON public.audits (auditor_id, status, submitted_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_employee_date ON public.audits (employee_id, interaction_date DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_scorecard_date ON public.audits (scorecard_id, submitted_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_channel_date ON public.audits (channel_id, interaction_date DESC) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_quarter_week ON public.audits (quarter, week) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_period_dates ON public.audits (period_start_date, period_end_date) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_reversal_requested ON public.audits (reversal_requested_at) WHERE reversal_requested_at IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_reversal_requested_by ON public.audits (reversal_requested_by);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_reversal_responded_by ON public.audits (reversal_responded_by);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_parameter_scores ON public.audits USING gin (parameter_scores) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_parameter_feedback ON public.audits USING gin (parameter_feedback) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_metadata ON public.audits USING gin (metadata) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_tags ON public.audits USING gin (tags) WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_transcript_search ON public.audits USING gin (to_tsvector('english', left(coalesce(transcript, ''), 100000)));
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_active_submitted ON public.audits (submitted_at DESC) WHERE status = 'submitted' AND deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_pending_acknowledgement ON public.audits (acknowledgement_status, submitted_at DESC) WHERE acknowledgement_status = 'pending' AND deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audits_reversal_pending ON public.audits (reversal_requested_at) WHERE reversal_approved IS NULL AND deleted_at IS NULL;
