"""Scorecards that name something that is not an audit table (issue 12): a core legacy table, a
table outside public, a view, one of the migration's own tables. Such a table is never read as
audits and never modified; preflight reports it without blocking, and phase 02's reconciliation
lists it. A real table lacking the audit columns blocks, until the operator excludes it in params
with a reason; its rows then show as "excluded by decision"."""

from __future__ import annotations

import uuid

import pytest
import yaml

from cqms_migrate import inventory, quality
from cqms_migrate.params import load_params
from cqms_migrate.paths import params_dir
from cqms_migrate.phases import p00_preflight as pre
from cqms_migrate.phases import p02_audit_unification as p2
from cqms_migrate.context import PhaseContext
from audit_helpers import BUILD, deploy_p1, deploy_p2
from helpers import one

FOREIGN = {"users": "a core legacy table", "auth.users": "a table outside the public schema",
           "people_view": "a view", "audits": "a table of the migration itself"}


def add_scorecard(c, table: str, name: str) -> None:
    c.execute("INSERT INTO public.scorecards (id, name, table_name, is_active) VALUES (%s, %s, %s, false)",
              (uuid.uuid4(), name, table))


def verdict(conn, params):
    inv = inventory.of_params(conn, params)
    privs = pre.privileges(conn, inv)
    disk = pre.disk(conn, inv, params.min_free_disk_factor)
    profile = quality.legacy_profile(conn, inv)
    return inv, pre.go_no_go(conn, params, inv, privs, disk, profile)


def triggers_on(c, table: str) -> list[str]:
    return [r[0] for r in c.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal",
                                    (table,)).fetchall()]


