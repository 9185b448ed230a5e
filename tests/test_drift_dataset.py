"""Every phase on a legacy database in a foreign shape (issue 12): legacy/drift.py gives the seeded
database the shapes an independently built one has — users with two more columns and
sign_in_count as text (some values not a number), people with name called full_name, login_count
bigint, is_active 'yes'/'no' and columns nobody maps, an audit table with average_score and
reversal_approved as text, one lacking common columns, a quoted parameter column, a parameter
without column, a bigint-keyed table, scorecards naming users and auth.users. The runbook reads
the shape from the catalog: preflight names each difference, both phases build, validate and
verify, the compat views return the legacy rows exactly, writes go both ways in the legacy
types, and a rollback leaves every legacy table as it was."""

from __future__ import annotations

import pandas as pd
from psycopg import sql

from cqms_migrate import inventory, phases, quality, rollback, verify
from cqms_migrate.context import PhaseContext
from cqms_migrate.legacy.drift import BIGINT_TABLE, TEXT_KEY_TABLE
from cqms_migrate.params import load_params
from cqms_migrate.phases import p00_preflight as pre
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from cqms_migrate.phases import p03_relationships as p3
from helpers import one


def go_no_go(conn, params):
    from cqms_migrate import ledger
    ledger.install(conn)  # as a run does before its preflight
    inv = inventory.of_params(conn, params)
    values, unmapped, _ = pre.value_profile(conn, inv, params)
    return pre.go_no_go(conn, params, inv, pre.privileges(conn, inv), pre.disk(conn, inv, params.min_free_disk_factor),
                        quality.legacy_profile(conn, inv), values=values, unmapped=unmapped,
                        fc=pre.forecast(conn, inv, params))


def deploy(phase, pf, names=None):
    with PhaseContext(phase, env="local", params_file=pf) as ctx:
        ph = phases.get(phase)
        return phases.deploy(ctx, [s for s in ph.steps(ctx) if names is None or s.name in names])


def columns(c, table):
    return c.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                     "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,)).fetchall()


def except_all(c, a, b):
    return one(c, f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) x")


def test_preflight_names_every_difference_and_every_unmapped_value(legacy_db_drift):
    with legacy_db_drift.connect() as c:
        v = go_no_go(c, load_params("local", legacy_db_drift.params_file_raw))
        unmapped = [b for b in v.blocking if b.startswith("unmapped value")]
        # every spelling no vocabulary knows, by name, with where and how many, and nothing else
        for value in ("Trainee", "Inda", "Phillipines", "Acknowleged", "E-mail", "Live Chat", "Aproved", "On Hold"):
            assert any(f"unmapped value {value!r}" in b for b in unmapped), (value, v.blocking)
        assert len(unmapped) == 8, unmapped
        # a 'Yes'/'No' flag named as a check done: which value is the error is for the operator to say
        assert [b for b in v.blocking if b.startswith("parameter ")] == [
            b for b in v.blocking if ".greeting_done: its meaning is not certain" in b], v.blocking
        assert len([b for b in v.blocking if b.startswith("parameter ")]) == 1
        v = go_no_go(c, load_params("local", legacy_db_drift.params_file))
        assert v.blocking == [], v.blocking
        text = "\n".join(v.warnings)
    for expected in ("people.full_name read as name", "users.sign_in_count (text) converted to integer",
                     "users.last_sign_out_at (timestamp with time zone): carried verbatim by users_compat",
                     "people.pronouns (text): carried verbatim", "people.is_active (text) converted to boolean",
                     "average_score (text): converted to numeric", "parameter 'ghost_parameter' has no column",
                     "missing common columns", f"{BIGINT_TABLE}: its id column is bigint: each audit gets a name-based uuid",
                     f"{TEXT_KEY_TABLE}: its id column is text", "users: not migrated: not an audit table"):
        assert expected in text, (expected, text)


