"""Params: every committed file loads; bad files are rejected with a message naming the problem.

No database needed. Every test writes its own params file into tmp_path (a copy of a committed
one with one change), so the committed files are never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cqms_migrate.errors import ConfirmationRequired, ParamsError
from cqms_migrate.params import ENVS, Params, check_confirmation, load_params, redacted

ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = ROOT / "params"
URL = "postgresql://u:p4ssw0rd@db.example.com:5432/postgres"


def committed(env: str) -> dict:
    return yaml.safe_load((PARAMS_DIR / f"{env}.yaml").read_text())


def write(tmp_path: Path, data: dict, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_committed_params_files_are_exactly_the_three_envs():
    assert sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")) == sorted(ENVS)


@pytest.mark.parametrize("path", sorted(PARAMS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_committed_params_file_loads(path):
    p = load_params(path.stem, path)
    assert isinstance(p, Params)
    assert p.env == path.stem
    # names the variable holding the URL, never a URL
    assert p.database_url_env.startswith("CQMS_") and "://" not in p.database_url_env
    assert p.default_role in {r.code for r in p.roles}
    assert set(p.role_mapping.values()) <= {r.code for r in p.roles}
    assert p.lock_retries and all(ms > 0 and s >= 0 for ms, s in p.lock_retries)
    if p.env == "prod":
        assert p.require_confirmation is True
    # the manifest form is plain JSON and carries no URL
    assert "://" not in repr(redacted(p))


def test_local_params_has_expected_values():
    p = load_params("local", PARAMS_DIR / "local.yaml")
    assert p.database_url_env == "CQMS_DATABASE_URL"
    assert p.require_confirmation is False
    assert p.default_role == "UNASSIGNED"
    assert p.role_mapping["qa"] == "QUALITY_ANALYST"
    assert {r.code: r.access_level for r in p.roles}["ADMIN"] == "admin"
    assert p.lock_retries[0] == (100, 0.2)


def test_unknown_key_is_rejected_naming_it(tmp_path):
    data = committed("local")
    data["batch_szie"] = 10
    with pytest.raises(ParamsError, match="unknown key 'batch_szie'"):
        load_params("local", write(tmp_path, data))


def test_unknown_nested_key_is_rejected_naming_it(tmp_path):
    data = committed("local")
    data["roles"][0]["colour"] = "blue"
    with pytest.raises(ParamsError, match=r"unknown key 'roles\.0\.colour'"):
        load_params("local", write(tmp_path, data))


def test_wrong_type_is_rejected_naming_the_key(tmp_path):
    data = committed("local")
    data["batch_size"] = "ten"
    with pytest.raises(ParamsError) as ei:
        load_params("local", write(tmp_path, data))
    assert "batch_size" in str(ei.value)
    assert "unknown key" not in str(ei.value)


def test_out_of_range_value_is_rejected_naming_the_key(tmp_path):
    data = committed("local")
    data["max_orphan_pct"] = 150
    with pytest.raises(ParamsError, match="max_orphan_pct"):
        load_params("local", write(tmp_path, data))


def test_empty_lock_retries_rejected(tmp_path):
    data = committed("local")
    data["lock_retries"] = []
    with pytest.raises(ParamsError, match="lock_retries"):
        load_params("local", write(tmp_path, data))


@pytest.mark.parametrize("field", ["database_url_env", "application_name", "roles[0].name"])
def test_a_url_in_any_string_field_is_rejected(tmp_path, field):
    data = committed("local")
    if field == "roles[0].name":
        data["roles"][0]["name"] = URL
    else:
        data[field] = URL
    with pytest.raises(ParamsError) as ei:
        load_params("local", write(tmp_path, data))
    msg = str(ei.value)
    assert field.split("[")[0] in msg
    assert "p4ssw0rd" not in msg  # the error never echoes the secret


def test_a_password_like_value_is_rejected(tmp_path):
    data = committed("local")
    data["database_url_env"] = "password=hunter2"
    with pytest.raises(ParamsError, match="database_url_env"):
        load_params("local", write(tmp_path, data))


def test_default_role_must_be_one_of_roles(tmp_path):
    data = committed("local")
    data["default_role"] = "JANITOR"
    with pytest.raises(ParamsError, match="default_role 'JANITOR' is not one of roles"):
        load_params("local", write(tmp_path, data))


def test_role_mapping_must_point_at_defined_roles(tmp_path):
    data = committed("local")
    data["role_mapping"]["wizard"] = "WIZARD"
    with pytest.raises(ParamsError, match="WIZARD"):
        load_params("local", write(tmp_path, data))


def test_role_mapping_keys_are_normalised(tmp_path):
    data = committed("local")
    data["role_mapping"] = {"  Senior   AGENT ": "SENIOR_AGENT"}
    p = load_params("local", write(tmp_path, data))
    assert p.role_mapping == {"senior agent": "SENIOR_AGENT"}


def test_prod_params_must_require_confirmation(tmp_path):
    data = committed("prod")
    data["require_confirmation"] = False
    with pytest.raises(ParamsError, match="require_confirmation"):
        load_params("prod", write(tmp_path, data))


def test_prod_needs_confirm_prod():
    p = load_params("prod", PARAMS_DIR / "prod.yaml")
    for bad in (None, "", "yes", "staging", "PROD"):
        with pytest.raises(ConfirmationRequired, match="--confirm prod"):
            check_confirmation(p, bad)
    check_confirmation(p, "prod")
    check_confirmation(p, " prod ")


def test_unguarded_env_needs_no_confirmation():
    p = load_params("local", PARAMS_DIR / "local.yaml")
    check_confirmation(p, None)
    check_confirmation(p, "anything")


def test_env_mismatch_is_rejected():
    with pytest.raises(ParamsError, match="env is 'staging' but the run asked for env='local'"):
        load_params("local", PARAMS_DIR / "staging.yaml")


def test_unknown_env_is_rejected():
    with pytest.raises(ParamsError, match="unknown env 'dev'"):
        load_params("dev", PARAMS_DIR / "local.yaml")


def test_missing_file_and_bad_yaml_are_rejected(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params("local", tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: local\nroles: [\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params("local", bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- env\n- local\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params("local", listy)


def test_missing_required_key_is_named(tmp_path):
    data = committed("local")
    del data["roles"]
    with pytest.raises(ParamsError, match="missing required key 'roles'"):
        load_params("local", write(tmp_path, data))


def test_transaction_mode_pooler_is_refused_by_preflight():
    from cqms_migrate.phases.p00_preflight import pooler_problem
    assert "6543" in pooler_problem("postgresql://postgres.ref:pw@aws-0-eu.pooler.supabase.com:6543/postgres")
    assert pooler_problem("postgresql://postgres.ref:pw@aws-0-eu.pooler.supabase.com:5432/postgres") is None
    assert pooler_problem("postgresql://postgres:pw@db.ref.supabase.co/postgres") is None  # default port 5432


def test_legacy_spelling_must_map_back_through_the_status_map(tmp_path):
    raw = yaml.safe_load((PARAMS_DIR / "local.yaml").read_text())
    raw["passing_status_legacy_spelling"] = {"pass": "Passed", "fail": "Nope"}
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="Nope"):
        load_params("local", path)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_unbatched_baseline_benchmark_is_local_only(tmp_path, env):
    """It holds every application write to a legacy audit table for a whole unbatched copy (95 s at
    1M audits in the rehearsal): never where an application writes."""
    data = committed(env)
    data["measure_unbatched_baseline"] = True
    with pytest.raises(ParamsError, match="measure_unbatched_baseline is local only"):
        load_params(env, write(tmp_path, data))
