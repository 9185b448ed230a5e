-- the forward sync on one legacy table: statement-level triggers with transition tables (one per
-- event: a trigger with transition tables takes one event), and TRUNCATE
CREATE OR REPLACE TRIGGER cqms_p01_sync_ins AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p01_forward_sync();
CREATE OR REPLACE TRIGGER cqms_p01_sync_upd AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p01_forward_sync();
CREATE OR REPLACE TRIGGER cqms_p01_sync_del AFTER DELETE ON {table}
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p01_forward_sync();
CREATE OR REPLACE TRIGGER cqms_p01_sync_trunc AFTER TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION cqms_migration.p01_forward_sync()
