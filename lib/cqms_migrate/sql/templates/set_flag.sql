-- A feature flag the application reads, with the run that set it.
UPDATE cqms_migration.feature_flags
SET enabled = {enabled}, updated_at = clock_timestamp(), updated_by_run = current_setting('cqms.run_id', true)
WHERE flag = {flag}
