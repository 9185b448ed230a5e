-- the compat view has exactly the legacy columns, names, order and types
DO $$ BEGIN IF EXISTS (
  (SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped
   EXCEPT SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {view}::regclass AND attnum > 0)
  UNION ALL
  (SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {view}::regclass AND attnum > 0
   EXCEPT SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped))
  THEN RAISE EXCEPTION 'compat view of % differs from the legacy columns', {table_name}; END IF; END $$
