-- a yearly partition; a table of its own that a query can name: RLS on and the default grants
-- revoked, as for the parent
CREATE TABLE {partition} PARTITION OF public.audits FOR VALUES FROM ({from_date}) TO ({to_date});
ALTER TABLE {partition} ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON {partition} FROM PUBLIC, anon, authenticated
