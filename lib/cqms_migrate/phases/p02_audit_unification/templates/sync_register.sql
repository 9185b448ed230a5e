-- a table whose parameter columns changed: the forward sync already follows them (it reads them
-- from the row as it is); the registry records the columns adopted (no lock on the table)
UPDATE cqms_migration.p02_legacy_tables SET columns = {columns}::jsonb, adopted_at = now() WHERE legacy_table = {table_name}