def test_every_phase_builds_validates_verifies_and_rolls_back(legacy_db_drift):
    pf = legacy_db_drift.params_file
    deploy(p1.PHASE, pf)
    with legacy_db_drift.connect() as c:
        v1 = p1.validate(c)
        assert v1.ok, v1.checks[~v1.checks["ok"]]
        # the compat views: every legacy column, in its position, with its type, and the rows exactly
        assert columns(c, "public.users_compat") == columns(c, "public.users")
        assert columns(c, "public.people_compat") == columns(c, "public.people")
        assert except_all(c, "public.users", "public.users_compat") == 0
        assert except_all(c, "public.people_compat", "public.people") == 0
        assert one(c, "SELECT count(*) FROM public.users_compat WHERE sign_in_count IN ('', 'n/a')") == 3
        # a text count converted where it is a number; the people row's own count otherwise
        u = c.execute("SELECT u.sign_in_count, e.login_count, p.login_count FROM public.users u "
                      "JOIN public.employees e ON e.auth_user_id = u.id "
                      "LEFT JOIN public.people p ON lower(btrim(p.email)) = lower(btrim(u.email)) "
                      "WHERE u.sign_in_count ~ '^[0-9]+$' AND p.login_count IS NULL LIMIT 1").fetchone()
        if u:
            assert u[1] == int(u[0])
        assert one(c, "SELECT count(*) FROM public.employees e JOIN public.people p ON lower(btrim(p.email)) = "
                      "lower(btrim(e.email)) WHERE p.full_name IS NOT NULL AND btrim(p.full_name) <> '' "
                      "AND e.name IS DISTINCT FROM btrim(p.full_name) AND p.is_active = 'yes'") == 0
    deploy(p2.PHASE, pf)
    with PhaseContext(p2.PHASE, env="local", params_file=pf) as ctx:
        v2 = p2.validate(ctx.conn, p2.migratable(ctx), p2._inventory(ctx).not_migrated(), ctx.params)
        assert v2.ok, (v2.checks[~v2.checks["ok"]], v2.reconciliation, v2.outcome.failures)
        # the bigint- and text-keyed tables migrate like the others (every row accounted for)
        for table in (BIGINT_TABLE, TEXT_KEY_TABLE):
            r = v2.reconciliation.loc[table]
            assert r["disposition"] == "migrated" and r["reconciles"] and r["migrated"] > 0, r
    with legacy_db_drift.connect() as c:
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE reason = 'unconvertible_value'") == 2
        result = verify.run(c)
        assert result.ok, result.summary()[~result.summary()["ok"]]


def test_writes_reach_the_legacy_columns_in_their_own_names_and_types_and_rollback_restores(legacy_db_drift):
    pf = legacy_db_drift.params_file
    deploy(p1.PHASE, pf)
    deploy(p2.PHASE, pf)
    deploy(p3.PHASE, pf)
    with legacy_db_drift.connect(autocommit=True) as c:
        eid, email = c.execute("SELECT e.id, e.email FROM public.employees e WHERE e.auth_user_id IS NOT NULL AND "
                               "e.legacy_snapshot ? 'people' AND e.deleted_at IS NULL ORDER BY e.email LIMIT 1").fetchone()
        c.execute("UPDATE public.employees SET name = 'Renamed Through Employees', login_count = 4242, is_active = false "
                  "WHERE id = %s", (eid,))
        assert one(c, "SELECT full_name FROM public.people WHERE lower(btrim(email)) = lower(btrim(%s))", (email,)) \
            == "Renamed Through Employees"
        assert one(c, "SELECT is_active FROM public.people WHERE lower(btrim(email)) = lower(btrim(%s))", (email,)) == "false"
        assert one(c, "SELECT sign_in_count FROM public.users WHERE id = (SELECT auth_user_id FROM public.employees "
                      "WHERE id = %s)", (eid,)) == "4242"
        # a legacy write in the variant column reaches employees; a new hire with 'yes' is active
        c.execute("UPDATE public.people SET full_name = 'Renamed In Legacy' WHERE lower(btrim(email)) = lower(btrim(%s))",
                  (email,))
        assert one(c, "SELECT name FROM public.employees WHERE id = %s", (eid,)) == "Renamed In Legacy"
        c.execute("INSERT INTO public.people (email, full_name, role, is_active, login_count, pronouns) "
                  "VALUES ('new.hire@example.com', 'New Hire', 'Agent', 'yes', 3, 'they/them')")
        assert c.execute("SELECT is_active, login_count FROM public.employees WHERE email = 'new.hire@example.com'"
                         ).fetchone() == (True, 3)
        assert one(c, "SELECT pronouns FROM public.people_compat WHERE email = 'new.hire@example.com'") == "they/them"
        assert except_all(c, "public.people_compat", "public.people") == 0
        assert except_all(c, "public.users_compat", "public.users") == 0
        # an audit of the text-typed table written through audits reaches it as text
        table = one(c, "SELECT legacy_table FROM cqms_migration.p02_legacy_tables r WHERE r.columns ->> "
                       "'average_score' = 'text'")
        aid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL ORDER BY id LIMIT 1",
                  (table,))
        c.execute("UPDATE public.audits SET total_score = 77.5, reversal_approved = true WHERE id = %s", (aid,))
        assert c.execute(sql.SQL("SELECT average_score, reversal_approved FROM public.{} WHERE id = %s").format(
            sql.Identifier(table)), (aid,)).fetchone() == ("77.5", "true")
    with PhaseContext(p1.PHASE, env="local", action="rollback", params_file=pf) as ctx:
        outcomes, checks = rollback.run(ctx, p1.PHASE)
    assert set(outcomes["status"]) == {"reverted"}, outcomes
    # the writes above are legacy data now: the legacy tables hold them, in their own types
    with legacy_db_drift.connect() as c:
        assert one(c, "SELECT full_name FROM public.people WHERE email = 'new.hire@example.com'") == "New Hire"
        assert one(c, "SELECT to_regclass('public.employees')") is None
        assert columns(c, "public.users")[-2:] == [("last_sign_out_at", "timestamp with time zone"),
                                                   ("first_sign_in_at", "timestamp with time zone")]


