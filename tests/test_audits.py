"""Phase 2 (audit unification) against the seeded legacy dataset, on every test server.

Every figure is recomputed here with SQL written for the test (counts, joins on the legacy
id), never read back from the phase's own validation frames alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from psycopg import sql

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import (columns, counts, deploy_p1, deploy_p2, dynamic_tables, exists, ident, one,  # noqa: E402
                           validate_now, write_params)

PHASE = "02_audit_unification"
FLAG = "USE_UNIFIED_AUDITS_TABLE"
BUILD = p2.BUILD_STEPS
REVERSAL = ["reversal_requested_at", "reversal_approved"]
QUOTED = "Proper Greeting?"
RETIRED = "legacy_sla_breach"

# audits content that must not depend on how (or in how many runs) the backfill happened
AUDITS_FP = ("SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM ("
             "SELECT id, legacy_table, employee_id, auditor_id, total_score, passing_status, parameter_scores, "
             "interaction_date FROM public.audits) x")
# ... and everything about every row, to prove a re-run touched nothing
AUDITS_FULL_FP = "SELECT md5(coalesce(string_agg(a::text, ',' ORDER BY a.id), '')) FROM public.audits a"
ERRORS_FP = ("SELECT md5(coalesce(string_agg(concat_ws('|', audit_id, field_id, error_count, penalty_points), ',' "
             "ORDER BY audit_id, field_id), '')) FROM public.audit_errors")


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def revert_p2(params_file=None) -> list:
    with PhaseContext(PHASE, env="local", params_file=params_file, action="rollback") as ctx:
        return phases.revert(ctx, p2.steps(ctx))


def all_counts(conn) -> dict[str, tuple[int, int, int]]:
    return {t: counts(conn, t) for t in dynamic_tables(conn)}


def quarantine_set(conn) -> set[tuple[str, str, str]]:
    return set(conn.execute("SELECT source_table, source_key, reason FROM cqms_migration.quarantine WHERE phase = %s",
                            (PHASE,)).fetchall())


def flag(conn) -> bool:
    return one(conn, "SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (FLAG,))


def resolves(col: str) -> str:
    return (f"EXISTS (SELECT 1 FROM public.employees e WHERE lower(btrim(e.email)) = lower(btrim(l.{col})))")


# ------------------------------------------------------------------------------------------
# 1. build + validate
# ------------------------------------------------------------------------------------------

def test_build_validates_and_every_legacy_row_is_accounted_for(legacy_db):
    deploy_p1()
    outcomes = deploy_p2()
    assert [o.status for o in outcomes] == ["applied"] * len(BUILD)
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)

    with legacy_db.connect() as c:
        tables = dynamic_tables(c)
        assert len(tables) == 6
        assert set(v.reconciliation.index) == set(tables)
        total_legacy = 0
        for t in tables:
            legacy, migrated, quarantined = counts(c, t)
            total_legacy += legacy
            assert legacy == migrated + quarantined, t
            assert (v.reconciliation.loc[t, "legacy rows"], v.reconciliation.loc[t, "migrated"],
                    v.reconciliation.loc[t, "quarantined"]) == (legacy, migrated, quarantined)
            # nothing both migrated and quarantined, nothing migrated twice
            assert one(c, "SELECT count(*) FROM public.audits a JOIN cqms_migration.quarantine q ON q.phase = %s "
                          "AND q.source_table = a.legacy_table AND q.source_key = a.id::text WHERE a.legacy_table = %s",
                       (PHASE, t)) == 0
            # every quarantine row holds the whole legacy row, as to_jsonb gives it
            assert one(c, sql.SQL("SELECT count(*) FROM cqms_migration.quarantine q JOIN {} l ON l.id::text = q.source_key "
                                  "WHERE q.phase = {} AND q.source_table = {} AND q.original_row = to_jsonb(l)").format(
                ident(t), sql.Literal(PHASE), sql.Literal(t))) == quarantined
            # every migrated row is its legacy row: same id, score, employee and auditor by email
            bad = one(c, sql.SQL("""
              SELECT count(*) FROM public.audits a JOIN {} l ON l.id = a.id
              LEFT JOIN public.employees e ON e.id = a.employee_id
              LEFT JOIN public.employees au ON au.id = a.auditor_id
              WHERE a.legacy_table = {} AND (a.legacy_id IS DISTINCT FROM l.id::text
                 OR a.total_score IS DISTINCT FROM l.average_score
                 OR a.interaction_date IS DISTINCT FROM l.interaction_date
                 OR lower(btrim(e.email)) IS DISTINCT FROM lower(btrim(l.employee_email))
                 OR lower(btrim(au.email)) IS DISTINCT FROM lower(btrim(l.auditor_email)))""").format(
                ident(t), sql.Literal(t)))
            assert bad == 0, t
            assert one(c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {} l ON l.id = a.id WHERE a.legacy_table = {}")
                       .format(ident(t), sql.Literal(t))) == migrated
        assert total_legacy == 3000

        # reasons, recomputed independently for the ones that do not depend on the cascade order
        reasons = dict(c.execute("SELECT reason, count(*) FROM cqms_migration.quarantine WHERE phase = %s GROUP BY 1",
                                 (PHASE,)).fetchall())
        for r in ("unknown_employee_email", "self_audit", "null_interaction_date", "unmapped_passing_status"):
            assert reasons.get(r, 0) > 0, (r, reasons)
        unknown_emp = sum(one(c, sql.SQL(f"SELECT count(*) FROM {{}} l WHERE NOT {resolves('employee_email')}")
                              .format(ident(t))) for t in tables)
        assert reasons["unknown_employee_email"] == unknown_emp
        self_audits = sum(one(c, sql.SQL(
            "SELECT count(*) FROM {} l WHERE EXISTS (SELECT 1 FROM public.employees e "
            "WHERE lower(btrim(e.email)) = lower(btrim(l.employee_email)) "
            "AND lower(btrim(e.email)) = lower(btrim(l.auditor_email)))").format(ident(t))) for t in tables)
        assert reasons["self_audit"] == self_audits
        null_dates = sum(one(c, sql.SQL(
            f"SELECT count(*) FROM {{}} l WHERE {resolves('employee_email')} AND {resolves('auditor_email')} "
            "AND lower(btrim(l.employee_email)) <> lower(btrim(l.auditor_email)) AND l.interaction_date IS NULL")
            .format(ident(t))) for t in tables)
        assert reasons["null_interaction_date"] == null_dates
        # the unmapped spelling is 'Borderline', and no Borderline row reached audits
        spellings = {r[0] for r in c.execute(
            "SELECT DISTINCT original_row ->> 'passing_status' FROM cqms_migration.quarantine "
            "WHERE phase = %s AND reason = 'unmapped_passing_status'", (PHASE,)).fetchall()}
        assert spellings == {"Borderline"}
        for t in tables:
            assert one(c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {} l ON l.id = a.id "
                                  "WHERE l.passing_status = 'Borderline'").format(ident(t))) == 0

        # spellings map to the unified statuses
        mapping: dict = {}
        for t in tables:
            for legacy_status, status in c.execute(sql.SQL(
                    "SELECT DISTINCT l.passing_status, a.passing_status FROM public.audits a JOIN {} l ON l.id = a.id")
                    .format(ident(t))).fetchall():
                mapping.setdefault(legacy_status, set()).add(status)
        for spelling in ("Passed", "PASS", "pass"):
            assert mapping[spelling] == {"pass"}, spelling
        for spelling in ("Not Passed", "FAIL", "Failed", "fail"):
            assert mapping[spelling] == {"fail"}, spelling
        assert mapping.get(None, {None}) == {None}

        # scores over 100 only, and present, on allow_over_100 scorecards
        over = dict(c.execute("SELECT coalesce(s.allow_over_100, false), count(*) FROM public.audits a "
                              "JOIN public.scorecards s ON s.id = a.scorecard_id WHERE a.total_score > 100 "
                              "GROUP BY 1").fetchall())
        assert over.get(True, 0) > 0 and over.get(False, 0) == 0, over
        assert one(c, "SELECT count(*) FROM public.audits WHERE percentage_score > 100") == over[True]

        # the quoted parameter column: in parameter_scores under its own name and in the compat view
        quoted = [t for t in tables if QUOTED in columns(c, t)]
        assert len(quoted) == 1
        qt = quoted[0]
        _, migrated_q, _ = counts(c, qt)
        assert one(c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {} l ON l.id = a.id "
                              "WHERE a.parameter_scores ? {} AND (a.parameter_scores ->> {}) "
                              "IS NOT DISTINCT FROM l.{}::text").format(
            ident(qt), sql.Literal(QUOTED), sql.Literal(QUOTED), sql.Identifier(QUOTED))) == migrated_q
        view = p2.compat_view_name(qt)
        assert QUOTED in columns(c, view)
        assert one(c, sql.SQL("SELECT count(*) FROM {} v JOIN {} l USING (id) WHERE v.{} IS NOT DISTINCT FROM l.{}")
                   .format(ident(view), ident(qt), sql.Identifier(QUOTED), sql.Identifier(QUOTED))) == migrated_q
        assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(
            ident(view), sql.Identifier(QUOTED))) > 0

        # a column with no parameter is kept in parameter_scores
        retired = [t for t in tables if RETIRED in columns(c, t)]
        assert len(retired) == 1
        rt = retired[0]
        _, migrated_r, _ = counts(c, rt)
        assert one(c, "SELECT count(*) FROM public.scorecard_perameters sp JOIN public.scorecards s "
                      "ON s.id = sp.scorecard_id WHERE s.table_name = %s AND sp.field_id = %s", (rt, RETIRED)) == 0
        assert one(c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {} l ON l.id = a.id "
                              "WHERE a.parameter_scores ? {} AND (a.parameter_scores ->> {}) IS NOT DISTINCT FROM l.{}::text")
                   .format(ident(rt), sql.Literal(RETIRED), sql.Literal(RETIRED), sql.Identifier(RETIRED))) == migrated_r
        assert one(c, sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(
            ident(rt), sql.Identifier(RETIRED))) > 0

        # the table without reversal columns: its compat view has exactly its columns
        no_rev = [t for t in tables if not set(REVERSAL) & set(columns(c, t))]
        assert len(no_rev) == 1
        nr = no_rev[0]
        view_cols = columns(c, p2.compat_view_name(nr))
        assert view_cols == columns(c, nr)
        assert not set(REVERSAL) & set(view_cols)
        assert counts(c, nr)[1] > 0
        for t in tables:  # and every compat view has its table's columns, in order
            assert columns(c, p2.compat_view_name(t)) == columns(c, t), t

        # the empty table migrates nothing and reconciles; its job is finished
        empty = [t for t in tables if counts(c, t)[0] == 0]
        assert len(empty) == 1
        assert counts(c, empty[0]) == (0, 0, 0)
        assert bool(v.reconciliation.loc[empty[0], "reconciles"])
        assert c.execute("SELECT rows_done, finished FROM cqms_migration.checkpoints WHERE job = %s",
                         (f"p02_backfill:{empty[0]}",)).fetchone() == (0, True)


# ------------------------------------------------------------------------------------------
# 2. both partition modes
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["none", "yearly"])
def test_partition_modes(legacy_db, tmp_path, mode):
    pfile = write_params(tmp_path, partition_audits=mode)
    deploy_p1()
    deploy_p2(params_file=pfile)
    v = validate_now(pfile)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with legacy_db.connect() as c:
        is_partitioned = one(c, "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                                "AND c.relname = 'audits')")
        per_partition = dict(c.execute("SELECT tableoid::regclass::text, count(*) FROM public.audits GROUP BY 1").fetchall())
        years = dict(c.execute("SELECT extract(year FROM interaction_date)::int, count(*) FROM public.audits "
                               "GROUP BY 1").fetchall())
        seeded_years = set()
        for t in dynamic_tables(c):
            seeded_years |= {r[0] for r in c.execute(sql.SQL(
                "SELECT DISTINCT extract(year FROM interaction_date)::int FROM {} WHERE interaction_date IS NOT NULL")
                .format(ident(t))).fetchall()}
        assert seeded_years == {2023, 2024, 2025}
        assert set(years) == seeded_years
        if mode == "none":
            assert not is_partitioned
            assert per_partition == {"audits": sum(years.values())}
        else:
            assert is_partitioned
            parts = {r[0] for r in c.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                             "WHERE i.inhparent = 'public.audits'::regclass").fetchall()}
            assert {f"audits_y{y}" for y in seeded_years} | {"audits_default"} <= parts
            for y in seeded_years:
                assert per_partition.get(f"audits_y{y}", 0) == years[y] > 0, (y, per_partition)
            assert "audits_default" not in per_partition and "audits" not in per_partition
            # the seed's indexes exist on the parent and are valid on every partition
            assert one(c, "SELECT relkind FROM pg_class WHERE relname = 'idx_audits_employee_id'") == "I"
            assert one(c, "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                          "WHERE t.relname LIKE 'audits%%' AND NOT i.indisvalid") == 0

    # a legacy write that moves a row to another year (another partition), errors included
    with legacy_db.connect(autocommit=True) as c:
        aid, table, n_errors = c.execute(
            "SELECT a.id, a.legacy_table, count(*) FROM public.audits a JOIN public.audit_errors e ON e.audit_id = a.id "
            "WHERE extract(year FROM a.interaction_date) = 2024 GROUP BY 1, 2 ORDER BY 1 LIMIT 1").fetchone()
        c.execute(sql.SQL("UPDATE {} SET interaction_date = DATE '2023-06-15', updated_at = clock_timestamp() "
                          "WHERE id = %s").format(ident(table)), (aid,))
        assert c.execute("SELECT tableoid::regclass::text, interaction_date::text FROM public.audits WHERE id = %s",
                         (aid,)).fetchall() == [("audits_y2023" if mode == "yearly" else "audits", "2023-06-15")]
        assert c.execute("SELECT count(*), min(interaction_date)::text, max(interaction_date)::text "
                         "FROM public.audit_errors WHERE audit_id = %s", (aid,)).fetchone() == (n_errors, "2023-06-15",
                                                                                               "2023-06-15")
    v = validate_now(pfile)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)


# ------------------------------------------------------------------------------------------
# 3. re-run is a no-op
# ------------------------------------------------------------------------------------------

def test_rerun_is_a_noop(legacy_db):
    deploy_p1()
    deploy_p2()
    with legacy_db.connect() as c:
        before = (one(c, "SELECT count(*) FROM public.audits"), one(c, AUDITS_FULL_FP), quarantine_set(c),
                  one(c, "SELECT count(*) FROM cqms_migration.steps WHERE phase = %s", (PHASE,)))
    again = deploy_p2()
    assert [(o.step, o.status) for o in again] == [(n, "skipped") for n in BUILD]
    with legacy_db.connect() as c:
        after = (one(c, "SELECT count(*) FROM public.audits"), one(c, AUDITS_FULL_FP), quarantine_set(c),
                 one(c, "SELECT count(*) FROM cqms_migration.steps WHERE phase = %s", (PHASE,)))
    assert before[0] > 2000
    assert after == before


NORMALISED = ("employee_email", "auditor_email", "employee_name", "auditor_name", "passing_status", "validation_status",
              "acknowledgement_status", "channel")


def test_the_compat_views_derived_branch_gives_back_the_legacy_rows(legacy_db):
    """A compat view returns the stored legacy text while an audit is unchanged, so "legacy
    EXCEPT compat" mostly compares a copy with itself. Here every audit reads as changed (its
    version no longer the stored one, in a transaction rolled back): the view derives each
    column from audits, and must still give back the legacy values. Emails, names, statuses and
    the channel are the unified ones in the table's spelling (an audit's own variant of a
    spelling is kept only in the stored copy): those are left out; every other column (dates,
    times, scores, counts, durations, transcripts, every parameter) must be equal."""
    deploy_p1()
    deploy_p2()
    compared = 0
    with legacy_db.connect() as c:
        for table in dynamic_tables(c):
            cols = [x for x in columns(c, table) if x not in NORMALISED]
            pick = sql.SQL(", ").join(map(sql.Identifier, cols))
            # (as the reverse sync's refresh: the audit's version and updated_at stay as they are)
            c.execute("SELECT set_config('cqms.sync_echo', 'refresh:test', true)")
            c.execute("UPDATE public.audits SET legacy_values = legacy_values - 'version' WHERE legacy_table = %s", (table,))
            rows, differ = c.execute(sql.SQL(
                "SELECT (SELECT count(*) FROM {v}), (SELECT count(*) FROM (SELECT {c} FROM {t} l WHERE l.id IN "
                "(SELECT id FROM {v}) EXCEPT ALL SELECT {c} FROM {v}) d)").format(
                c=pick, t=ident(table), v=ident(f"{table}_compat"))).fetchone()
            example = c.execute(sql.SQL("SELECT {c} FROM {t} l WHERE l.id IN (SELECT id FROM {v}) EXCEPT ALL "
                                        "SELECT {c} FROM {v} LIMIT 1").format(
                c=pick, t=ident(table), v=ident(f"{table}_compat"))).fetchone()
            per_column = {x: one(c, sql.SQL("SELECT count(*) FROM {t} l JOIN {v} w ON w.id = l.id WHERE l.{c} IS DISTINCT "
                                            "FROM w.{c}").format(t=ident(table), v=ident(f"{table}_compat"), c=sql.Identifier(x)))
                          for x in cols} if differ else {}
            c.rollback()
            assert differ == 0, (table, differ, rows, {k: n for k, n in per_column.items() if n}, dict(zip(cols, example or ())))
            compared += rows
    assert compared > 2000


def test_a_failed_validation_after_cutover_says_the_flag_is_still_on(legacy_db):
    """A re-run of phase 02 after its cutover whose validation fails: the flag an earlier run
    turned on stays on, and the message says so (it used to say "the feature flag stays off",
    while the application was on the unified path: an independent attack's D4)."""
    from cqms_migrate.errors import CheckFailed
    deploy_p1()
    deploy_p2(names=tuple(p2.BUILD_STEPS) + tuple(p2.CUTOVER_STEPS))
    with legacy_db.connect() as c:
        assert flag(c)
    with legacy_db.admin() as a:   # a row lost behind the runbook's back: audits no longer reconcile
        a.execute("ALTER TABLE public.audits DISABLE TRIGGER USER")
        a.execute("DELETE FROM public.audits WHERE id = (SELECT id FROM public.audits ORDER BY id LIMIT 1)")
        a.execute("ALTER TABLE public.audits ENABLE TRIGGER USER")
        a.commit()
    phase = phases.get(PHASE)
    with PhaseContext(PHASE, env="local") as ctx:
        with pytest.raises(CheckFailed) as e:
            phase.cutover(ctx, phase.validation(ctx))
    assert "does not reconcile" in str(e.value) and "stays off" not in str(e.value)
    assert "USE_UNIFIED_AUDITS_TABLE is still on from an earlier run" in str(e.value), e.value
    with legacy_db.connect() as c:
        assert flag(c)


# ------------------------------------------------------------------------------------------
# 4. crash mid-backfill, resume, same result as an uninterrupted run
# ------------------------------------------------------------------------------------------

CRASH_SCRIPT = textwrap.dedent("""
    import sys
    from cqms_migrate import phases
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p02_audit_unification as p2
    with PhaseContext("02_audit_unification", env="local", params_file=sys.argv[1]) as ctx:
        phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in p2.BUILD_STEPS])
    print("NOT CRASHED")
""")


@pytest.mark.parametrize("fault,committed", [("crash_after_batch=3", 3), ("crash_before_commit=4", 3)])
def test_crash_mid_backfill_then_resume_matches_a_clean_run(legacy_db, clone, tmp_path, monkeypatch, fault, committed):
    """Killed after its 3rd batch committed, or inside its 4th batch's transaction (writes and
    checkpoint written, not committed): 3 batches are there, and the resumed run equals a clean
    one (a checkpoint committed apart from its batch would skip the 4th batch's rows)."""
    # small batches, so that 3 of them end mid-table however the engine sizes them
    pfile = write_params(tmp_path, batch_size=20, batch_min_rows=10, batch_max_rows=40)

    # the reference: an uninterrupted run on another clone of the same template
    ref = clone("cqms_template_seeded")
    try:
        monkeypatch.setenv("CQMS_DATABASE_URL", ref.url)
        deploy_p1()
        deploy_p2(params_file=pfile)
        with ref.connect() as c:
            ref_fp, ref_q = one(c, AUDITS_FP), quarantine_set(c)
            ref_errors = one(c, ERRORS_FP)
    finally:
        monkeypatch.setenv("CQMS_DATABASE_URL", legacy_db.url)

    deploy_p1()
    monkeypatch.delenv("CQMS_FAULTS", raising=False)
    env = dict(os.environ, CQMS_FAULTS=fault)
    r = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, pfile], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 137, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "NOT CRASHED" not in r.stdout

    with legacy_db.connect() as c:
        first = dynamic_tables(c)[0]   # the backfill walks the tables in name order
        n_first = counts(c, first)[0]
        jobs = c.execute("SELECT job, rows_done, batches_done, finished FROM cqms_migration.checkpoints "
                         "WHERE job LIKE 'p02_backfill:%'").fetchall()
        assert [(j[0], j[2], j[3]) for j in jobs] == [(f"p02_backfill:{first}", committed, False)]
        done = jobs[0][1]
        assert 0 < done < n_first, (done, n_first)   # killed mid-table
        applied = set(r[0] for r in c.execute("SELECT step FROM cqms_migration.applied_steps WHERE phase = %s",
                                              (PHASE,)).fetchall())
        assert applied == set(BUILD[:BUILD.index("install_sync_triggers") + 1])
        # what the committed batches did is there, and nothing more
        _, migrated, quarantined = counts(c, first)
        assert migrated + quarantined == done
        assert one(c, "SELECT count(*) FROM public.audits") == migrated
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s", (PHASE,)) == quarantined
        assert c.execute("SELECT count(*), sum(rows_read) FROM cqms_migration.batches WHERE phase = %s",
                         (PHASE,)).fetchone() == (committed, done)
        total = sum(counts(c, t)[0] for t in dynamic_tables(c))

    outcomes = {o.step: o for o in deploy_p2(params_file=pfile)}
    assert [outcomes[n].status for n in BUILD[:BUILD.index("install_sync_triggers") + 1]] == ["skipped"] * (BUILD.index("install_sync_triggers") + 1)
    assert outcomes["backfill"].status == "applied"
    assert outcomes["backfill"].rows == total - done   # resumed, not restarted
    v = validate_now(pfile)
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with legacy_db.connect() as c:
        assert one(c, AUDITS_FP) == ref_fp
        assert quarantine_set(c) == ref_q
        assert one(c, ERRORS_FP) == ref_errors
        assert one(c, "SELECT count(*) FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%%' "
                      "AND NOT finished") == 0


