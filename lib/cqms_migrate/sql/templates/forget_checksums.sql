DELETE FROM cqms_migration.legacy_checksums WHERE phase = {phase}
