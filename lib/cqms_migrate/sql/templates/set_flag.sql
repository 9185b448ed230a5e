-- A feature flag the application reads, with the run that set it (a flag the ledger's list does
-- not name yet is added: a phase declares its own)
INSERT INTO cqms_migration.feature_flags AS f (flag, enabled, updated_at, updated_by_run)
VALUES ({flag}, {enabled}, clock_timestamp(), current_setting('cqms.run_id', true))
ON CONFLICT (flag) DO UPDATE
SET enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at, updated_by_run = EXCLUDED.updated_by_run