def test_a_rollback_without_writes_leaves_every_legacy_table_identical(legacy_db_drift):
    pf = legacy_db_drift.params_file
    deploy(p1.PHASE, pf)
    deploy(p2.PHASE, pf)
    deploy(p3.PHASE, pf)
    with PhaseContext(p1.PHASE, env="local", action="rollback", params_file=pf) as ctx:
        outcomes, checks = rollback.run(ctx, p1.PHASE)
    assert set(outcomes["status"]) == {"reverted"}, outcomes
    both = pd.concat(checks.values())
    assert not both.empty and both["identical"].all(), both


def _whole_round_trip(db, pf):
    """The catalog and every row outside the ledger, before phase 01 and after rolling back phases
    02 and 01, are the same (test_round_trip's snapshot); then both deploy again and validate."""
    from cqms_migrate import ledger
    from cqms_migrate.catalog_snapshot import diff, snapshot

    with db.connect() as c:
        ledger.install(c)
        s0 = snapshot(c)
    deploy(p1.PHASE, pf)
    deploy(p2.PHASE, pf)
    deploy(p3.PHASE, pf)
    with PhaseContext(p1.PHASE, env="local", action="rollback", params_file=pf) as ctx:
        outcomes, _ = rollback.run(ctx, p1.PHASE)
    assert set(outcomes["status"]) == {"reverted"}, outcomes
    with db.connect() as c:
        s1 = snapshot(c)
    left = [d for d in diff(s0, s1) if not d.startswith(("rows of cqms_migration.", "flags:", "applied:"))]
    assert left == [], left
    deploy(p1.PHASE, pf)
    deploy(p2.PHASE, pf)
    deploy(p3.PHASE, pf)
    with PhaseContext(p2.PHASE, env="local", params_file=pf) as ctx:
        assert p2.validate(ctx.conn, p2.migratable(ctx), p2._inventory(ctx).not_migrated()).ok
    with PhaseContext(p3.PHASE, env="local", params_file=pf) as ctx:
        v3 = p3.validate(ctx.conn, ctx.params)
        assert v3.checks["ok"].all(), v3.checks.to_dict("records")


def test_both_phases_revert_to_the_same_catalog_and_deploy_again(legacy_db_drift):
    _whole_round_trip(legacy_db_drift, legacy_db_drift.params_file)


def test_both_phases_revert_to_the_same_catalog_on_the_clean_dataset(legacy_db):
    """Found on the drifted dataset, true of any: a whole rollback left
    cqms_migration.p01_access_follows_role() behind (each step's own round trip excuses it)."""
    _whole_round_trip(legacy_db, None)


def test_the_runner_runs_verifies_and_rolls_back_the_foreign_shape(legacy_db_drift):
    """Through the runner and the notebooks, as an operator runs it (a reconciliation row of a
    table excluded by decision once made the ledger's metrics refuse NaN)."""
    from cqms_migrate import runner

    pf = legacy_db_drift.params_file
    quiet = lambda m: None  # noqa: E731
    manifest = runner.run("local", params_file=pf, through=p2.PHASE, log=quiet)
    assert [p["status"] for p in manifest["phases"]] == ["succeeded"] * 3, manifest["phases"]
    # the hostile legal values (issue 21) migrated: a 3,000-character team and channel, a
    # supervisor of 3,000 naming nobody, a 200 kB name; an audit's 3,000-character interaction_id
    # and its 300 kB transcript
    with legacy_db_drift.connect() as c:
        # (a reference's name is bounded: a prefix and a hash of the whole, decision 1.32)
        hostile = c.execute("SELECT count(*) FILTER (WHERE length(e.legacy_snapshot -> 'people' ->> 'team') > 3000 "
                            "AND t.name LIKE 'Team %%' AND ch.name LIKE 'Channel %%'), "
                            "count(*) FILTER (WHERE length(e.name) > 200000), "
                            "count(*) FILTER (WHERE length(e.legacy_snapshot -> 'people' ->> 'team_supervisor') = 3000 "
                            "AND e.supervisor_id IS NULL) "
                            "FROM public.employees e LEFT JOIN public.teams t ON t.id = e.team_id "
                            "LEFT JOIN public.channels ch ON ch.id = e.channel_id").fetchone()
        assert hostile == (1, 1, 1), hostile
        assert c.execute("SELECT count(*) FROM public.audits WHERE length(interaction_id) = 3000 "
                         "AND length(transcript) > 300000").fetchone()[0] == 1
    back = runner.rollback("local", p1.PHASE, params_file=pf, log=quiet)
    assert back["phases"][0]["status"] == "succeeded", back["phases"]
