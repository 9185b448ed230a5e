-- The application's discovery function, moved aside (same OID, body, owner and rights: the
-- revert moves it back), and in its place a wrapper with its signature, result and rights that
-- returns what it returns, less the relations the runbook creates (audits, audit_errors, compat
-- views, ...): the legacy report loop keeps finding exactly its audit tables.
-- lint waived: the function is replaced in this same transaction by a wrapper of the same name, signature and rights, so no caller ever finds it missing; moving (not copying) keeps its OID, owner and grants for the revert
-- squawk-ignore ban-set-schema
ALTER FUNCTION {function}({signature}) SET SCHEMA cqms_migration;
-- lint waived: the moved function gets a name no application calls, in the transaction that puts the wrapper in its place
-- squawk-ignore renaming-object
ALTER FUNCTION cqms_migration.get_audit_tables({signature}) RENAME TO {moved_name};
CREATE FUNCTION {function}({signature}) RETURNS {result}
LANGUAGE sql STABLE SET search_path = '' AS {body};
REVOKE ALL ON FUNCTION {function}({signature}) FROM PUBLIC, anon, authenticated, service_role;
{grants}
{default_acl}
COMMENT ON FUNCTION {function}({signature}) IS 'cqms-migrate: the application''s get_audit_tables() (moved to cqms_migration.legacy_get_audit_tables) without the runbook''s relations; the rollback of 02_audit_unification restores it'
