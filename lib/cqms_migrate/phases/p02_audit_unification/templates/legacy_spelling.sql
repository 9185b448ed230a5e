-- how a legacy table spells a unified value (kept once chosen: writes through audits stay consistent)
INSERT INTO cqms_migration.p02_legacy_spellings (legacy_table, vocabulary, value, spelling)
VALUES ({table_name}, {vocabulary}, {value}, {spelling})
ON CONFLICT (legacy_table, vocabulary, value) DO NOTHING
