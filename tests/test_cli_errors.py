"""Bad input exits non-zero with one redacted line on stderr and writes nothing.

Runs `python -m cqms_migrate` in a subprocess against a throwaway CQMS_HOME (copies of
params/, a trivial notebook), so the real outputs/ stays clean. No database needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"

NOOP_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
               "outputs": [], "source": "env = 'local'"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


@pytest.fixture()
def home(tmp_path):
    h = tmp_path / "home"
    shutil.copytree(ROOT / "params", h / "params")
    (h / "notebooks").mkdir()
    (h / "notebooks" / "00_noop.ipynb").write_text(json.dumps(NOOP_NOTEBOOK))
    return h


def cli(home: Path, *args: str, **env_over: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("CQMS_") or k in ("PGPASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"))}
    env.update(PYTHONPATH=str(LIB), CQMS_HOME=str(home), CQMS_STATE_DIR=str(home / ".state"))
    for k, v in env_over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-m", "cqms_migrate", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cqms-migrate: error:"), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def assert_no_outputs(home: Path, env: str) -> None:
    assert not (home / "outputs" / env).exists()


def test_malformed_params_yaml(home):
    bad = home / "bad.yaml"
    bad.write_text("env: local\nroles: [\n  {code: AGENT\n")
    proc = cli(home, "run", "--env", "local", "--params", str(bad))
    assert_one_line_error(proc, "not valid YAML")
    assert proc.returncode == 2
    assert_no_outputs(home, "local")


def test_unknown_params_key(home):
    p = home / "typo.yaml"
    p.write_text((home / "params" / "local.yaml").read_text() + "\nbatchsize: 5\n")
    proc = cli(home, "run", "--env", "local", "--params", str(p))
    assert_one_line_error(proc, "batchsize")
    assert proc.returncode == 2
    assert_no_outputs(home, "local")


def test_prod_without_confirm(home):
    proc = cli(home, "run", "--env", "prod", CQMS_PROD_DATABASE_URL="postgresql://u:pw@127.0.0.1:1/x")
    assert_one_line_error(proc, "--confirm")
    assert proc.returncode == 3
    assert_no_outputs(home, "prod")


def test_staging_without_url(home):
    proc = cli(home, "run", "--env", "staging")
    assert_one_line_error(proc, "CQMS_STAGING_DATABASE_URL")
    assert_no_outputs(home, "staging")


def test_unreachable_database_does_not_leak_password(home):
    proc = cli(home, "run", "--env", "local", CQMS_DATABASE_URL="postgresql://u:s3cretpw@127.0.0.1:1/x")
    assert_one_line_error(proc, "127.0.0.1:1")
    assert proc.returncode == 4
    assert "s3cretpw" not in proc.stderr and "s3cretpw" not in proc.stdout
    assert_no_outputs(home, "local")


def test_unknown_phase(home):
    proc = cli(home, "run", "--env", "local", "--phase", "nope",
               CQMS_DATABASE_URL="postgresql://u:s3cretpw@127.0.0.1:1/x")
    assert_one_line_error(proc, "unknown phase 'nope'", "00_preflight")   # the registry's phases
    assert_no_outputs(home, "local")


def test_legacy_seed_refuses_staging(home):
    assert_one_line_error(cli(home, "legacy", "seed", "--env", "staging"), "refuses")


def test_verify_trail_reports_tampering_in_one_line(home):
    sys.path.insert(0, str(LIB))
    try:
        from cqms_migrate.trail import write_manifest
    finally:
        sys.path.remove(str(LIB))
    run = home / "outputs" / "local" / "20250101T000000Z-aaaaaa"
    run.mkdir(parents=True)
    (run / "01_x.ipynb").write_text("{}")
    write_manifest(run, {"run_id": run.name, "env": "local", "previous_run_id": None,
                         "previous_manifest_sha256": None})
    ok = cli(home, "verify-trail", "--env", "local")
    assert ok.returncode == 0 and ok.stdout.strip() == "trail OK: 1 run, 1 file"
    (run / "01_x.ipynb").write_text("{\"edited\": true}")
    proc = cli(home, "verify-trail", "--env", "local")
    assert_one_line_error(proc, "01_x.ipynb")
    assert proc.returncode == 11


def test_staging_refuses_a_url_that_asks_for_less_than_tls(home):
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres?sslmode=disable"
    p = cli(home, "run", "--env", "staging", CQMS_STAGING_DATABASE_URL=url)
    line = assert_one_line_error(p, "sslmode=disable", "tls: require")
    assert "s3cret-pw" not in line and p.returncode == 4
    assert not (home / "outputs").exists() or not any((home / "outputs").rglob("*.ipynb"))


def test_staging_asks_for_tls_when_the_url_says_nothing(legacy_db, tmp_path):
    # the local test server has no TLS: the connection must fail rather than fall back to plaintext
    home = tmp_path / "cli-home"
    shutil.copytree(ROOT / "params", home / "params")
    (home / "notebooks").mkdir()
    (home / "notebooks" / "00_noop.ipynb").write_text(json.dumps(NOOP_NOTEBOOK))
    p = cli(home, "run", "--env", "staging", CQMS_STAGING_DATABASE_URL=legacy_db.url)
    line = assert_one_line_error(p, "cannot connect")
    assert "SSL" in line or "ssl" in line, line
    assert p.returncode == 4


def test_rehearse_refuses_anything_but_local_and_unknown_faults(home):
    proc = cli(home, "rehearse", "--env", "staging", "--audits", "0",
               CQMS_STAGING_DATABASE_URL="postgresql://u:pw@127.0.0.1:1/x")
    assert_one_line_error(proc, "local")
    assert_no_outputs(home, "staging")
    proc = cli(home, "rehearse", "--faults", "crash,meteor", "--audits", "0")
    assert_one_line_error(proc, "meteor", "crash, statement_timeout")
    assert proc.returncode == 2
    proc = cli(home, "rehearse", "--workers", "0", "--audits", "0")
    assert_one_line_error(proc, "--workers")


def test_rehearse_seeds_with_every_option_of_legacy_seed():
    """`cqms-migrate rehearse` seeds through `legacy seed`: its arguments came from a Namespace
    built by hand, which lacked --no-auth-helpers, so the README's rehearse command failed before
    seeding (AttributeError). They are now parsed by the seed command's own parser."""
    from cqms_migrate.cli import build_parser, rehearse_seed_args
    args = build_parser().parse_args(["rehearse", "--audits", "5000", "--scorecards", "4"])
    seed = rehearse_seed_args(args)
    assert vars(seed).keys() >= vars(build_parser().parse_args(["legacy", "seed"])).keys()
    assert (seed.audits, seed.scorecards, seed.people, seed.replace, seed.drift, seed.no_auth_helpers) == \
        (5000, 4, None, True, False, False)