# ------------------------------------------------------------------------------------------
# 5. the backfill is idempotent and never overwrites
# ------------------------------------------------------------------------------------------

def test_backfill_rerun_is_idempotent_and_does_not_overwrite(legacy_db):
    deploy_p1()
    deploy_p2()
    with legacy_db.connect(autocommit=True) as c:
        table = max(dynamic_tables(c), key=lambda t: counts(c, t)[0])
        ids = [r[0] for r in c.execute("SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                                       "ORDER BY id LIMIT 2", (table,)).fetchall()]
        via_legacy, via_audits = ids
        # a write through the legacy table: the sync trigger carries it over
        c.execute(sql.SQL("UPDATE {} SET average_score = 42.125 WHERE id = %s").format(ident(table)), (via_legacy,))
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (via_legacy,)) == pytest.approx(42.125)
        # a value only audits holds (as a write through the new application would): the backfill
        # reads the legacy row, so re-running it must leave this alone
        c.execute("UPDATE public.audits SET total_score = 77.5 WHERE id = %s", (via_audits,))
        before = (counts(c, table), one(c, "SELECT count(*) FROM public.audits"), quarantine_set(c),
                  one(c, AUDITS_FULL_FP), one(c, ERRORS_FP))
        legacy_total = counts(c, table)[0]

    with PhaseContext(PHASE, env="local") as ctx:
        ctx.conn.execute("DELETE FROM cqms_migration.checkpoints WHERE job = %s", (f"p02_backfill:{table}",))
        ctx.conn.commit()
        t = next(x for x in p2.migratable(ctx) if x.table_name == table)
        read = p2.backfill_table(ctx, ctx.conn, t, progress=False)
    assert read == legacy_total

    with legacy_db.connect() as c:
        after = (counts(c, table), one(c, "SELECT count(*) FROM public.audits"), quarantine_set(c),
                 one(c, AUDITS_FULL_FP), one(c, ERRORS_FP))
        assert after == before   # no row inserted, updated (version/updated_at) or duplicated
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (via_legacy,)) == pytest.approx(42.125)
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (via_audits,)) == pytest.approx(77.5)
        assert c.execute("SELECT rows_done, finished FROM cqms_migration.checkpoints WHERE job = %s",
                         (f"p02_backfill:{table}",)).fetchone() == (legacy_total, True)


