-- A trigger function of the runbook: SECURITY DEFINER (the application's role needs no right on
-- what it writes), a fixed search_path, its body a quoted literal (never dollar-quoted: a hostile
-- identifier inside the body could contain the closing tag), executable by nobody (a trigger
-- fires whatever EXECUTE says). TimeZone UTC: a legacy time without zone means the same instant
-- whichever session writes it (the application's sessions may set their own).
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS {body};
REVOKE ALL ON FUNCTION {function}() FROM PUBLIC
