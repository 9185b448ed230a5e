"""The runner end to end: papermill executes the phase notebooks against the seeded legacy
database, writes the audit trail under the scratch CQMS_HOME's outputs/, and never writes a
password; rollback runs through the 99 notebook; bad input creates nothing; `status` works."""

from __future__ import annotations

import json
import os
import shutil
import sys
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

import conftest
from cqms_migrate import phases, runner, trail
from cqms_migrate.errors import DatabaseUnreachable
from cqms_migrate.paths import outputs_dir, params_dir
from cqms_migrate.phases import p01_foundation as p1
from helpers import one  # noqa: E402

THROUGH = "01_foundation"




def quiet(_msg: str) -> None:
    pass


def secrets_of(legacy_db) -> list[bytes]:
    found = set()
    for pw in (conftest.ROLE_PASSWORD, legacy_db.server.admin_password):
        assert len(pw) >= 8
        found |= {pw, quote(pw, safe=""), json.dumps(pw)[1:-1]}
    return [s.encode() for s in found]


def assert_no_secret_under(root: Path, secrets: list[bytes]) -> int:
    files = [p for p in root.rglob("*") if p.is_file()]
    for p in files:
        data = p.read_bytes()
        for s in secrets:
            assert s not in data, f"a password is written in {p}"
    return len(files)


@pytest.fixture
def first_run(legacy_db):
    manifest = runner.run("local", through=THROUGH, log=quiet)
    return legacy_db, manifest


