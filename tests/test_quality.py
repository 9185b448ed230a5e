"""The data-quality profile before and after phase 1 (quality.py): the completeness figures count
the same fields of the same employees, so a change between them is a change of the data."""

from __future__ import annotations

from cqms_migrate import inventory, phases, quality, review
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1

PHASE = "01_foundation"


def before_and_after(params_file: str | None = None) -> tuple[dict, dict, dict]:
    """As the phase-1 notebook takes them: the legacy profile, the build, the pair recorded."""
    with PhaseContext(PHASE, env="local", params_file=params_file) as ctx:
        before = quality.legacy_profile(ctx.conn, inventory.discover(ctx.conn, with_counts=False))
        phases.deploy(ctx, p1.steps(ctx))
        p1.quality_before_after(ctx, before)
        recorded = ctx.conn.execute("SELECT value FROM cqms_migration.metrics WHERE phase = %s AND name = 'quality'",
                                    (PHASE,)).fetchone()[0]
    return before, recorded["after"], review.key_figures({"quality": recorded})


def test_completeness_before_and_after_count_the_same_fields_and_agree_when_nothing_changes(legacy_db):
    # the seeded dataset: blanks, users without a people row, duplicates, invalid emails; every
    # value given maps to a reference row, so the migration adds and loses nothing
    before, after, figures = before_and_after()
    key = "data completeness %"
    assert before[key] == after[key], figures["data quality"]
    assert f"data completeness: {before[key]}% → {after[key]}%" in figures["data quality"]
    assert before["_completeness"]["fields"] == after["_completeness"]["fields"] == list(quality.EMPLOYEE_FIELDS)
    assert before["_completeness"] == after["_completeness"]  # the same employees, each field present as often
    assert 85 < before[key] < 100  # the seeded blanks are missing on both sides


def test_completeness_agrees_on_the_drifted_shapes(legacy_db_drift):
    # renamed and retyped columns (legacy/drift.py): read through the same conversions as the mapping
    before, after, _ = before_and_after(legacy_db_drift.params_file)
    assert before["_completeness"] == after["_completeness"]
    assert before["data completeness %"] == after["data completeness %"]


def test_a_placeholder_counts_as_missing_on_both_sides_and_an_unmapped_value_as_lost(legacy_db):
    edits = [("department", "  "), ("department", "--"), ("channel", "Unassigned"), ("team", " / "),
             ("country", ""), ("country", "zz"), ("role", "  "),
             # what the migration writes for a blank name: the email's local part
             ("name", "{local}"),
             # a role the params do not map: given in the legacy row, 'Unassigned' in employees
             ("role", "Trainer")]
    with legacy_db.connect(autocommit=True) as c:
        # people rows alone for their email, every field given (so each edit changes one field)
        emails = [r[0] for r in c.execute("""
            SELECT email FROM public.people p
            WHERE role = 'Agent' AND department <> '' AND channel <> '' AND team <> '' AND country <> ''
              AND name <> '' AND (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(p.email))) = 1
            ORDER BY email LIMIT %s""", (len(edits),)).fetchall()]
        assert len(emails) == len(edits)
        for email, (column, value) in zip(emails, edits):
            c.execute(f"UPDATE public.people SET {column} = %s WHERE email = %s",
                      (value.format(local=email.split("@")[0].lower().strip()), email))
    before, after, _ = before_and_after()
    b, a = before["_completeness"], after["_completeness"]
    assert b["employees"] == a["employees"]
    assert a["present"] == {**b["present"], "role": b["present"]["role"] - 1}


def test_a_dry_run_before_the_ledger_exists_reads_what_it_can_and_says_what_it_did_not(legacy_db_drift):
    # the drifted people hold is_active as text and login_count as bigint: read, as the mapping
    # reads them, through the ledger's conversion functions, which a never-migrated database lacks
    with legacy_db_drift.connect() as c:
        assert c.execute("SELECT to_regprocedure('cqms_migration.to_integer(text)')").fetchone()[0] is None
        profile = quality.legacy_profile(c, inventory.discover(c, with_counts=False))
    unread = profile["_completeness"]["unread"]
    assert "people.is_active" in unread and "people.login_count" in unread
    assert 85 < profile["data completeness %"] < 100
    note = quality.profile_frame(profile).loc["data completeness %", "note"]
    assert "people.is_active" in note
