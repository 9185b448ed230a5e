"""Phase 0 (preflight): the notebook runs against the seeded legacy data and records its
measurements; the inventory finds the planted anomalies; the go/no-go blocks on bad figures;
the committed notebooks execute cleanly with their defaults (nbval)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest
import yaml

from cqms_migrate import inventory, quality
from cqms_migrate.errors import CheckFailed
from cqms_migrate.params import load_params
from cqms_migrate.paths import params_dir
from cqms_migrate.phases import p00_preflight as pre
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from helpers import one  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"




def test_preflight_notebook_records_quality_within_bounds(legacy_db, tmp_path):
    out = tmp_path / "00_preflight.out.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "00_preflight.ipynb"), str(out), parameters=dict(env="local"),
                        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert out.is_file()

    with legacy_db.connect() as conn:
        rows = conn.execute("SELECT value FROM cqms_migration.metrics WHERE phase = '00_preflight' "
                            "AND name = 'quality'").fetchall()
        assert len(rows) == 1
        q = rows[0][0]
        assert 80 <= q["referential integrity %"] <= 92
        assert 5 <= q["orphaned records %"] <= 10
        assert 2 <= q["duplicate records %"] <= 3.5
        assert 85 <= q["data completeness %"] <= 100
        # the duplicate figure is re-derivable from the legacy table
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT lower(btrim(email))) FROM public.people "
                                       "WHERE email IS NOT NULL").fetchone()
        assert q["duplicate records %"] == round(100.0 * (total - distinct) / total, 2)
        assert q["_counts"]["people_rows"] == total
        # preflight is read-only: a run row and metrics, nothing else
        assert conn.execute("SELECT phase, action, status FROM cqms_migration.runs").fetchall() == \
            [("00_preflight", "preflight", "succeeded")]
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps") == 0
        assert one(conn, "SELECT to_regclass('public.employees')") is None


def test_inventory_finds_every_table_and_the_planted_mismatches(legacy_db):
    with legacy_db.connect() as conn:
        rpc = [r[0] for r in conn.execute("SELECT * FROM public.get_audit_tables()").fetchall()]
        named = [r[0] for r in conn.execute("SELECT table_name FROM public.scorecards").fetchall()]
        inv = inventory.discover(conn)

    assert len(rpc) == 6
    by_name = {t.table_name: t for t in inv.tables}
    assert set(rpc) <= set(by_name)
    assert set(named) <= set(by_name)
    assert all(by_name[n].exists and by_name[n].in_rpc and by_name[n].in_scorecards for n in rpc)
    assert inv.rpc_available is True
    assert set(inv.core) == set(inventory.CORE_TABLES)
    assert inv.core["people"] == 154 and inv.core["users"] == 125

    empty = [t.table_name for t in inv.tables if t.exists and t.row_count == 0]
    assert len(empty) == 1
    assert sum(t.row_count for t in inv.tables) == 3000

    quoted = [t for t in inv.tables if "Proper Greeting?" in t.columns]
    assert len(quoted) == 1
    assert "Proper Greeting?" in quoted[0].param_columns
    assert "Proper Greeting?" in quoted[0].quoted_identifiers

    retired = [t for t in inv.tables if "legacy_sla_breach" in t.columns_without_parameter]
    missing_col = [t for t in inv.tables if "new_policy_check" in t.parameters_without_column]
    missing_common = [t for t in inv.tables if t.missing_common]
    assert len(retired) == 1 and len(missing_col) == 1
    assert len(missing_common) == 1
    assert sorted(missing_common[0].missing_common) == ["reversal_approved", "reversal_requested_at"]

    mismatches = inv.mismatches()
    assert f"{retired[0].table_name}.legacy_sla_breach (integer): column with no scorecard parameter" in mismatches
    assert f"{missing_col[0].table_name}: parameter 'new_policy_check' has no column" in mismatches
    assert any(m.startswith(f"{missing_common[0].table_name}: missing common columns") for m in mismatches)
    assert len(mismatches) == 3
    assert all(t.migratable for t in inv.tables)

    frame = inv.frame()
    assert len(frame) == 6 and set(frame["table"]) == set(rpc)


def _go_no_go(conn, params):
    inv = inventory.discover(conn)
    privs = pre.privileges(conn, inv)
    disk = pre.disk(conn, inv, params.min_free_disk_factor)
    profile = quality.legacy_profile(conn, inv)
    return pre.go_no_go(conn, params, inv, privs, disk, profile), privs, profile


def test_go_no_go_passes_with_committed_params_and_blocks_on_orphans(legacy_db, tmp_path):
    with legacy_db.connect() as conn:
        verdict, privs, profile = _go_no_go(conn, load_params("local"))
        assert verdict.blocking == []
        verdict.raise_if_blocked()
        assert bool(privs["ok"].all())
        assert privs.loc["superuser", "value"] is False
        assert len(verdict.warnings) == 3  # the inventory's three mismatches

        data = yaml.safe_load((params_dir() / "local.yaml").read_text())
        data["max_orphan_pct"] = 1.0
        strict = tmp_path / "strict.yaml"
        strict.write_text(yaml.safe_dump(data))
        verdict, _, _ = _go_no_go(conn, load_params("local", strict))
        assert len(verdict.blocking) == 1
        assert f"orphaned records {profile['orphaned records %']}% exceed max_orphan_pct 1.0%" in verdict.blocking[0]
        assert list(verdict.frame()["severity"]).count("BLOCKING") == 1
        with pytest.raises(CheckFailed, match="NO-GO, 1 blocking problem.*orphaned records"):
            verdict.raise_if_blocked()


def test_go_no_go_blocks_on_existing_target_table(legacy_db):
    with legacy_db.connect() as conn:
        conn.execute("CREATE TABLE public.employees (id int)")
        conn.commit()
        verdict, _, _ = _go_no_go(conn, load_params("local"))
        assert verdict.blocking == ["target name public.employees already exists and was not created by this runbook"]


def test_committed_notebooks_pass_nbval(server, legacy_db):
    if server.kind != "system-15":
        pytest.skip("the committed notebooks' cells, once (the phases run on both servers elsewhere)")
    env = dict(os.environ)  # carries the fixture's CQMS_DATABASE_URL / CQMS_HOME / CQMS_STATE_DIR
    assert env["CQMS_DATABASE_URL"] == legacy_db.url
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "notebooks/00_preflight.ipynb",
         "notebooks/01_foundation.ipynb", "notebooks/02_audit_unification.ipynb", "notebooks/99_rollback.ipynb",
         "-p", "no:cacheprovider", "-q", "-o", "addopts="],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    with legacy_db.connect() as conn:
        # the notebooks really ran against this database, in order: 01 and 02 applied and cut over,
        # then 99_rollback (default target 01_foundation) reverted both
        history = conn.execute("SELECT phase, action, count(*) FROM cqms_migration.steps WHERE status <> 'failed' "
                               "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        n1, n2 = (len(p.BUILD_STEPS + p.CUTOVER_STEPS) for p in (p1, p2))
        assert history == [("01_foundation", "deploy", n1), ("01_foundation", "revert", n1),
                           ("02_audit_unification", "deploy", n2), ("02_audit_unification", "revert", n2)], history
        assert one(conn, "SELECT count(*) FROM cqms_migration.applied_steps") == 0
        assert one(conn, "SELECT bool_or(enabled) FROM cqms_migration.feature_flags") is False
        assert one(conn, "SELECT to_regclass('public.audits') IS NULL AND to_regclass('public.employees') IS NULL")
