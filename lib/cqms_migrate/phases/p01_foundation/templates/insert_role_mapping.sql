-- how a legacy people.role spelling (normalized) maps to a role code ('*default*': the rest)
INSERT INTO cqms_migration.p01_role_mapping (legacy_role, role_code) VALUES ({legacy_role}, {role_code})
