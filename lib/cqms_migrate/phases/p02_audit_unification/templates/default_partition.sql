CREATE TABLE {partition} PARTITION OF public.audits DEFAULT;
ALTER TABLE {partition} ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON {partition} FROM PUBLIC, anon, authenticated
