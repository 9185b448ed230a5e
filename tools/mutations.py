"""Planted defects (issue 25): each is applied to a throwaway copy of the committed tree, the
tests named for it run against that copy, and the report says which test caught it. A defect no
test catches is a hole in the suite: the run exits non-zero.

    .venv/bin/python tools/mutations.py            # every defect (about 10 minutes)
    .venv/bin/python tools/mutations.py fence      # those whose name contains 'fence'

Runs on the embedded server only (CQMS_TEST_SERVERS=embedded), one defect at a time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
P2 = "lib/cqms_migrate/phases/p02_audit_unification"


@dataclass
class Defect:
    name: str
    what: str
    file: str
    old: str
    new: str
    tests: list[str]


DEFECTS = [
    Defect("echo-guard", "the forward sync's echo guard removed (it re-syncs the reverse sync's own write)",
           f"{P2}/templates/sync_body.sql",
           "IF v_marker = 'reverse:' || {table_name} || ':' || v_id THEN",
           "IF false AND v_marker = 'reverse:' || {table_name} || ':' || v_id THEN",
           ["tests/test_audits_live.py", "tests/test_live_sync.py"]),
    Defect("compat-column", "one column (transcript) left out of every audit compat view",
           f"{P2}/compat.py",
           '"transcript": kept("transcript", sql.SQL("a.transcript")),',
           '"transcript": sql.SQL("NULL::text"),',
           ["tests/test_audits.py::test_build_validates_and_every_legacy_row_is_accounted_for",
            "tests/test_audits_live.py"]),
    Defect("agent-guard", "audits_guard's access-level check for an audit's author removed",
           f"{P2}/deploy/enable_rls.sql",
           "IF OLD.auditor_id = v_me AND v_level = 'elevated' THEN",
           "IF OLD.auditor_id = v_me THEN",
           ["tests/test_security.py::test_the_security_matrix_holds_for_every_persona"]),
    Defect("quarantine-reason", "the self-audit quarantine reason skipped (such rows migrate)",
           f"{P2}/templates/shaped_select.sql",
           "WHEN emp.id = aud.id THEN 'self_audit'",
           "WHEN false THEN 'self_audit'",
           ["tests/test_audits.py::test_build_validates_and_every_legacy_row_is_accounted_for",
            "tests/test_outcome.py"]),
    Defect("checkpoint-early", "the backfill checkpoint committed apart from (before) its batch",
           "lib/cqms_migrate/batching.py",
           "self._commit(job, position, new_position, rows, next_rows, batch, result, secs, conn=conn)",
           "self._commit(job, position, new_position, rows, next_rows, batch, result, secs, "
           "conn=__import__('psycopg').connect(ctx.conn.info.dsn, password=ctx.conn.info.password, autocommit=True))",
           ["tests/test_audits.py::test_crash_mid_backfill_then_resume_matches_a_clean_run"]),
    Defect("no-fence", "the rollback's write fence on audits not installed",
           f"{P2}/revert/install_reverse_sync.sql",
           "CREATE OR REPLACE TRIGGER cqms_p02_fence BEFORE INSERT OR UPDATE OR DELETE ON public.audits",
           "CREATE OR REPLACE TRIGGER cqms_p02_fence BEFORE TRUNCATE ON public.audits",
           ["tests/test_audits_live.py", "tests/test_round_trip.py"]),
    Defect("verify-column", "verify compares one employee column fewer (role_id)",
           "lib/cqms_migrate/verify.py",
           'EMPLOYEE_COMPARED = ["auth_user_id", "email", "employee_id", "avatar_url", "name", "role_id", ',
           'EMPLOYEE_COMPARED = ["auth_user_id", "email", "employee_id", "avatar_url", "name", ',
           ["tests/test_attack_verify_tamper.py::test_tamper[pg18-emp_role_id]"]),
    Defect("extra-grant", "the anon persona given one extra grant: SELECT on employees",
           "lib/cqms_migrate/phases/p01_foundation/deploy/enable_rls.sql",
           "-- The security model of docs/security.md for phase 1's tables.",
           "GRANT SELECT ON public.employees TO anon;\n-- The security model of docs/security.md for phase 1's tables.",
           ["tests/test_security.py::test_the_security_matrix_holds_for_every_persona"]),
]


def _copy(dest: Path) -> None:
    """The committed tree (git ls-files), so local edits never mask a defect."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        src, dst = ROOT / f.decode(), dest / f.decode()
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_file():
            shutil.copy2(src, dst)


def run(defect: Defect) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix=f"cqms-mutant-{defect.name}-") as tmp:
        tree = Path(tmp)
        _copy(tree)
        target = tree / defect.file
        text = target.read_text()
        if text.count(defect.old) != 1:
            return "BROKEN", f"the text to change is not found exactly once in {defect.file}"
        target.write_text(text.replace(defect.old, defect.new))
        env = dict(os.environ, PYTHONPATH=f"{tree / 'lib'}:{tree / 'tests'}", CQMS_TEST_SERVERS="embedded")
        for test in defect.tests:
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test],
                               cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
            if r.returncode == 1:
                failed = re.findall(r"^FAILED (\S+)", r.stdout, re.M)
                return "caught", failed[0] if failed else test
            if r.returncode not in (0, 5):
                return "BROKEN", f"{test}: pytest exit {r.returncode}: {r.stdout[-300:]}{r.stderr[-300:]}"
        return "NOT CAUGHT", ", ".join(defect.tests)


def main(argv: list[str]) -> int:
    chosen = [d for d in DEFECTS if not argv or any(a in d.name for a in argv)]
    missed = 0
    for d in chosen:
        t0 = time.time()
        verdict, detail = run(d)
        missed += verdict != "caught"
        print(f"{d.name:18} {verdict:10} {detail}   ({d.what}; {time.time() - t0:.0f} s)", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
