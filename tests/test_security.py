"""The security model (docs/security.md) and the advisor (issue 8).

* The pgTAP files in supabase/tests/database/ (the layout `supabase test db` runs) assert every
  cell of the allow/deny matrix per persona, through the base tables and the compat views, and
  the seed's 4.1 read; they run here with pg_prove on a stock Supabase emulation after phases 01
  and 02.
* The advisor finds nothing to report on a fresh migration, and finds each lint's problem when
  it is planted (so it can fail).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cqms_migrate import advisor, phases
from cqms_migrate.cluster import embedded_bin_dir
from cqms_migrate.context import PhaseContext
from conftest import IN_CI, ROLE_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
PGTAP_FILES = sorted(glob.glob(str(ROOT / "supabase" / "tests" / "database" / "*.test.sql")))
DEBIAN_PGTAP = Path("/usr/share/postgresql/15/extension")


def _need(what: str, ok: bool) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is missing under CI (.ci/run installs it)")
        pytest.skip(f"{what} is not installed (apt-get install postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl)")


def _install_pgtap(server, db) -> None:
    """pgTAP is SQL only: Debian's files serve PostgreSQL 15 and, copied, the embedded 18."""
    _need("pg_prove", shutil.which("pg_prove") is not None)
    _need("pgTAP (postgresql-15-pgtap)", (DEBIAN_PGTAP / "pgtap.control").exists())
    if server.kind == "embedded":
        target = embedded_bin_dir().parent / "share" / "extension"
        for f in DEBIAN_PGTAP.glob("pgtap*"):
            if not (target / f.name).exists():
                shutil.copy(f, target / f.name)
    with db.admin(autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pgtap WITH SCHEMA extensions")


@pytest.fixture
def migrated(legacy_db):
    for ph in [p for p in phases.PHASES if p.build]:   # every phase of the registry, in order
        with PhaseContext(ph.name, env="local") as ctx:
            out = phases.deploy(ctx, ph.steps(ctx))
        assert {o.status for o in out} == {"applied"}
    return legacy_db


def _pg_prove(server, db) -> subprocess.CompletedProcess:
    _install_pgtap(server, db)
    env = dict(os.environ, PGPASSWORD=ROLE_PASSWORD, PGHOST="127.0.0.1", PGPORT=str(server.port),
               PGUSER="postgres", PGDATABASE=db.name)
    return subprocess.run(["pg_prove", "--verbose", *PGTAP_FILES], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT / "supabase" / "tests" / "database")


def test_the_security_matrix_holds_for_every_persona(migrated, server):
    assert len(PGTAP_FILES) >= 6
    r = _pg_prove(server, migrated)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "All tests successful" in out
    ran = sum(int(n) for n in re.findall(r"^1\.\.(\d+)$", out, re.M))
    assert ran >= 70, out[-3000:]


@pytest.mark.parametrize("values", ["total_score = 100, reversal_approved = true", "total_score = 5"],
                         ids=["agent-writes", "supervisor-writes"])
def test_a_refused_write_is_refused_whatever_the_audit_holds(migrated, server, values):
    # a write that changes nothing is rightly let through by the guard, so a denial the pgTAP files
    # assert must change the value: with every audit already holding what a denied write once set
    # (02_agent: a score of 100, an approved reversal; 04_supervisor: a score of 5) they still pass
    with migrated.connect(autocommit=True) as c:
        c.execute(f"UPDATE public.audits SET {values}")
    r = _pg_prove(server, migrated)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]


def test_the_anon_file_fails_when_anon_loses_its_stock_grant_on_a_legacy_table(migrated, server):
    # 01_anon asserts the legacy people table stays as a stock Supabase project has it (readable by
    # anon): an expectation derived from the grant itself could not fail
    with migrated.admin(autocommit=True) as c:
        c.execute("REVOKE SELECT ON public.people FROM anon")
    r = _pg_prove(server, migrated)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert re.search(r"^not ok \d+ - anon: the legacy people table", out, re.M), out[-3000:]