# ------------------------------------------------------------------------------------------
# 6. round trip
# ------------------------------------------------------------------------------------------

def test_deploy_revert_deploy_round_trip(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        p1_applied = one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = '01_foundation'")
        employees = one(c, "SELECT count(*) FROM public.employees")
    out = deploy_p2(names=[s for s in BUILD + p2.CUTOVER_STEPS])
    assert all(o.status == "applied" for o in out) and len(out) == len(BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        assert flag(c) is True
        first = (all_counts(c), one(c, AUDITS_FP), quarantine_set(c))
        checksums = p1.saved_checksums(c, PHASE)
        assert len(checksums) == 5 + len(dynamic_tables(c))
        assert exists(c, "public.audits")
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02\\_%'") == len(dynamic_tables(c)) + 3

    reverted = revert_p2()
    assert [o.status for o in reverted] == ["reverted"] * len(BUILD + p2.CUTOVER_STEPS)

    with legacy_db.connect() as c:
        same = p1.legacy_unchanged(c, checksums)
        assert len(same) == len(checksums) and bool(same["identical"].all()), same
        for rel in ["public.audits", "public.audit_errors", "cqms_migration.p02_passing_status_map",
                    "cqms_migration.p02_sync_claims"] + [f"public.{p2.compat_view_name(t)}"
                                                          for t in dynamic_tables(c)]:
            assert not exists(c, rel), rel
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02\\_%'") == 0
        assert one(c, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                      "WHERE n.nspname = 'cqms_migration' AND p.proname LIKE 'p02\\_%'") == 0
        assert flag(c) is False
        assert one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (PHASE,)) == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s", (PHASE,)) == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.checkpoints WHERE job LIKE 'p02_backfill:%%'") == 0
        # phase 1 untouched
        assert one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = '01_foundation'") == p1_applied
        assert one(c, "SELECT count(*) FROM public.employees") == employees

    deploy_p2()
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    with legacy_db.connect() as c:
        assert (all_counts(c), one(c, AUDITS_FP), quarantine_set(c)) == first


