-- the baseline's raw copy: the legacy rows into a scratch table (rolled back), the floor for any copy
CREATE TABLE cqms_migration.p02_copy_probe (LIKE {table});
INSERT INTO cqms_migration.p02_copy_probe SELECT * FROM {table};
DROP TABLE cqms_migration.p02_copy_probe