def test_the_advisor_finds_nothing_on_a_fresh_migration(migrated):
    with migrated.connect() as c:
        findings = advisor.run(c)
        owned = advisor.owned_objects(c)
    assert {"public.employees", "public.audits", "public.audit_errors"} <= set(owned.tables)
    assert {"public.users_compat", "public.people_compat"} <= set(owned.views) and len(owned.views) > 4
    assert "cqms_security.current_employee_id" in owned.functions
    problems = findings[findings["level"].isin(["ERROR", "WARN"]) & ~findings["waived"]]
    assert problems.empty, problems.to_string()


PLANTED = [
    ("rls_disabled_in_public", "ERROR", "public.roles",
     ["ALTER TABLE public.roles DISABLE ROW LEVEL SECURITY", "GRANT SELECT ON public.roles TO anon"]),
    ("security_definer_view", "ERROR", "public.users_compat",
     ["ALTER VIEW public.users_compat RESET (security_invoker)"]),
    ("multiple_permissive_policies", "WARN", "public.employees",
     ["CREATE POLICY extra_read ON public.employees FOR SELECT TO authenticated USING (is_active)"]),
    ("function_search_path_mutable", "WARN", "cqms_migration.ref_code(text)",
     ["ALTER FUNCTION cqms_migration.ref_code(text) RESET search_path"]),
    ("authenticated_security_definer_function_executable", "WARN", "public.cqms_leak()",
     ["CREATE FUNCTION public.cqms_leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'SELECT 1'"]),
    ("anon_security_definer_function_executable", "WARN", "public.cqms_leak()",
     ["CREATE FUNCTION public.cqms_leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'SELECT 1'"]),
    ("auth_rls_initplan", "WARN", "public.audits",
     ["CREATE POLICY per_row ON public.audits AS RESTRICTIVE FOR SELECT TO authenticated "
      "USING (auth.uid() IS NOT NULL)"]),
    ("rls_policy_always_true", "WARN", "public.countries",
     ["CREATE POLICY anyone_writes ON public.countries FOR UPDATE TO authenticated USING (true) WITH CHECK (true)"]),
    ("unindexed_foreign_keys", "INFO", "public.audits",
     ["ALTER TABLE public.audits ADD CONSTRAINT audits_assignment_probe_fkey FOREIGN KEY (assignment_id) "
      "REFERENCES public.audits (id)", "DROP INDEX IF EXISTS public.idx_audits_assignment_id"]),
    ("sensitive_columns_exposed", "ERROR", "public.teams",
     ["ALTER TABLE public.teams ADD COLUMN api_key text", "ALTER TABLE public.teams DISABLE ROW LEVEL SECURITY",
      "GRANT SELECT ON public.teams TO authenticated"]),
]


@pytest.mark.parametrize("lint,level,obj,plant", PLANTED, ids=[p[0] for p in PLANTED])
def test_the_advisor_finds_each_planted_problem(migrated, lint, level, obj, plant):
    with migrated.connect(autocommit=True) as c:
        for stmt in plant:
            c.execute(stmt)
        findings = advisor.run(c)
    hit = findings[(findings["lint"] == lint) & (findings["object"] == obj)]
    assert len(hit) == 1 and hit["level"].iloc[0] == level, findings.to_string()
    if level == "ERROR":
        with pytest.raises(Exception, match="the advisor found"):
            advisor.raise_on_errors(findings, "test")


def test_waivers_are_documented_in_security_md():
    doc = (ROOT / "docs" / "security.md").read_text()
    for (lint, obj), reason in advisor.WAIVERS.items():
        assert f"| {lint} | {obj} |" in doc and reason in doc, (lint, obj)
    if not advisor.WAIVERS:
        assert "No advisor finding is waived" in doc