def test_scorecards_naming_what_is_not_an_audit_table_are_reported_never_migrated(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        c.execute("CREATE VIEW public.people_view AS SELECT * FROM public.people")
        for table in FOREIGN:
            add_scorecard(c, table, f"Test scorecard on {table} (do not use)")
        inv, v = verdict(c, load_params("local"))
    assert v.blocking == [], v.blocking
    by_name = {t.table_name: t for t in inv.tables}
    for table, why in FOREIGN.items():
        t = by_name[table]
        assert t.not_audit == why and not t.migratable and t.columns == {}
        assert t.disposition == f"not migrated: not an audit table ({why})"
        assert any(w.startswith(f"{table}: not migrated: not an audit table") for w in v.warnings), v.warnings
    assert not [m for m in inv.mismatches() if "column with no scorecard parameter" in m and m.startswith("users")]

    deploy_p1()
    with legacy_db.connect() as c:
        before = one(c, "SELECT md5(string_agg(p::text, '' ORDER BY p::text)) FROM public.people_view p")
    deploy_p2(names=BUILD)
    with PhaseContext(p2.PHASE, env="local") as ctx:
        v2 = p2.validate(ctx.conn, p2.migratable(ctx), p2._inventory(ctx).not_migrated())
        recon = v2.reconciliation
    assert v2.ok, v2.checks[~v2.checks["ok"]]
    for table, why in FOREIGN.items():
        assert recon.loc[table, "disposition"] == f"not migrated: not an audit table ({why})"
        assert recon.loc[table, "migrated"] == 0
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM public.audits WHERE legacy_table IN ('users', 'auth.users', 'people_view', "
                      "'audits')") == 0
        assert not [t for t in triggers_on(c, "public.users") if t.startswith("cqms_p02")]
        assert one(c, "SELECT md5(string_agg(p::text, '' ORDER BY p::text)) FROM public.people_view p") == before


def test_a_table_lacking_the_audit_columns_blocks_until_excluded_with_a_reason(legacy_db, tmp_path):
    with legacy_db.connect(autocommit=True) as c:
        c.execute("CREATE TABLE public.qa_notes (id uuid PRIMARY KEY, note text, created_at timestamptz)")
        c.execute("INSERT INTO public.qa_notes SELECT gen_random_uuid(), 'n' || g, now() FROM generate_series(1, 7) g")
        add_scorecard(c, "qa_notes", "Notes (not audits)")
        _, v = verdict(c, load_params("local"))
        assert len(v.blocking) == 1 and "qa_notes" in v.blocking[0] and "exclude_tables" in v.blocking[0]
        # the stanza proposes the exclusion (reason marked REVIEW); pasted as it is, preflight goes on
        inv, v = verdict(c, load_params("local"))
        assert "1 lacking the audit columns (blocking)" in v.key_figures(inv)["audit tables"], v.key_figures(inv)
        _, _, stanza = pre.value_profile(c, inv, load_params("local"))
        proposed = yaml.safe_load(stanza)["exclude_tables"]
        assert proposed == [{"table": "qa_notes", "reason": "lacks employee_email, auditor_email: not an audit table"}], stanza
        pasted = yaml.safe_load((params_dir() / "local.yaml").read_text()) | {"exclude_tables": proposed}
        (tmp_path / "pasted.yaml").write_text(yaml.safe_dump(pasted))
        assert verdict(c, load_params("local", tmp_path / "pasted.yaml"))[1].blocking == []

        data = yaml.safe_load((params_dir() / "local.yaml").read_text())
        data["exclude_tables"] = [{"table": "qa_notes", "reason": "free-text notes, not audits (ticket QA-12)"}]
        pfile = tmp_path / "local.yaml"
        pfile.write_text(yaml.safe_dump(data))
        inv, v = verdict(c, load_params("local", pfile))
        assert v.blocking == []
        assert "qa_notes: excluded by decision: free-text notes, not audits (ticket QA-12)" in v.warnings
    deploy_p1()
    deploy_p2(names=BUILD, params_file=str(pfile))
    with PhaseContext(p2.PHASE, env="local", params_file=str(pfile)) as ctx:
        v2 = p2.validate(ctx.conn, p2.migratable(ctx), p2._inventory(ctx).not_migrated())
    assert v2.ok
    row = v2.reconciliation.loc["qa_notes"]
    assert row["disposition"] == "excluded by decision: free-text notes, not audits (ticket QA-12)"
    assert row["legacy rows"] == 7 and row["migrated"] == 0
    with legacy_db.connect() as c:
        assert triggers_on(c, "public.qa_notes") == []
        assert one(c, "SELECT count(*) FROM public.audits WHERE legacy_table = 'qa_notes'") == 0


@pytest.mark.parametrize("entry,message", [
    ({"table": "qa_notes"}, "reason"),
    ({"table": "qa_notes", "reason": ""}, "reason"),
    ({"table": "qa_notes", "reason": "why", "extra": 1}, "extra"),
])
def test_exclude_tables_needs_a_table_and_a_reason(tmp_path, entry, message):
    data = yaml.safe_load((params_dir() / "local.yaml").read_text())
    data["exclude_tables"] = [entry]
    pfile = tmp_path / "local.yaml"
    pfile.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match=message):
        load_params("local", pfile)


def test_reference_spellings_that_differ_only_in_punctuation_are_named_with_the_respelling_that_merges_them(legacy_db):
    """'E-mail' and 'Email' in people.channel would become two channels (E_MAIL, EMAIL): an
    independent attack found 3,246 audits on the second. Preflight names them and the fix."""
    with legacy_db.connect(autocommit=True) as c:
        email = one(c, "SELECT channel FROM public.people WHERE channel ILIKE 'email' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        c.execute("UPDATE public.people SET channel = 'E-mail' WHERE email IN (SELECT email FROM public.people "
                  "WHERE channel = %s ORDER BY email LIMIT 3)", (email,))
        warned = [w for w in verdict(c, load_params("local"))[1].warnings if "differ only in punctuation" in w]
        assert len(warned) == 1 and "'E-mail' (3 rows)" in warned[0] and "E_MAIL" in warned[0], warned
        assert f"respell the others as {email!r}" in warned[0], warned
        c.execute("UPDATE public.people SET channel = %s WHERE channel = 'E-mail'", (email,))
        assert not [w for w in verdict(c, load_params("local"))[1].warnings if "differ only in punctuation" in w]
