-- how a legacy people.country spelling (vocab_key) maps to a country code (params country_map)
INSERT INTO cqms_migration.p01_country_map (legacy, code) VALUES ({legacy}, {code})
