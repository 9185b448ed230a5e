-- one legacy table's forward sync (one transaction; CREATE TRIGGER waits for the table's writers
-- within the lock-retry table): the shape type, the function, the trigger, the registry row
DO $shape$ BEGIN
  IF to_regtype({shape_text}) IS NULL THEN
    CREATE TYPE {shape} AS ({shape_columns});
  END IF;
END $shape$;
{function_sql};
CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION {function}();
INSERT INTO cqms_migration.p02_legacy_tables (legacy_table, relid, scorecard_id, columns)
VALUES ({table_name}, {table_regclass}::regclass, {scorecard_id}, {columns}::jsonb)
ON CONFLICT (legacy_table) DO UPDATE SET relid = EXCLUDED.relid, scorecard_id = EXCLUDED.scorecard_id,
  columns = EXCLUDED.columns, adopted_at = now()
