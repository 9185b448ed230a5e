"""A legacy database in another shape than our generator makes: the shapes an independently
built Express CQMS database was found to have (issue 12), applied to a seeded database with the
DDL and updates its application would have run. Tests run every phase on it as well as on the
clean dataset: the runbook discovers shapes from the catalog, never from this module.

What it changes (deterministic; ``apply_drift`` returns the figures):

* users: two more columns the seed's users_compat names (last_sign_out_at, first_sign_in_at);
  sign_in_count held as text, a few values not a number ('n/a', '');
* people: name is called full_name, login_count is bigint, is_active is text ('yes'/'no'), two
  columns nobody maps (pronouns, hire_date);
* the dynamic tables: one holds average_score as text (two rows 'N/A'), reversal_approved as
  text ('yes'/'no'); one lacks transcript and audit_duration; a parameter column has a quoted
  name ("Greeting Quality"); a parameter has no column; a column's parameter was deleted;
* a scorecard table keyed by bigint (an identity column) and one keyed by text ids ('SV-1001');
* the customer's own spellings in every categorical column (``apply_vocabulary``): statuses
  capitalised, spaced, hyphenated, as synonyms ('Validated', 'Needs-Revision', ' PASSED ') and a
  few the built-in vocabularies do not know (typos such as 'Aproved', and 'On Hold'); roles,
  countries and channels likewise;
* inactive scorecards naming users and auth.users;
* a discovery function of its own, get_audit_tables() as "every table named like '%audit%'";
* an inactive earlier version of a scorecard naming the same table as the active one;
* parameter columns of other kinds than error counts, with their metadata: a 'Yes'/'No'/'N/A'
  flag named as a check done (greeting_done: its error value is for the operator to declare), a
  boolean error flag, points earned out of 30, feedback text about a parameter;
* an audit table whose interaction_date is a timestamptz written in Manila during business hours
  (its date is the Manila date: the operator declares business_time_zone), and one whose
  audit_duration is text as people type it ('12:34', '1:02:03', seconds);
* the people sheet as imported from a spreadsheet: no key, every column text but the login count
  (last_login as ISO text, hire_date as text);
* hostile legal values (issue 21): a team and a channel of 3,000 characters, a supervisor of
  3,000, a 200 kB name; an audit's interaction_id of 3,000 characters and a 300 kB transcript.

With ``auth_helpers=False`` (``seed_legacy(..., auth_helpers=False)``, ``legacy seed
--no-auth-helpers``) the database lacks auth.uid()/auth.jwt()/auth.role(), as a database that
is not a Supabase project would: preflight must stop with nothing created.
"""

from __future__ import annotations

import uuid

from psycopg import sql

BIGINT_TABLE = "legacy_callback_audit"
TEXT_KEY_TABLE = "legacy_survey_audit"

# (column, spelling, share of the rows that get it): the customer's own words. Those the built-in
# vocabularies know (case, spaces and -/_ ignored) and, last in each list, those they do not:
# the typos have a close match preflight proposes; 'On Hold' and 'Live Chat' have none (REVIEW)
AUDIT_SPELLINGS = {
    "passing_status": [("PASSED", 0.10), (" Passed ", 0.05), ("Not-Passed", 0.08), ("FAILED", 0.05)],
    "validation_status": [("Validated", 0.30), ("Pending", 0.15), ("Rejected", 0.05), ("Needs Revision", 0.05),
                          ("needs_revision", 0.02), ("Aproved", 0.02), ("On Hold", 0.01)],
    "acknowledgement_status": [("Acknowledged", 0.30), ("Not Required", 0.10), ("NOT_REQUIRED", 0.03),
                               ("Disputed", 0.02), ("Acknowleged", 0.02)],
    "channel": [("EMAIL", 0.05), (" chat ", 0.05), ("E-mail", 0.03), ("Live Chat", 0.02)],
}
PEOPLE_SPELLINGS = {
    "role": [("AGENT", 0.05), ("senior-agent", 0.03), ("Team_Lead", 0.02), (" quality analyst ", 0.02),
             ("Trainee", 0.03)],
    "country": [("india", 0.03), ("united kingdom", 0.02), ("Vietnam", 0.02), ("Inda", 0.03), ("Phillipines", 0.03)],
    "department": [(" customer support ", 0.02)],
}
# what an operator pastes for the unknown spellings above (the stanza preflight prints, reviewed)
STANZA = {
    "validation_status_map": {"Aproved": "approved", "On Hold": "quarantine"},
    "acknowledgement_status_map": {"Acknowleged": "acknowledged"},
    "channel_map": {"E-mail": "Email", "Live Chat": "Chat"},
    "role_mapping": {"Trainee": "AGENT"},
    "country_map": {"Inda": "IN", "Phillipines": "PH"},
    "parameters": {"__kinds_table__": {"greeting_done": {"kind": "flag", "error_values": ["No"]}}},
    "business_time_zone": "Asia/Manila",
}
ZONE = "Asia/Manila"   # where the timestamptz table's audits were done


