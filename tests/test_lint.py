"""`cqms-migrate lint` (issue 8): zero unwaived findings on the phases as they are, and each rule
finds the problem it is for when a step renders it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cqms_migrate import lint
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p02_audit_unification as p2
from cqms_migrate.steps import Rendered


def test_split_statements_honours_quotes_and_dollar_bodies():
    text = ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $x$ SELECT 1; SELECT 2 $x$; "
            "SELECT 'a;b', \"c;d\" FROM t; -- a comment; still a comment\nSELECT 3 /* ; */")
    assert lint.split_statements(text) == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $x$ SELECT 1; SELECT 2 $x$",
        "SELECT 'a;b', \"c;d\" FROM t",
        "-- a comment; still a comment\nSELECT 3 /* ; */"]


def test_the_phases_lint_clean_from_the_command_line(legacy_db):
    r = subprocess.run([sys.executable, "-m", "cqms_migrate", "lint", "--env", "local"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 unwaived finding(s)" in r.stdout


def _findings_with(monkeypatch, step_name: str, statements: list[str], separate: bool = False):
    original = p2.plan

    def patched(ctx):
        out = original(ctx)
        for s in out:
            if s.name == step_name:
                s.render_deploy = lambda ctx, st=statements: Rendered(st, separate=separate)
        return out
    monkeypatch.setattr(p2, "plan", patched)
    with PhaseContext("lint", env="local", dry_run=True, log=lambda m: None) as ctx:
        df = lint.run(ctx, ["02_audit_unification"])
    return df[(df["step"] == step_name) & (df["action"] == "deploy") & ~df["waived"]]


def test_each_rule_finds_its_problem(legacy_db, monkeypatch):
    with legacy_db.connect() as c:
        a, b = [r[0] for r in c.execute("SELECT table_name FROM public.scorecards WHERE table_name LIKE '%\\_audit' "
                                        "ORDER BY 1 LIMIT 2").fetchall()]
    bad = [
        f"CREATE TRIGGER t1 AFTER INSERT ON public.{a} FOR EACH ROW EXECUTE FUNCTION cqms_migration.ref_code()",
        f"CREATE TRIGGER t2 AFTER INSERT ON public.{b} FOR EACH ROW EXECUTE FUNCTION cqms_migration.ref_code()",
        "CREATE FUNCTION cqms_migration.leaky() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS "
        "$$ BEGIN RETURN NEW; END $$",
        "REFRESH MATERIALIZED VIEW public.audit_statistics",
        "-- squawk-ignore prefer-robust-stmts\nCREATE TABLE public.x (id int)",
    ]
    found = _findings_with(monkeypatch, "create_compat_views", bad)
    rules = set(found["rule"])
    assert {"several-legacy-locks", "function-without-search-path", "refresh-not-concurrently",
            "waiver-without-reason"} <= rules, found[["rule", "statement"]].to_string()


def test_a_unit_without_statement_timeout_and_legacy_ddl_without_retries(legacy_db, monkeypatch):
    with legacy_db.connect() as c:
        a = c.execute("SELECT table_name FROM public.scorecards WHERE table_name LIKE '%\\_audit' ORDER BY 1 LIMIT 1"
                      ).fetchone()[0]
    original = p2.plan

    def patched(ctx):
        out = original(ctx)
        for s in out:
            if s.name == "create_indexes":   # an autocommit step: its text is all it runs
                s.render_deploy = lambda ctx: Rendered([f"CREATE INDEX CONCURRENTLY i ON public.{a} (id)"], separate=True)
                s.lock_retried = False
        return out
    monkeypatch.setattr(p2, "plan", patched)
    with PhaseContext("lint", env="local", dry_run=True, log=lambda m: None) as ctx:
        df = lint.run(ctx, ["02_audit_unification"])
    found = df[(df["step"] == "create_indexes") & (df["action"] == "deploy") & ~df["waived"]]
    assert {"no-statement-timeout"} <= set(found["rule"]), found.to_string()
    with pytest.raises(lint.LintFailed):
        lint.raise_if_unwaived(df)


def test_a_waiver_with_its_reason_is_honoured(legacy_db, monkeypatch):
    stmts = ["-- lint waived: refreshed once, before anyone reads it\n-- cqms-lint-ignore refresh-not-concurrently\n"
             "REFRESH MATERIALIZED VIEW public.audit_statistics"]
    found = _findings_with(monkeypatch, "create_compat_views", stmts)
    assert "refresh-not-concurrently" not in set(found["rule"]) and "waiver-without-reason" not in set(found["rule"])
