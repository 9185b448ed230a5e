-- p03_apply(keys): the assignments rows of these legacy assignments (their ids as text), derived
-- from the legacy rows as they are now. Resolved rows are written (inserted, or their legacy
-- columns updated: what only the unified path writes, like priority or due_date, is kept); the
-- others leave assignments and go to the quarantine, whole, with their reason; a key with no
-- legacy row any more (deleted, or its id changed) leaves both. Unresolved emails and audits are
-- listed in p03_waiting, so the assignment is applied again when that employee or audit appears.
-- The sync trigger, the backfill and the retries all call it: one mapping, one writer.
-- Returns (written, quarantined, removed).
CREATE OR REPLACE FUNCTION cqms_migration.p03_apply(p_keys text[], p_source text) RETURNS integer[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS {body};
REVOKE ALL ON FUNCTION cqms_migration.p03_apply(text[], text) FROM PUBLIC;