def stanza(conn) -> dict:
    """STANZA with the name of the table that holds the parameters of other kinds."""
    out = dict(STANZA)
    table = conn.execute("SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                         "AND a.attname = 'greeting_done' AND c.relkind = 'r'").fetchone()[0]
    out["parameters"] = {table: STANZA["parameters"]["__kinds_table__"]}
    zoned = conn.execute("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relkind = 'r' "
                         "AND c.relnamespace = 'public'::regnamespace AND a.attname = 'interaction_date' "
                         "AND a.atttypid = 'timestamptz'::regtype").fetchone()[0]
    if not zoned:   # (too few scorecards: no table in Manila)
        out.pop("business_time_zone")
    return out


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT table_name FROM public.scorecards s WHERE to_regclass(format('public.%I', table_name)) IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM public.scorecard_perameters p WHERE p.scorecard_id = s.id) "
        "ORDER BY table_name").fetchall()]


def apply_drift(conn) -> dict:
    """Alter the seeded legacy database in ``conn`` (as its owner) into the drifted shape, in one
    transaction. Returns what was changed, with counts."""
    report: dict = {}
    x = conn.execute
    with conn.transaction():
        # users
        x("ALTER TABLE public.users ADD COLUMN last_sign_out_at timestamptz, ADD COLUMN first_sign_in_at timestamptz")
        x("UPDATE public.users SET first_sign_in_at = created_at, "
          "last_sign_out_at = CASE WHEN last_sign_in_at IS NOT NULL THEN last_sign_in_at + interval '47 minutes' END")
        x("ALTER TABLE public.users ALTER COLUMN sign_in_count TYPE text USING sign_in_count::text")
        bad = x("WITH v AS (SELECT id, row_number() OVER (ORDER BY id) n FROM public.users ORDER BY id LIMIT 3) "
                "UPDATE public.users u SET sign_in_count = CASE WHEN v.n = 1 THEN '' ELSE 'n/a' END "
                "FROM v WHERE v.id = u.id").rowcount
        report["users"] = {"added": ["last_sign_out_at", "first_sign_in_at"], "sign_in_count": "text",
                           "sign_in_count not a number": bad}
        # people
        x("ALTER TABLE public.people RENAME COLUMN name TO full_name")
        x("ALTER TABLE public.people ALTER COLUMN login_count TYPE bigint")
        x("ALTER TABLE public.people ALTER COLUMN is_active TYPE text "
          "USING CASE is_active WHEN true THEN 'yes' WHEN false THEN 'no' END")
        x("ALTER TABLE public.people ADD COLUMN pronouns text, ADD COLUMN hire_date date")
        x("UPDATE public.people SET pronouns = (ARRAY['she/her', 'he/him', 'they/them'])[1 + abs(hashtext(coalesce(email, ''))) % 3], "
          "hire_date = date '2019-01-01' + abs(hashtext(coalesce(email, '') || 'h')) % 1500")
        # imported from a spreadsheet: time stamps and dates as the sheet wrote them
        x("ALTER TABLE public.people ALTER COLUMN last_login TYPE text "
          "USING to_char(last_login AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
          "ALTER COLUMN hire_date TYPE text USING hire_date::text")
        report["people"] = {"renamed": {"name": "full_name"}, "login_count": "bigint", "is_active": "text",
                            "last_login": "text (ISO 8601)", "added": ["pronouns", "hire_date (text)"]}
        tables = _tables(conn)
        retyped, thin, quoted = tables[0], tables[1], tables[2]
        t = sql.Identifier("public", retyped)
        x(sql.SQL("ALTER TABLE {} ALTER COLUMN average_score TYPE text USING average_score::text, "
                  "ALTER COLUMN reversal_approved TYPE text USING CASE reversal_approved WHEN true THEN 'yes' "
                  "WHEN false THEN 'no' END").format(t))
        na = x(sql.SQL("UPDATE {0} SET average_score = 'N/A' WHERE id IN (SELECT id FROM {0} "
                       "WHERE average_score IS NOT NULL ORDER BY id LIMIT 2)").format(t)).rowcount
        x(sql.SQL("ALTER TABLE {} DROP COLUMN transcript, DROP COLUMN audit_duration").format(sql.Identifier("public", thin)))
        # a parameter column with a quoted name, a parameter without column, a deleted parameter
        card = x("SELECT id FROM public.scorecards WHERE table_name = %s", (quoted,)).fetchone()[0]
        params = x("SELECT id, field_id FROM public.scorecard_perameters WHERE scorecard_id = %s "
                   "AND coalesce(is_active, true) ORDER BY display_order, field_id", (card,)).fetchall()
        (p1, f1), (p2, f2) = params[0], params[1]
        x(sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
            sql.Identifier("public", quoted), sql.Identifier(f1), sql.Identifier("Greeting Quality")))
        x("UPDATE public.scorecard_perameters SET field_id = 'Greeting Quality' WHERE id = %s", (p1,))
        x("UPDATE public.scorecard_perameters SET is_active = false WHERE id = %s", (p2,))
        x("INSERT INTO public.scorecard_perameters (id, scorecard_id, error_name, penalty_points, parameter_type, "
          "field_type, field_id, is_active, display_order) VALUES (%s, %s, 'Ghost parameter', 1, 'error', "
          "'counter', 'ghost_parameter', true, 99)", (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-ghost")), card))
        report["audit tables"] = {"retyped": {"table": retyped, "average_score": "text", "reversal_approved": "text",
                                              "average_score not a number": na},
                                  "missing common columns": {"table": thin, "columns": ["transcript", "audit_duration"]},
                                  "quoted parameter column": {"table": quoted, "column": "Greeting Quality"},
                                  "parameter without column": "ghost_parameter", "deleted parameter": f2}
        # a table keyed by bigint, and scorecards naming what is not an audit table
        x(sql.SQL("CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, employee_email text, "
                  "auditor_email text, interaction_date date, average_score numeric, callback_missed integer)").format(
            sql.Identifier("public", BIGINT_TABLE)))
        emails = x("SELECT email FROM public.people WHERE email IS NOT NULL ORDER BY email LIMIT 2").fetchall()
        x(sql.SQL("INSERT INTO {} (employee_email, auditor_email, interaction_date, average_score, callback_missed) "
                  "SELECT %s, %s, date '2024-03-01' + g, 80 + g %% 20, g %% 3 FROM generate_series(1, 25) g").format(
            sql.Identifier("public", BIGINT_TABLE)), (emails[0][0], emails[1][0]))
        for name, table in (("Callback audits", BIGINT_TABLE), ("Test scorecard (do not use)", "users"),
                            ("Auth import (do not use)", "auth.users")):
            x("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version) "
              "VALUES (%s, %s, %s, 80, %s, 1)",
              (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-card:" + table)), name, table, table == BIGINT_TABLE))
        x("INSERT INTO public.scorecard_perameters (id, scorecard_id, error_name, penalty_points, parameter_type, "
          "field_type, field_id, is_active, display_order) VALUES (%s, %s, 'Callback missed', 5, 'error', "
          "'counter', 'callback_missed', true, 1)",
          (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-param")),
           str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-card:" + BIGINT_TABLE))))
        report["bigint-keyed table"] = {"table": BIGINT_TABLE, "rows": 25}
        # a table keyed by text ids of its own ('SV-1001'), with statuses and a parameter
        x("CREATE SEQUENCE public.legacy_survey_seq START 1001")
        x(sql.SQL("CREATE TABLE {} (id text PRIMARY KEY DEFAULT 'SV-' || nextval('public.legacy_survey_seq'), "
                  "employee_email text, auditor_email text, interaction_date date, average_score numeric, "
                  "passing_status text, validation_status text, acknowledgement_status text, survey_missed integer)").format(
            sql.Identifier("public", TEXT_KEY_TABLE)))
        emails = [r[0] for r in x("SELECT email FROM public.people WHERE email IS NOT NULL AND email ~ '@' "
                                  "ORDER BY email LIMIT 6").fetchall()]
        x(sql.SQL("INSERT INTO {} (employee_email, auditor_email, interaction_date, average_score, passing_status, "
                  "validation_status, acknowledgement_status, survey_missed) "
                  "SELECT (%s::text[])[1 + g %% 3], (%s::text[])[1 + g %% 3], date '2024-06-01' + g, 70 + g %% 30, "
                  "(ARRAY['Passed', 'Not Passed', 'PASS', 'Passed'])[1 + g %% 4], (ARRAY['Validated', 'Pending', NULL])[1 + g %% 3], "
                  "(ARRAY['Acknowledged', 'Not Required', ''])[1 + g %% 3], g %% 2 FROM generate_series(1, 30) g").format(
            sql.Identifier("public", TEXT_KEY_TABLE)), (emails[:3], emails[3:6]))
        x("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version) "
          "VALUES (%s, 'Survey audits', %s, 80, true, 1)",
          (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-card:" + TEXT_KEY_TABLE)), TEXT_KEY_TABLE))
        x("INSERT INTO public.scorecard_perameters (id, scorecard_id, error_name, penalty_points, parameter_type, "
          "field_type, field_id, is_active, display_order) VALUES (%s, %s, 'Survey missed', 2, 'error', "
          "'counter', 'survey_missed', true, 1)",
          (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-param:" + TEXT_KEY_TABLE)),
           str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-card:" + TEXT_KEY_TABLE))))
        report["text-keyed table"] = {"table": TEXT_KEY_TABLE, "rows": 30}
        report["scorecards naming other tables"] = ["users", "auth.users"]
        # parameter columns of other kinds than error counts, with their metadata: a flag named as
        # a check done ('Yes'/'No'/'N/A': which value is the error is for the operator to say), a
        # boolean error flag, points earned out of 30, and feedback text about a parameter
        kinds_table = tables[3]
        kt = sql.Identifier("public", kinds_table)
        kcard = x("SELECT id FROM public.scorecards WHERE table_name = %s", (kinds_table,)).fetchone()[0]
        x(sql.SQL("ALTER TABLE {} ADD COLUMN greeting_done text, ADD COLUMN data_breach boolean, "
                  "ADD COLUMN knowledge_points integer, ADD COLUMN greeting_done_feedback text").format(kt))
        x(sql.SQL("UPDATE {} SET "
                  "greeting_done = CASE WHEN abs(hashtext(id::text || 'g')) % 100 < 80 THEN 'Yes' "
                  "                     WHEN abs(hashtext(id::text || 'g')) % 100 < 95 THEN 'No' ELSE 'N/A' END, "
                  "data_breach = abs(hashtext(id::text || 'b')) % 100 < 5, "
                  "knowledge_points = CASE WHEN abs(hashtext(id::text || 'k')) % 100 < 70 THEN 30 "
                  "                        ELSE 10 + abs(hashtext(id::text || 'k2')) % 20 END").format(kt))
        x(sql.SQL("UPDATE {} SET greeting_done_feedback = 'Did not greet the customer by name' "
                  "WHERE greeting_done = 'No'").format(kt))
        for field, name, penalty, ptype, ftype in (("greeting_done", "Greeting done", 3, "compliance", "yes_no"),
                                                   ("data_breach", "Data breach", 25, "critical", "checkbox"),
                                                   ("knowledge_points", "Product knowledge", 30, "score", "points")):
            x("INSERT INTO public.scorecard_perameters (id, scorecard_id, error_name, penalty_points, parameter_type, "
              "field_type, field_id, is_active, display_order) VALUES (%s, %s, %s, %s, %s, %s, %s, true, 50)",
              (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-kind:" + field)), kcard, name, penalty, ptype, ftype, field))
        report["parameter kinds"] = {"table": kinds_table, "flag (a check)": "greeting_done", "flag": "data_breach",
                                     "points out of 30": "knowledge_points", "feedback": "greeting_done_feedback"}
        # a scorecard's earlier version, inactive, still naming its table (its audits belong to the
        # active one)
        active = x("SELECT id, name, table_name FROM public.scorecards WHERE table_name = ANY(%s) AND is_active "
                   "ORDER BY table_name LIMIT 1", (tables,)).fetchone()
        x("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version, parent_scorecard_id) "
          "VALUES (%s, %s, %s, 75, false, 0, %s)",
          (str(uuid.uuid5(uuid.NAMESPACE_URL, "cqms-drift-old-version")), active[1] + " (v0, retired)", active[2], active[0]))
        report["inactive copy naming a table"] = {"table": active[2], "scorecard": active[1] + " (v0, retired)"}
        # its own discovery function: every base table of public whose name contains 'audit'
        # (audit_assignments included): once phase 02 creates audits and audit_errors it would
        # list them too
        x("CREATE OR REPLACE FUNCTION public.get_audit_tables() RETURNS TABLE(table_name text) LANGUAGE sql STABLE AS "
          "$fn$ SELECT t.table_name::text FROM information_schema.tables t WHERE t.table_schema = 'public' "
          "AND t.table_type = 'BASE TABLE' AND t.table_name LIKE '%audit%' ORDER BY 1 $fn$")
        report["discovery function"] = "get_audit_tables(): every base table of public named like '%audit%'"
        # the two largest tables left (not the one without audit_duration, nor the parameter kinds')
        sized = sorted(((x(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", n))).fetchone()[0], n)
                        for n in tables if n not in (thin, kinds_table)), reverse=True)
        if len(sized) > 1 and sized[1][0]:
            zone_table, duration_table = sized[0][1], sized[1][1]
            # audits done in Manila, kept as timestamptz: 08:00-18:00 there, on the row's own date
            zt = sql.Identifier("public", zone_table)
            x(sql.SQL("ALTER TABLE {} ALTER COLUMN interaction_date TYPE timestamptz USING "
                      "(interaction_date::timestamp + make_interval(mins => 480 + abs(hashtext(id::text || 'z')) % 600)) "
                      "AT TIME ZONE {}").format(zt, sql.Literal(ZONE)))
            # durations typed by people: mm:ss under an hour, h:mm:ss above, some plain seconds
            dt = sql.Identifier("public", duration_table)
            x(sql.SQL("ALTER TABLE {} ALTER COLUMN audit_duration TYPE text USING CASE "
                      "WHEN audit_duration IS NULL THEN NULL "
                      "WHEN abs(hashtext(id::text || 'd')) % 10 = 0 THEN audit_duration::text "
                      "WHEN audit_duration >= 3600 THEN format('%s:%s:%s', audit_duration / 3600, "
                      "lpad((audit_duration % 3600 / 60)::text, 2, '0'), lpad((audit_duration % 60)::text, 2, '0')) "
                      "ELSE format('%s:%s', audit_duration / 60, lpad((audit_duration % 60)::text, 2, '0')) END").format(dt))
            report["time stamps and durations"] = {"interaction_date timestamptz (Manila)": zone_table,
                                                   "audit_duration text (mm:ss, h:mm:ss, seconds)": duration_table}
        report["spellings"] = apply_vocabulary(conn, tables)
        report["hostile legal values"] = _hostile(conn, tables, (thin, kinds_table))
        x("ANALYZE")
    return report


def _incompressible(n: int, salt: str) -> str:
    """n characters no index can compress into a b-tree entry (3,000 x's would fit)."""
    return "".join(uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}:{i}").hex for i in range(n // 32 + 1))[:n]


def _hostile(conn, tables: list[str], skip: tuple[str, ...]) -> dict:
    """Values the legacy columns accept and no unified b-tree entry could hold (issue 21): a
    person's team and channel of 3,000 characters, another's supervisor of 3,000, a 200 kB name;
    an audit's interaction_id of 3,000 characters and a 300 kB transcript."""
    x = conn.execute
    people = [r[0] for r in x("SELECT email FROM public.people WHERE email ~ '^[a-z0-9._-]+@[a-z0-9.-]+[.][a-z]+$' "
                              "ORDER BY md5(email) LIMIT 3").fetchall()]
    x("UPDATE public.people SET team = %s, channel = %s WHERE email = %s",
      ("Team " + _incompressible(3000, "team"), "Channel " + _incompressible(3000, "channel"), people[0]))
    x("UPDATE public.people SET team_supervisor = %s WHERE email = %s", (_incompressible(3000, "sup"), people[1]))
    x("UPDATE public.people SET full_name = %s WHERE email = %s", ("Long " + _incompressible(200_000, "name"), people[2]))
    table = next(t for t in tables if t not in skip)
    t = sql.Identifier("public", table)
    rid = x(sql.SQL("SELECT id FROM {} ORDER BY md5(id::text) LIMIT 1").format(t)).fetchone()[0]
    words = _incompressible(300_000, "tr")
    x(sql.SQL("UPDATE {} SET interaction_id = %s, transcript = %s WHERE id = %s").format(t),
      (_incompressible(3000, "iid"), " ".join(words[i:i + 32] for i in range(0, len(words), 32)), rid))
    return {"long references": people[:2], "long name": people[2], "audit": {"table": table, "id": str(rid)}}


def _respell(conn, table: str, column: str, key: str, spellings: list[tuple[str, float]], salt: str) -> dict:
    """Give a deterministic share of the rows (with a value) each spelling, by a hash of the row's
    key (disjoint ranges: a row gets one spelling at most); returns the counts."""
    out, start = {}, 0.0
    for spelling, share in spellings:
        lo, hi = int(start * 10000), int((start + share) * 10000)
        start += share
        out[spelling] = conn.execute(sql.SQL(
            "UPDATE {t} SET {c} = %s WHERE {c} IS NOT NULL AND abs(hashtext(coalesce({k}::text, '') || %s)) %% 10000 "
            "BETWEEN %s AND %s").format(t=sql.Identifier("public", table), c=sql.Identifier(column),
                                        k=sql.Identifier(key)), (spelling, salt, lo, hi - 1)).rowcount
    return out


def apply_vocabulary(conn, tables: list[str]) -> dict:
    """The customer's spellings (AUDIT_SPELLINGS, PEOPLE_SPELLINGS) over the seeded values."""
    report: dict = {}
    for table in tables:
        cols = {r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier("public", table).as_string(conn),)).fetchall()}
        for column, spellings in AUDIT_SPELLINGS.items():
            if column in cols:
                report[f"{table}.{column}"] = _respell(conn, table, column, "id", spellings, table)
    for column, spellings in PEOPLE_SPELLINGS.items():
        report[f"people.{column}"] = _respell(conn, "people", column, "email", spellings, "people")
    return report


def remove_auth_helpers(admin_conn) -> None:
    """Drop auth.uid(), auth.jwt(), auth.role() (as the superuser): a database that is not a
    Supabase project's. Policies nobody made yet referenced them: nothing else goes."""
    with admin_conn.transaction():
        admin_conn.execute("DROP FUNCTION IF EXISTS auth.uid(), auth.jwt(), auth.role()")
