DROP TRIGGER IF EXISTS cqms_p01_sync_ins ON {table};
DROP TRIGGER IF EXISTS cqms_p01_sync_upd ON {table};
DROP TRIGGER IF EXISTS cqms_p01_sync_del ON {table};
DROP TRIGGER IF EXISTS cqms_p01_sync_trunc ON {table}
