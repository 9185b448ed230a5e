"""Rehearsal under load (issue 13), short: the whole migration through the runner while the
simulated application writes as its personas, with every fault injected, each phase rolled back
under load and run again. The verdict is asserted, and a deliberately broken migration makes it
fail (a rehearsal that cannot fail proves nothing). PostgreSQL 15, Supabase's version."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from cqms_migrate import phases
from cqms_migrate.rehearsal import CONTROL, FAULTS, Rehearsal, Verdict


def rehearsal(**kw):
    return Rehearsal("local", **{"workers": 3, "rate": 15, "baseline_s": 2.0, "log": print, **kw})


@pytest.fixture
def pg15(server):
    if server.kind != "system-15":
        pytest.skip("the short rehearsal runs on PostgreSQL 15 (Supabase's version)")


def test_a_criterion_no_check_carries_raises_instead_of_passing():
    """passed() on a name that selects nothing (a criterion renamed, or misspelt in a test) used
    to return True: .all() of an empty selection."""
    checks = pd.DataFrame([{"criterion": "application errors", "ok": True, "detail": ""},
                           {"criterion": "acknowledged writes lost", "ok": False, "detail": "3 lost"}])
    v = Verdict(stages=pd.DataFrame(), errors=pd.DataFrame(), faults=pd.DataFrame(), rollback_seconds={},
                baseline_p99_ms=0.0, max_lock_wait_ms=0.0, lock_wait_limit_ms=0.0, checks=checks)
    assert v.passed("application errors") and not v.passed("acknowledged writes lost")
    with pytest.raises(KeyError, match="application error'"):
        v.passed("application error")
    with pytest.raises(KeyError):
        Verdict(stages=pd.DataFrame(), errors=pd.DataFrame(), faults=pd.DataFrame(), rollback_seconds={},
                baseline_p99_ms=0.0, max_lock_wait_ms=0.0, lock_wait_limit_ms=0.0).passed("application errors")


def test_the_short_rehearsal_passes_with_every_fault(pg15, legacy_db):
    v = rehearsal(faults=FAULTS, baseline_s=4.0).run()
    print("\n" + v.stages.drop(columns=["lost examples"]).to_string())
    print(v.faults.to_string() if len(v.faults) else "no faults")
    print(v.checks.to_string())
    print(v.latency_by_operation().to_string())
    # every criterion but latency (known to fail: the sync triggers' cost per write, see the
    # closing note of issue 13); latency is measured and printed, never asserted in a test
    for criterion in ("acknowledged writes lost", "application errors", "verify after every stage",
                      "longest application lock wait", "rollback of each phase under 15 minutes",
                      "no role held from the application's writes"):
        assert v.passed(criterion), v.summary()
    built = [ph.name for ph in phases.PHASES if ph.build]   # every phase of the registry, rolled back in reverse
    assert list(v.stages["stage"]) == ["baseline", CONTROL, "migrate", *[f"rollback {n}" for n in reversed(built)],
                                       "migrate again"]
    # the phases ran as in production: without the unbatched-baseline benchmark that local params
    # turn on (it holds the application's audit writes for a whole unbatched copy)
    with legacy_db.connect() as c:
        assert c.execute("SELECT count(*) FROM cqms_migration.metrics WHERE name = 'unbatched_baseline'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM cqms_migration.metrics WHERE name = 'backfill_throughput'").fetchone()[0] > 0
    assert v.stages["writes checked"].iloc[-1] > 100
    assert {"crash", "terminate", "lock_holder", "new_table"} <= set(v.faults["fault"]), v.faults
    # each fault happened: the kernel died, the backend was terminated, a people row was held
    assert v.faults.groupby("fault")["happened"].any().all(), v.faults
    # the supervisor persona validated its team's audits through RLS after cutover (an audit RLS
    # hid from its supervisor would be an application error), and read its team's audits
    ops = v.samples[v.samples["error"].isna()].groupby(["op", "path"]).size()
    assert ops.get(("validate", "unified"), 0) > 0 and ops.get(("team_read", "legacy"), 0) > 0, ops
    # supervisors hired and gone on both paths (their reports checked after every stage, and by
    # verify); hostile legal values committed and migrated; the REPEATABLE READ worker's retries
    # counted per stage (a retry that ran out would be an application error)
    assert ops.get(("reorg", "legacy"), 0) > 0 and ops.get(("reorg", "unified"), 0) > 0, ops
    assert "RR retries" in v.stages.columns
    print("REPEATABLE READ retries per stage:", dict(zip(v.stages["stage"], v.stages["RR retries"])))
    with legacy_db.connect() as c:
        legacy_hires = ops.get(("new_hire", "legacy"), 0)
        assert c.execute("SELECT count(*) FROM public.people p JOIN public.employees e ON e.email = p.email "
                         "WHERE length(p.team) > 2704 AND length(p.team_supervisor) > 2704").fetchone()[0] > 0, \
            f"no hire with 3,000-character references became an employee ({legacy_hires} legacy hires)"
        # large values: a 200 kB name (an employee) and a 2 MB transcript (an audit), each worker's first
        assert c.execute("SELECT count(*) FROM public.employees WHERE length(name) > 200000").fetchone()[0] > 0, \
            f"no 200 kB name became an employee ({legacy_hires} legacy hires)"
        assert c.execute("SELECT count(*) FROM public.audits WHERE length(transcript) > 2000000 "
                         "AND length(interaction_id) > 2704").fetchone()[0] > 0, \
            f"no 2 MB transcript reached audits ({ops.get(('audit_insert', 'legacy'), 0)} legacy audit inserts)"


def test_a_migration_that_drops_rows_or_blocks_the_application_fails_the_verdict(pg15, legacy_db):
    """Two defects planted in one migrate stage (one run instead of two: the control and the
    stages after migrate add nothing), each caught by its own criterion."""
    import time

    def drop_rows(url):  # a broken step: audits the application wrote vanish from audits (not from legacy)
        with psycopg.connect(url) as c:
            c.execute("ALTER TABLE public.audits DISABLE TRIGGER USER")
            c.execute("DELETE FROM public.audits WHERE id IN (SELECT id FROM public.audits ORDER BY created_at DESC LIMIT 3)")
            c.execute("ALTER TABLE public.audits ENABLE TRIGGER USER")
            c.commit()

    def block(url):  # a broken step: an exclusive lock on a legacy table held for 3 s
        with psycopg.connect(url) as c:
            c.execute("LOCK TABLE public.people IN ACCESS EXCLUSIVE MODE")
            time.sleep(3)
            c.rollback()

    v = rehearsal(faults=(), extra_steps={"drop_rows": drop_rows, "block": block}, control=False,
                  until="migrate").run()
    assert list(v.stages["stage"]) == ["baseline", "migrate"]
    assert not v.passed("acknowledged writes lost"), v.checks
    assert not v.passed("verify after every stage"), v.checks
    assert not v.passed("longest application lock wait"), v.checks
    # the wait it flags is the planted one (3 s), not the migration's own
    assert v.max_lock_wait_ms > 2500, v.checks


def test_the_rehearsal_drives_a_database_of_another_shape(pg15, legacy_db_drift):
    """The application simulated on the drifted dataset (a text login count, a text is_active,
    people.full_name, an audit table with a text score): it writes the columns as they are, and
    nothing is lost through a migration, a rollback and a re-run."""
    v = rehearsal(params_file=legacy_db_drift.params_file, faults=("new_table",), control=False).run()
    print("\n" + v.stages.drop(columns=["lost examples"]).to_string())
    print(v.errors.to_string() if len(v.errors) else "no errors")
    for criterion in ("acknowledged writes lost", "application errors", "verify after every stage",
                      "no role held from the application's writes"):
        assert v.passed(criterion), (v.summary(), v.stages["lost examples"].tolist())
    ops = v.samples[v.samples["error"].isna()].groupby(["op", "path"]).size()
    # every legacy write kind ran on this shape, and the supervisor persona with it
    for op in ("login", "new_hire", "audit_insert", "score", "validate", "team_read"):
        assert ops.get((op, "legacy"), 0) > 0, ops
    with legacy_db_drift.connect() as c:
        assert c.execute("SELECT count(*) FROM public.people WHERE full_name LIKE 'New Hire %'").fetchone()[0] > 0
        assert c.execute("SELECT count(*) FROM public.users WHERE sign_in_count ~ '^[0-9]+$'").fetchone()[0] > 0