def test_run_writes_the_trail(first_run):
    legacy_db, m = first_run
    out = outputs_dir() / "local" / m["run_id"]
    assert Path(os.environ["CQMS_HOME"]).resolve() in out.parents  # the scratch home, not the repo
    names = sorted(p.name for p in out.iterdir())
    assert names == ["00_preflight.html", "00_preflight.ipynb", "01_foundation.html", "01_foundation.ipynb",
                     "index.html", "manifest.json"]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(m, default=str))
    assert m["status"] == "succeeded" and m["env"] == "local" and m["action"] == "run"
    assert [(p["phase"], p["status"]) for p in m["phases"]] == [("00_preflight", "succeeded"),
                                                                ("01_foundation", "succeeded")]
    assert m["planned"] == ["00_preflight", "01_foundation"]
    assert set(m["files"]) == set(names) - {"manifest.json"}
    assert m["files"]["01_foundation.ipynb"] == trail.sha256_file(out / "01_foundation.ipynb")
    assert m["previous_run_id"] is None and m["previous_manifest_sha256"] is None
    assert m["database"] == f"postgres@127.0.0.1:{legacy_db.server.port}/{legacy_db.name}"
    assert m["url_from"] == "CQMS_DATABASE_URL"

    # the executed notebook carries the run's parameters and its outputs
    nb = json.loads((out / "01_foundation.ipynb").read_text())
    text = json.dumps(nb)
    assert m["run_id"] in text
    assert "enable_feature_flag" in text

    # the run really happened in the database, under the same run id
    with legacy_db.connect() as conn:
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps WHERE phase = '01_foundation' "
                         "AND run_id = %s", (m["run_id"],)) == len(p1.BUILD_STEPS + p1.CUTOVER_STEPS)
        assert conn.execute("SELECT phase, status FROM cqms_migration.runs WHERE run_id = %s ORDER BY phase",
                            (m["run_id"],)).fetchall() == [("00_preflight", "succeeded"), ("01_foundation", "succeeded")]
        assert one(conn, "SELECT enabled FROM cqms_migration.feature_flags "
                         "WHERE flag = 'USE_UNIFIED_EMPLOYEES_TABLE'") is True

    # no password anywhere under outputs/, in any encoding; the manifest names where the URL came from
    assert assert_no_secret_under(outputs_dir(), secrets_of(legacy_db)) >= 5
    assert "postgresql://" not in (out / "manifest.json").read_text()

    # the CLI reports the applied steps and this run
    proc = subprocess.run([sys.executable, "-m", "cqms_migrate", "status", "--env", "local"],
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    status = proc.stdout
    assert "applied steps:" in status
    for step in ("snapshot_legacy", "merge_employees", "enable_feature_flag"):
        assert step in status
    assert f"127.0.0.1:{legacy_db.server.port}/{legacy_db.name}" in status
    assert conftest.ROLE_PASSWORD not in status + proc.stderr
    flags = [ln for ln in status.splitlines() if ln.strip().startswith("USE_UNIFIED_EMPLOYEES_TABLE")]
    assert len(flags) == 1 and "True" in flags[0]
    assert f"last output run: {m['run_id']}" in status

    assert trail.verify_trail("local") == []
    # tampering with any output is reported
    html = out / "00_preflight.html"
    html.write_text(html.read_text() + "<!-- edited -->")
    problems = trail.verify_trail("local")
    assert problems == [f"run {m['run_id']}: 00_preflight.html does not match its recorded sha256"]


def test_second_run_chains_to_the_first_and_rollback(first_run):
    legacy_db, m1 = first_run
    first_manifest = outputs_dir() / "local" / m1["run_id"] / "manifest.json"
    sha1 = trail.sha256_file(first_manifest)

    m2 = runner.run("local", phases=["00_preflight"], log=quiet)
    assert m2["status"] == "succeeded"
    assert m2["previous_run_id"] == m1["run_id"]
    assert m2["previous_manifest_sha256"] == sha1
    assert trail.verify_trail("local") == []

    m3 = runner.rollback("local", THROUGH, log=quiet)
    assert m3["status"] == "succeeded" and m3["action"] == "rollback" and m3["target_phase"] == THROUGH
    assert [(p["phase"], p["status"]) for p in m3["phases"]] == [("99_rollback", "succeeded")]
    assert m3["previous_run_id"] == m2["run_id"]
    assert m3["previous_manifest_sha256"] == trail.sha256_file(outputs_dir() / "local" / m2["run_id"] / "manifest.json")
    out3 = outputs_dir() / "local" / m3["run_id"]
    assert sorted(p.name for p in out3.iterdir()) == ["99_rollback.html", "99_rollback.ipynb", "index.html",
                                                      "manifest.json"]
    assert "every legacy table identical to before the phase" in (out3 / "99_rollback.ipynb").read_text()

    with legacy_db.connect() as conn:
        assert one(conn, "SELECT to_regclass('public.employees')") is None
        assert one(conn, "SELECT to_regclass('public.people_compat')") is None
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps") == 0
        assert one(conn, "SELECT enabled FROM cqms_migration.feature_flags "
                         "WHERE flag = 'USE_UNIFIED_EMPLOYEES_TABLE'") is False

    assert trail.verify_trail("local") == []
    assert_no_secret_under(outputs_dir(), secrets_of(legacy_db))

    # removing a run from the middle of the chain is detected
    shutil.rmtree(outputs_dir() / "local" / m2["run_id"])
    problems = trail.verify_trail("local")
    assert any(m2["run_id"] in p and "missing" in p for p in problems), problems


def test_unreachable_database_creates_nothing(legacy_db, tmp_path, monkeypatch):
    data = yaml.safe_load((params_dir() / "local.yaml").read_text())
    data["database_url_env"] = "CQMS_TEST_CLOSED_PORT_URL"
    pfile = tmp_path / "closed.yaml"
    pfile.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CQMS_TEST_CLOSED_PORT_URL", "postgresql://someone:closed-port-pw-42@127.0.0.1:1/nothing")

    before = sorted(p.relative_to(outputs_dir()) for p in outputs_dir().rglob("*"))
    with pytest.raises(DatabaseUnreachable) as ei:
        runner.run("local", params_file=str(pfile), log=quiet)
    assert "127.0.0.1:1" in str(ei.value)
    assert "closed-port-pw-42" not in str(ei.value)
    assert sorted(p.relative_to(outputs_dir()) for p in outputs_dir().rglob("*")) == before
    assert not (outputs_dir() / "local").exists() or not any((outputs_dir() / "local").iterdir())


def test_a_failed_check_stops_the_run_and_still_leaves_its_record(legacy_db, tmp_path):
    """Preflight with max_orphan_pct far below the data's orphan rate must say NO-GO: the run
    raises NotebookFailed naming the cell, the executed notebook (with the error) and its HTML
    are written, the manifest says failed, later phases do not run, the ledger run is failed."""
    from cqms_migrate.errors import NotebookFailed

    params = yaml.safe_load((params_dir() / "local.yaml").read_text())
    params["max_orphan_pct"] = 1.0
    pfile = tmp_path / "local.yaml"
    pfile.write_text(yaml.safe_dump(params))
    with pytest.raises(NotebookFailed) as exc:
        runner.run("local", params_file=str(pfile), through="01_foundation", log=quiet)
    message = str(exc.value)
    assert "00_preflight failed at cell" in message and "CheckFailed" in message and "NO-GO" in message
    manifest = exc.value.manifest
    folder = outputs_dir() / "local" / manifest["run_id"]
    assert manifest["status"] == "failed"
    assert [p["status"] for p in manifest["phases"]] == ["failed"]
    executed = json.loads((folder / "00_preflight.ipynb").read_text())
    errors = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "CheckFailed"
    assert (folder / "00_preflight.html").exists() and not (folder / "01_foundation.ipynb").exists()
    assert trail.verify_trail("local") == []
    with legacy_db.connect() as conn:
        status, msg = conn.execute("SELECT status, message FROM cqms_migration.runs WHERE run_id = %s "
                                   "AND phase = '00_preflight'", (manifest["run_id"],)).fetchone()
        assert status == "failed" and "CheckFailed" in msg
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps") == 0


def test_dry_run_renders_every_phase_and_changes_nothing(legacy_db):
    manifest = runner.run("local", dry_run=True, log=quiet)
    assert manifest["status"] == "succeeded" and manifest["dry_run"] is True
    assert [p["phase"] for p in manifest["phases"]] == phases.names()
    folder = outputs_dir() / "local" / manifest["run_id"]
    executed = (folder / "02_audit_unification.ipynb").read_text()
    # the reviewer sees the exact SQL that would run, identifiers quoted
    assert "CREATE TABLE public.audits" in executed and "CREATE TRIGGER" in executed
    with legacy_db.connect() as conn:
        assert one(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cqms_migration'") == 0
        assert one(conn, "SELECT to_regclass('public.employees') IS NULL AND to_regclass('public.audits') IS NULL")
        assert one(conn, "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                         "WHERE NOT t.tgisinternal AND c.relname LIKE '%audit%'") == 0
