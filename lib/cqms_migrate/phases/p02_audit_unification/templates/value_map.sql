-- one legacy spelling (its vocab_key) of a vocabulary and the unified value it maps to
INSERT INTO cqms_migration.p02_value_map (vocabulary, legacy, value) VALUES ({vocabulary}, {legacy}, {value})
