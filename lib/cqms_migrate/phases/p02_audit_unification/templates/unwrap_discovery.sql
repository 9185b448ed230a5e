-- the application's discovery function back in its place, as it was (its OID, body and rights)
DROP FUNCTION IF EXISTS {function}({signature});
ALTER FUNCTION {moved}({signature}) RENAME TO {name};
ALTER FUNCTION cqms_migration.{name}({signature}) SET SCHEMA public
