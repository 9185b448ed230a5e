-- the compat view has exactly the legacy columns, names, order and types (order as the columns'
-- ranks: a column dropped from the legacy table leaves a gap in its attnums)
DO $$ BEGIN IF EXISTS (
  (SELECT row_number() OVER (ORDER BY attnum), attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped
   EXCEPT SELECT row_number() OVER (ORDER BY attnum), attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {view}::regclass AND attnum > 0 AND NOT attisdropped)
  UNION ALL
  (SELECT row_number() OVER (ORDER BY attnum), attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {view}::regclass AND attnum > 0 AND NOT attisdropped
   EXCEPT SELECT row_number() OVER (ORDER BY attnum), attname, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = {legacy}::regclass AND attnum > 0 AND NOT attisdropped))
  THEN RAISE EXCEPTION 'compat view of % differs from the legacy columns', {table_name}; END IF; END $$
