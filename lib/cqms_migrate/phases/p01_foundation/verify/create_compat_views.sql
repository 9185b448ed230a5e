-- The compat views have exactly the legacy columns, names, order and types.
DO $$
DECLARE
  diff text;
BEGIN
  SELECT string_agg(coalesce(l.table_name, v.table_name) || '.' || coalesce(l.column_name, v.column_name), ', ')
    INTO diff
  FROM (SELECT replace(table_name, '_compat', '') AS t, table_name, column_name, ordinal_position, data_type
          FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ('users_compat', 'people_compat')) v
  FULL JOIN (SELECT table_name AS t, table_name, column_name, ordinal_position, data_type
          FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ('users', 'people')) l
    ON l.t = v.t AND l.column_name = v.column_name AND l.ordinal_position = v.ordinal_position AND l.data_type = v.data_type
  WHERE l.column_name IS NULL OR v.column_name IS NULL;
  IF diff IS NOT NULL THEN
    RAISE EXCEPTION 'compat views differ from the legacy tables in: %', diff;
  END IF;
END $$;