# ------------------------------------------------------------------------------------------
# 7. dry run
# ------------------------------------------------------------------------------------------

def test_dry_run_plans_sql_and_changes_nothing(legacy_db):
    deploy_p1()
    with legacy_db.connect() as c:
        history = one(c, "SELECT count(*) FROM cqms_migration.steps")
    out = deploy_p2(names=BUILD + p2.CUTOVER_STEPS, dry_run=True)
    assert [o.status for o in out] == ["planned"] * len(BUILD + p2.CUTOVER_STEPS)
    plan = {o.step: o.message for o in out}
    assert "CREATE TABLE public.audits" in plan["create_audits"]
    assert plan["install_sync_triggers"].count("CREATE OR REPLACE TRIGGER") == 6
    assert "INSERT INTO \"public\".\"audits\"" in plan["backfill"] or "INSERT INTO public.audits" in plan["backfill"]
    assert "CREATE INDEX" in plan["create_indexes"]
    assert plan["create_compat_views"].count("CREATE VIEW") == 6
    assert "ENABLE ROW LEVEL SECURITY" in plan["create_audits"]   # in the creating transaction
    assert "CREATE POLICY audits_select" in plan["enable_rls"]
    assert "p02_reverse_sync" in plan["install_reverse_sync"]
    assert FLAG in plan["enable_feature_flag"]
    with legacy_db.connect() as c:
        assert not exists(c, "public.audits")
        assert not exists(c, "cqms_migration.p02_passing_status_map")
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02\\_%'") == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = %s", (PHASE,)) == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s", (PHASE,)) == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.checkpoints") == 0
        assert one(c, "SELECT count(*) FROM cqms_migration.steps") == history
        assert flag(c) is False
