-- The rows of a page range that this backfill claimed (statement 1 of the same transaction):
-- a LATERAL probe of the claims table's primary key per row, never a join the planner could
-- turn into a scan of the whole (growing) claims table.
(SELECT r.* FROM {table} r
 CROSS JOIN LATERAL (SELECT 1 FROM cqms_migration.p02_sync_claims c
                     WHERE c.legacy_table = {table_name} AND c.id = {audit_id} AND c.claimed_by = 'backfill'
                     LIMIT 1) claim
 WHERE r.ctid >= {from_tid}::tid
   AND r.ctid < {to_tid}::tid)
