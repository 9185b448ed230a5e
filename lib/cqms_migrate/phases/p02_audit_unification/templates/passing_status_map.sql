INSERT INTO cqms_migration.p02_passing_status_map (legacy, status) VALUES ({legacy}, {status})
