-- The legacy row of an audit, as JSON: the parameter scores (every non-common legacy column,
-- including one added after adoption) under the compat views' expressions for the common
-- columns. The reverse sync populates the legacy table's current row type from it.
CREATE OR REPLACE FUNCTION cqms_migration.p02_legacy_patch(a public.audits) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = '' SET TimeZone = 'UTC' AS {body};
REVOKE ALL ON FUNCTION cqms_migration.p02_legacy_patch(public.audits) FROM PUBLIC
