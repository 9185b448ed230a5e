-- A quarantined row tried again: its claim taken for this transaction (a sync trigger that fires
-- on the row meanwhile waits, then writes its newer version), whoever held it before
INSERT INTO cqms_migration.p02_sync_claims (legacy_table, id, claimed_by)
SELECT {table_name}, {audit_id}, 'backfill' FROM {table} t WHERE t.id = ANY({keys}::{idtype}[])
ON CONFLICT (legacy_table, id) DO UPDATE SET claimed_by = 'backfill'
