-- An order-independent checksum of a table's rows: the sum of a 64-bit slice of each row's md5.
SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text
FROM {table} t
