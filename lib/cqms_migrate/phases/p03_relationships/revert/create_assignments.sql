DROP TABLE IF EXISTS cqms_migration.p03_value_map;
DROP TABLE IF EXISTS cqms_migration.p03_waiting;
DROP TABLE IF EXISTS cqms_migration.p03_claims;
DELETE FROM cqms_migration.quarantine WHERE phase = '03_relationships';
DROP TABLE IF EXISTS public.assignments;
-- the fence a rolled-back cutover left (open_writes' revert)
DROP FUNCTION IF EXISTS cqms_migration.p03_fence();
