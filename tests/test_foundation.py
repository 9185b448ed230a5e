"""Phase 1 (foundation) against the seeded legacy dataset, on every test server.

Figures are checked against SQL written here, independently of the phase's own SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import yaml

from cqms_migrate import phases, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.errors import CheckFailed, LockTimeoutExhausted, RunLocked
from cqms_migrate.paths import params_dir
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.steps import Executor, Rendered, Step
from helpers import one  # noqa: E402

PHASE = "01_foundation"
EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"
NEW_TABLES = ["employees", "roles", "departments", "teams", "channels", "countries"]
NEW_VIEWS = ["users_compat", "people_compat"]
LEDGER_TABLES = ["employee_sources", "employee_email_map", "p01_role_mapping"]
EMPLOYEES_FINGERPRINT = ("SELECT md5(coalesce(string_agg(concat_ws('|', id, email, role_id IS NOT NULL, supervisor_id, "
                         "quality_mentor_id, auth_user_id, employee_id, name), ',' ORDER BY id), '')) FROM public.employees")

N_STEPS = len(p1.BUILD_STEPS + p1.CUTOVER_STEPS)


def deploy_all(**kw) -> list:
    with PhaseContext(PHASE, env="local", **kw) as ctx:
        return phases.deploy(ctx, p1.steps(ctx))


def revert_all() -> list:
    with PhaseContext(PHASE, env="local", action="rollback") as ctx:
        return phases.revert(ctx, p1.steps(ctx))




def relations(conn, schema: str, names: list[str]) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY 1", (schema, names)).fetchall()]


def flag(conn) -> bool:
    return one(conn, "SELECT enabled FROM cqms_migration.feature_flags WHERE flag = 'USE_UNIFIED_EMPLOYEES_TABLE'")


@dataclass
class Expected:
    users: int
    users_quarantined: int
    users_merged: int
    people: int
    people_quarantined: int
    people_merged: int
    employees: int
    employees_with_auth: int


def expected(conn) -> Expected:
    """What the merge must produce, computed from the legacy tables alone."""
    valid = f"email IS NOT NULL AND btrim(email) <> '' AND btrim(email) ~ '{EMAIL_RE}'"
    users, uq, uvalid, udistinct = conn.execute(f"""
      SELECT count(*), count(*) FILTER (WHERE NOT ({valid}) OR email IS NULL OR btrim(email) = ''),
             count(*) FILTER (WHERE {valid}), count(DISTINCT lower(btrim(email))) FILTER (WHERE {valid})
      FROM public.users""").fetchone()
    people, pq, pvalid, pdistinct = conn.execute(f"""
      SELECT count(*), count(*) FILTER (WHERE NOT ({valid}) OR email IS NULL OR btrim(email) = ''),
             count(*) FILTER (WHERE {valid}), count(DISTINCT lower(btrim(email))) FILTER (WHERE {valid})
      FROM public.people""").fetchone()
    employees = one(conn, f"""
      SELECT count(DISTINCT ne) FROM (
        SELECT lower(btrim(email)) AS ne FROM public.users WHERE {valid}
        UNION ALL SELECT lower(btrim(email)) FROM public.people WHERE {valid}) x""")
    return Expected(users, uq, uvalid - udistinct, people, pq, pvalid - pdistinct, employees, udistinct)


# ------------------------------------------------------------------------------------------
# (a) deploy, validate, reconcile against independent SQL
# ------------------------------------------------------------------------------------------

def test_deploy_validates_and_reconciles_exactly(legacy_db):
    outcomes = deploy_all()
    assert [o.step for o in outcomes] == p1.BUILD_STEPS + p1.CUTOVER_STEPS
    assert {o.status for o in outcomes} == {"applied"}

    with legacy_db.connect() as conn:
        exp = expected(conn)
        v = p1.validate(conn)
        assert v.ok, (v.checks.to_string(), v.reconciliation.to_string())
        assert bool(v.checks["ok"].all()) and (v.checks["violations"] == 0).all()

        r = v.reconciliation
        assert r.loc["users", "legacy rows"] == exp.users
        assert r.loc["users", "quarantined"] == exp.users_quarantined
        assert r.loc["users", "merged into a duplicate"] == exp.users_merged
        assert r.loc["users", "migrated"] == exp.users - exp.users_quarantined - exp.users_merged
        assert r.loc["people", "legacy rows"] == exp.people
        assert r.loc["people", "quarantined"] == exp.people_quarantined
        assert r.loc["people", "merged into a duplicate"] == exp.people_merged
        assert r.loc["people", "migrated"] == exp.people - exp.people_quarantined - exp.people_merged
        for t in ("users", "people"):
            assert r.loc[t, "legacy rows"] == (r.loc[t, "migrated"] + r.loc[t, "merged into a duplicate"]
                                               + r.loc[t, "quarantined"])
        # the dataset does exercise the merge and the quarantine
        assert exp.people_quarantined >= 1 and exp.people_merged >= 1

        assert one(conn, "SELECT count(*) FROM public.employees") == exp.employees
        assert one(conn, "SELECT count(*) FROM public.employees WHERE auth_user_id IS NOT NULL") == exp.employees_with_auth
        assert one(conn, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s", (PHASE,)) == \
            exp.people_quarantined + exp.users_quarantined
        assert int(v.quarantine["rows"].sum()) == exp.people_quarantined + exp.users_quarantined
        # a quarantined row is kept whole
        assert one(conn, f"""
          SELECT count(*) FROM cqms_migration.quarantine q WHERE q.phase = '{PHASE}' AND q.source_table = 'people'
             AND EXISTS (SELECT 1 FROM public.people p WHERE to_jsonb(p) = q.original_row)""") == exp.people_quarantined

        # ids: a users row keeps its (auth) id; a people-only employee gets the email-derived uuid
        assert one(conn, f"""
          SELECT count(*) FROM public.employees e WHERE e.id <> coalesce(
            (SELECT u.id FROM public.users u WHERE lower(btrim(u.email)) = lower(btrim(e.email))
               AND btrim(u.email) ~ '{EMAIL_RE}' ORDER BY u.last_sign_in_at DESC NULLS LAST LIMIT 1),
            md5('cqms-employee:' || lower(btrim(e.email)))::uuid)""") == 0
        # every employee is in the normalized-email set of the legacy tables, with one row each
        assert one(conn, "SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.employees") == 0
        # role_id is never null and never a stray default where a mapping exists
        assert one(conn, "SELECT count(*) FROM public.employees WHERE role_id IS NULL") == 0
        assert one(conn, """
          SELECT count(*) FROM public.employees e JOIN public.roles r ON r.id = e.role_id
          WHERE e.legacy_snapshot -> 'people' ->> 'role' ILIKE 'quality analyst' AND r.code <> 'QUALITY_ANALYST'""") == 0
        assert one(conn, "SELECT count(*) FROM public.roles") == 8
        assert flag(conn) is True
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (PHASE,)) == N_STEPS


# ------------------------------------------------------------------------------------------
# (b) re-run is a no-op
# ------------------------------------------------------------------------------------------

def test_rerun_is_a_noop(legacy_db):
    deploy_all()
    with legacy_db.connect() as conn:
        applied_before = one(conn, "SELECT count(*) FROM cqms_migration.steps WHERE status = 'applied'")
        fp_before = one(conn, EMPLOYEES_FINGERPRINT)
        sources_before = one(conn, "SELECT count(*) FROM cqms_migration.employee_sources")
    assert applied_before == N_STEPS

    second = deploy_all()
    assert [o.status for o in second] == ["skipped"] * N_STEPS

    with legacy_db.connect() as conn:
        assert one(conn, "SELECT count(*) FROM cqms_migration.steps WHERE status = 'applied'") == applied_before
        assert one(conn, "SELECT count(*) FROM cqms_migration.steps WHERE status = 'failed'") == 0
        assert one(conn, EMPLOYEES_FINGERPRINT) == fp_before
        assert one(conn, "SELECT count(*) FROM cqms_migration.employee_sources") == sources_before
        # both runs are recorded as succeeded
        assert one(conn, "SELECT count(*) FROM cqms_migration.runs WHERE phase = %s AND status = 'succeeded'",
                   (PHASE,)) == 2


# ------------------------------------------------------------------------------------------
# (c) deploy -> revert -> deploy: legacy untouched, nothing left, identical result
# ------------------------------------------------------------------------------------------

def test_round_trip_deploy_revert_deploy(legacy_db):
    deploy_all()
    with legacy_db.connect() as conn:
        checksums = p1.saved_checksums(conn)
        fp_first = one(conn, EMPLOYEES_FINGERPRINT)
        n_first = one(conn, "SELECT count(*) FROM public.employees")
        sources_first = conn.execute("SELECT source_table, source_key, employee_id, disposition "
                                     "FROM cqms_migration.employee_sources ORDER BY 1, 2").fetchall()
    assert len(checksums) == 11  # 5 core tables + 6 audit tables
    assert set(checksums["table_name"]) >= {"users", "people", "scorecards", "scorecard_perameters",
                                            "audit_assignments"}

    outcomes = revert_all()
    assert [o.step for o in outcomes] == list(reversed(p1.BUILD_STEPS + p1.CUTOVER_STEPS))
    assert {o.status for o in outcomes} == {"reverted"}

    with legacy_db.connect() as conn:
        same = p1.legacy_unchanged(conn, checksums)
        assert len(same) == 11 and bool(same["identical"].all()), same.to_string()
        assert relations(conn, "public", NEW_TABLES + NEW_VIEWS) == []
        assert relations(conn, "cqms_migration", LEDGER_TABLES) == []
        assert one(conn, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                         "WHERE (n.nspname, p.proname) IN (('public', 'cqms_current_access_level'), "
                         "('public', 'employees_bump_version'), ('cqms_migration', 'ref_code'), "
                         "('cqms_migration', 'country_code'))") == 0
        assert flag(conn) is False
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (PHASE,)) == 0
        assert one(conn, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s", (PHASE,)) == 0
        assert one(conn, "SELECT count(*) FROM cqms_migration.legacy_checksums WHERE phase = %s", (PHASE,)) == 0
        assert one(conn, "SELECT count(*) FROM cqms_migration.steps WHERE status = 'reverted'") == N_STEPS

    again = deploy_all()
    assert {o.status for o in again} == {"applied"}
    with legacy_db.connect() as conn:
        assert one(conn, "SELECT count(*) FROM public.employees") == n_first
        assert one(conn, EMPLOYEES_FINGERPRINT) == fp_first
        assert conn.execute("SELECT source_table, source_key, employee_id, disposition "
                            "FROM cqms_migration.employee_sources ORDER BY 1, 2").fetchall() == sources_first
        assert p1.validate(conn).ok
        assert flag(conn) is True


# ------------------------------------------------------------------------------------------
# (d) compat views have the legacy shape and return the legacy rows
# ------------------------------------------------------------------------------------------

def columns(conn, table):
    return conn.execute(
        "SELECT column_name, ordinal_position, data_type, udt_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()


def test_compat_views_match_legacy_columns_and_rows(legacy_db):
    deploy_all()
    with legacy_db.connect() as conn:
        for legacy, view in (("users", "users_compat"), ("people", "people_compat")):
            assert columns(conn, legacy), legacy
            assert columns(conn, view) == columns(conn, legacy), view
            # security_invoker, so employees' RLS applies to whoever reads the view
            assert one(conn, "SELECT reloptions::text FROM pg_class WHERE oid = %s::regclass",
                       (f"public.{view}",)) == "{security_invoker=true}"

        v = p1.validate(conn).reconciliation
        explained_people = int(v.loc["people", "merged into a duplicate"] + v.loc["people", "quarantined"])
        explained_users = int(v.loc["users", "merged into a duplicate"] + v.loc["users", "quarantined"])
        assert explained_people >= 2
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.people EXCEPT ALL "
                         "SELECT * FROM public.people_compat) x") == explained_people
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.people_compat EXCEPT ALL "
                         "SELECT * FROM public.people) x") == 0
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.users EXCEPT ALL "
                         "SELECT * FROM public.users_compat) x") == explained_users
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.users_compat EXCEPT ALL "
                         "SELECT * FROM public.users) x") == 0
        assert one(conn, "SELECT count(*) FROM public.people_compat") == \
            one(conn, "SELECT count(*) FROM public.people") - explained_people
        assert one(conn, "SELECT count(*) FROM public.users_compat") == \
            one(conn, "SELECT count(*) FROM public.users") - explained_users
        # the rows left out are exactly the merged and quarantined ones
        assert one(conn, """
          WITH keyed AS (SELECT p, md5(p::text) || ':' || row_number() OVER (PARTITION BY md5(p::text)) AS k
                         FROM public.people p),
               gone AS (SELECT source_key FROM cqms_migration.employee_sources
                          WHERE source_table = 'people' AND disposition = 'merged_duplicate'
                        UNION ALL SELECT source_key FROM cqms_migration.quarantine
                          WHERE phase = '01_foundation' AND source_table = 'people')
          SELECT count(*) FROM (SELECT (p).* FROM keyed WHERE k IN (SELECT source_key FROM gone)
                                EXCEPT ALL (SELECT * FROM public.people EXCEPT ALL SELECT * FROM public.people_compat)) x
        """) == 0


# ------------------------------------------------------------------------------------------
# (e) after cutover the compat views follow employees (and so do the legacy tables)
# ------------------------------------------------------------------------------------------

def test_compat_view_follows_employee_changes(legacy_db):
    deploy_all()
    with legacy_db.connect() as conn:
        emp_id, email, version = conn.execute("""
          SELECT e.id, e.email, e.version FROM public.employees e
          WHERE e.legacy_snapshot ? 'people' AND e.email = e.legacy_snapshot -> 'people' ->> 'email'
            AND e.name <> 'Changed'
          ORDER BY e.id LIMIT 1""").fetchone()
        assert version == 1
        before = one(conn, "SELECT count(*) FROM (SELECT * FROM public.people EXCEPT ALL "
                           "SELECT * FROM public.people_compat) x")
        legacy_name = one(conn, "SELECT name FROM public.people_compat WHERE email = %s", (email,))
        assert legacy_name != "Changed"

        # a no-op update does not bump the version
        conn.execute("UPDATE public.employees SET name = name WHERE id = %s", (emp_id,))
        assert one(conn, "SELECT version FROM public.employees WHERE id = %s", (emp_id,)) == 1

        cur = conn.execute("UPDATE public.employees SET name = 'Changed' WHERE id = %s", (emp_id,))
        assert cur.rowcount == 1
        conn.commit()

        assert one(conn, "SELECT version FROM public.employees WHERE id = %s", (emp_id,)) == 2
        rows = conn.execute("SELECT name FROM public.people_compat WHERE email = %s", (email,)).fetchall()
        assert rows == [("Changed",)]
        # the reverse sync wrote the legacy row in the same transaction: people and people_compat
        # still agree row for row
        assert one(conn, "SELECT count(*) FROM public.people WHERE email = %s AND name = 'Changed'", (email,)) == 1
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.people EXCEPT ALL "
                         "SELECT * FROM public.people_compat) x") == before
        assert one(conn, "SELECT count(*) FROM (SELECT * FROM public.people_compat EXCEPT ALL "
                         "SELECT * FROM public.people) x") == 0

        conn.execute("UPDATE public.employees SET name = 'Changed again' WHERE id = %s", (emp_id,))
        assert one(conn, "SELECT version FROM public.employees WHERE id = %s", (emp_id,)) == 3


# ------------------------------------------------------------------------------------------
# (f) a verify failure rolls the step back
# ------------------------------------------------------------------------------------------

@dataclass
class ProbeStep(Step):
    """Creates a table, then its verify raises."""

    def render_deploy(self, ctx):
        return Rendered(["CREATE TABLE public.zz_probe_table (id int)",
                         "INSERT INTO public.zz_probe_table VALUES (1), (2)"])

    def render_verify(self, ctx):
        return Rendered(["DO $$ BEGIN RAISE EXCEPTION 'probe verify says no'; END $$"])

    def render_revert(self, ctx):
        return Rendered(["DROP TABLE IF EXISTS public.zz_probe_table"])


def test_verify_failure_rolls_back_the_step(legacy_db):
    step = ProbeStep("zz_probe", "create_probe_table", "probe", ordinal=1)
    with PhaseContext("zz_probe", env="local") as ctx:
        with pytest.raises(CheckFailed, match="probe verify says no"):
            Executor(ctx).deploy(step)
        assert ctx.ledger.is_applied("zz_probe", "create_probe_table") is False
    with legacy_db.connect() as conn:
        assert one(conn, "SELECT to_regclass('public.zz_probe_table')") is None
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = 'zz_probe'") == 0
        rows = conn.execute("SELECT action, status, message, sql_text FROM cqms_migration.steps "
                            "WHERE phase = 'zz_probe' AND step = 'create_probe_table'").fetchall()
        assert len(rows) == 1
        action, status, message, sql_text = rows[0]
        assert (action, status) == ("deploy", "failed")
        assert "probe verify says no" in message
        assert "CREATE TABLE public.zz_probe_table" in sql_text
        # the run itself is recorded as succeeded (the test caught the error inside the context)
        assert one(conn, "SELECT count(*) FROM cqms_migration.runs WHERE phase = 'zz_probe'") == 1


def test_sql_error_in_deploy_becomes_step_error_and_rolls_back(legacy_db):
    from cqms_migrate.errors import StepError

    @dataclass
    class Broken(ProbeStep):
        def render_deploy(self, ctx):
            return Rendered(["CREATE TABLE public.zz_probe_table (id int)", "SELECT 1/0"])

    with PhaseContext("zz_probe", env="local") as ctx:
        with pytest.raises(StepError, match="division by zero"):
            Executor(ctx).deploy(Broken("zz_probe", "broken", "probe", ordinal=1))
    with legacy_db.connect() as conn:
        assert one(conn, "SELECT to_regclass('public.zz_probe_table')") is None
        assert conn.execute("SELECT status FROM cqms_migration.steps WHERE phase = 'zz_probe'").fetchall() == [("failed",)]


# ------------------------------------------------------------------------------------------
# (g) lock-timeout retries
# ------------------------------------------------------------------------------------------

def short_retries_params(tmp_path):
    data = yaml.safe_load((params_dir() / "local.yaml").read_text())
    data["lock_retries"] = [[50, 0.05], [50, 0.05]]
    path = tmp_path / "local-short-retries.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_lock_retries_exhausted_then_succeeds(legacy_db, tmp_path):
    pfile = short_retries_params(tmp_path)
    messages: list[str] = []
    with PhaseContext(PHASE, env="local", params_file=pfile, log=messages.append) as ctx:
        steps = p1.steps(ctx)
        assert phases.deploy(ctx, steps[:1])[0].status == "applied"  # snapshot reads scorecards: before the lock

        blocker = legacy_db.admin()
        try:
            # if the runbook's own session still held a lock on scorecards this would wait: fail fast instead
            blocker.execute("SET lock_timeout = '5s'")
            blocker.execute("LOCK TABLE public.scorecards IN ACCESS EXCLUSIVE MODE")
            t0 = time.monotonic()
            with pytest.raises(LockTimeoutExhausted, match="create_reference_tables.*2 attempts"):
                phases.deploy(ctx, steps[1:])
            assert time.monotonic() - t0 < 5
        finally:
            blocker.rollback()
            blocker.close()
        assert sum("lock not granted" in m for m in messages) == 2

        with legacy_db.connect() as conn:
            assert relations(conn, "public", NEW_TABLES) == []
            assert relations(conn, "cqms_migration", ["p01_role_mapping"]) == []
            assert one(conn, "SELECT array_agg(step) FROM cqms_migration.applied_steps WHERE phase = %s",
                       (PHASE,)) == ["snapshot_legacy"]
            assert conn.execute("SELECT status FROM cqms_migration.steps WHERE phase = %s AND "
                                "step = 'create_reference_tables'", (PHASE,)).fetchall() == [("failed",)]

        out = phases.deploy(ctx, steps)
        assert [o.status for o in out] == ["skipped"] + ["applied"] * (N_STEPS - 1)
        assert p1.validate(ctx.conn).ok


# ------------------------------------------------------------------------------------------
# (h) one operator at a time
# ------------------------------------------------------------------------------------------

def test_advisory_lock_serialises_runs(legacy_db):
    with PhaseContext(PHASE, env="local"):
        with pytest.raises(RunLocked, match="another migration run holds the runbook lock"):
            PhaseContext(PHASE, env="local")
        with pytest.raises(RunLocked):
            PhaseContext("00_preflight", env="local", action="preflight")
    # released on close: the next one opens
    with PhaseContext(PHASE, env="local") as ctx:
        assert ctx.has_ledger
    with legacy_db.connect() as conn:
        # the refused contexts never recorded a run
        assert one(conn, "SELECT count(*) FROM cqms_migration.runs") == 2
        assert one(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == 0


# ------------------------------------------------------------------------------------------
# (i) the rollback module
# ------------------------------------------------------------------------------------------

def test_rollback_module_reverts_everything(legacy_db):
    deploy_all()
    later = [p.name for p in phases.later_phases(PHASE)]
    with PhaseContext(PHASE, env="local", action="rollback") as ctx:
        plan = rollback.plan(ctx, PHASE)
        # later phases come first (newest first) and are skipped: they were never applied
        assert list(plan["phase"].drop_duplicates()) == list(reversed(later)) + [PHASE]
        mine = plan[plan["phase"] == PHASE]
        assert list(mine["step"]) == list(reversed(p1.BUILD_STEPS + p1.CUTOVER_STEPS))
        assert list(mine["will"]) == ["revert"] * N_STEPS
        assert set(plan.loc[plan["phase"] != PHASE, "will"]) <= {"skip (not applied)"}

        outcomes, checks = rollback.run(ctx, PHASE)
        assert list(outcomes.loc[outcomes["status"] != "skipped", "status"]) == ["reverted"] * N_STEPS
        assert list(outcomes.loc[outcomes["status"] == "reverted", "step"]) == list(mine["step"])
        assert len(checks[PHASE]) == 11
        assert all(df.empty for name, df in checks.items() if name != PHASE)
        assert rollback.legacy_identical(checks) is True
    with legacy_db.connect() as conn:
        assert relations(conn, "public", NEW_TABLES + NEW_VIEWS) == []
        assert flag(conn) is False
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps") == 0


def test_rollback_module_detects_a_changed_legacy_table(legacy_db):
    deploy_all()
    with legacy_db.connect() as conn:
        conn.execute("UPDATE public.people SET name = name || ' (edited)' "
                     "WHERE ctid = (SELECT min(ctid) FROM public.people)")
        conn.commit()
    with PhaseContext(PHASE, env="local", action="rollback") as ctx:
        _, checks = rollback.run(ctx, PHASE)
        table = checks[PHASE].set_index("table")
        assert bool(table.loc["people", "identical"]) is False
        assert bool(table.drop(index="people")["identical"].all())
        assert rollback.legacy_identical(checks) is False
