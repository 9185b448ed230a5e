-- what the backfill wrote: audits and their errors, the claims, the phase's quarantine, its
-- checkpoints and the placeholder employees of unknown_email_policy: placeholder
TRUNCATE public.audit_errors, public.audits, cqms_migration.p02_sync_claims;
DELETE FROM cqms_migration.quarantine WHERE phase = '02_audit_unification';
DELETE FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%';
DELETE FROM public.employees WHERE legacy_snapshot ->> 'placeholder_phase' = '02_audit_unification';
