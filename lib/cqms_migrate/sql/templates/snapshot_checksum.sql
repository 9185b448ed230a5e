-- The checksum of one legacy table, kept for the comparison after a revert.
INSERT INTO cqms_migration.legacy_checksums (phase, table_name, row_count, checksum)
SELECT {phase}, {table_name}, count(*),
       coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text
FROM {table} t
