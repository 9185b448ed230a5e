"""The audit trail: manifests written by the runner's helpers verify, and tampering is caught."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))  # until the package is pip-installed

from cqms_migrate.errors import TrailTampered
from cqms_migrate.trail import (
    MANIFEST,
    check_trail,
    hash_files,
    previous_manifest,
    read_manifest,
    sha256_file,
    verify_trail,
    write_manifest,
)

ENV = "local"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CQMS_HOME", str(tmp_path))
    return tmp_path


def make_run(home, run_id: str, files: dict[str, str], status: str = "succeeded"):
    """A run folder written the way runner._execute writes one."""
    folder = home / "outputs" / ENV / run_id
    folder.mkdir(parents=True)
    prev_id, prev_sha = previous_manifest(ENV, run_id)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    write_manifest(folder, {
        "run_id": run_id, "env": ENV, "status": status, "phases": [],
        "previous_run_id": prev_id, "previous_manifest_sha256": prev_sha,
    })
    return folder


@pytest.fixture()
def runs(home):
    a = make_run(home, "20250101T000000Z-aaaaaa", {"01_foundation.ipynb": "{}", "01_foundation.html": "<p>1</p>"})
    b = make_run(home, "20250102T000000Z-bbbbbb", {"02_core.ipynb": "{}", "02_core.html": "<p>2</p>",
                                                   "extra/notes.txt": "x"})
    return a, b


def test_manifest_lists_every_file_and_links_previous(runs):
    a, b = runs
    ma, mb = read_manifest(a), read_manifest(b)
    assert set(ma["files"]) == {"01_foundation.ipynb", "01_foundation.html"}
    assert set(mb["files"]) == {"02_core.ipynb", "02_core.html", "extra/notes.txt"}
    assert ma["previous_manifest_sha256"] is None and ma["previous_run_id"] is None
    assert mb["previous_run_id"] == a.name
    assert mb["previous_manifest_sha256"] == sha256_file(a / MANIFEST)
    assert MANIFEST not in hash_files(b)


def test_untouched_trail_verifies(runs):
    assert verify_trail(ENV) == []
    assert check_trail(ENV) == (2, 5)
    assert verify_trail(ENV, runs[1].name) == []


def test_edited_file_is_caught(runs):
    (runs[0] / "01_foundation.html").write_text("<p>edited</p>")
    problems = verify_trail(ENV)
    assert len(problems) == 1 and "01_foundation.html does not match" in problems[0]
    with pytest.raises(TrailTampered) as e:
        check_trail(ENV)
    assert "\n" not in e.value.one_line() and "01_foundation.html" in e.value.one_line()
    assert e.value.exit_code == 11


def test_deleted_file_is_caught(runs):
    (runs[1] / "extra" / "notes.txt").unlink()
    problems = verify_trail(ENV)
    assert any("extra/notes.txt is listed in the manifest but missing" in p for p in problems)


def test_unlisted_file_is_caught(runs):
    (runs[1] / "sneaky.ipynb").write_text("{}")
    assert any("sneaky.ipynb is not listed" in p for p in verify_trail(ENV))


def test_rewritten_previous_manifest_breaks_the_chain(runs):
    a, b = runs
    m = read_manifest(a)
    m["status"] = "failed"
    write_manifest(a, m)  # self-consistent on its own, but b recorded the old manifest's hash
    problems = verify_trail(ENV)
    assert len(problems) == 1
    assert f"previous run {a.name}'s manifest does not match" in problems[0]


def test_broken_chain_link_is_caught(runs):
    a, b = runs
    m = read_manifest(b)
    m["previous_manifest_sha256"] = "0" * 64
    (b / MANIFEST).write_text(json.dumps(m))
    assert any("does not match the recorded sha256" in p for p in verify_trail(ENV))


def test_removed_run_is_caught(runs):
    import shutil

    shutil.rmtree(runs[0])
    problems = verify_trail(ENV)
    assert any(f"previous run {runs[0].name} (its manifest) is missing" in p for p in problems)


def test_folder_without_manifest_is_caught(runs, home):
    (home / "outputs" / ENV / "20250103T000000Z-cccccc").mkdir()
    assert any("no manifest.json" in p for p in verify_trail(ENV))


def test_chain_follows_explicit_run_ids_not_sort_order(home):
    make_run(home, "20250101T000000Z-aaaaaa", {"a.txt": "a"})
    make_run(home, "zz-custom", {"b.txt": "b"})
    c = make_run(home, "20250103T000000Z-cccccc", {"c.txt": "c"})
    make_run(home, "20250104T000000Z-dddddd", {"d.txt": "d"})
    assert read_manifest(c)["previous_run_id"] == "zz-custom"
    assert verify_trail(ENV) == []
    assert previous_manifest(ENV, "next")[0] == "20250104T000000Z-dddddd"


def test_no_runs_is_not_an_error(home):
    assert verify_trail(ENV) == []
    assert check_trail(ENV) == (0, 0)


def test_scrub_keeps_notebook_json_valid(tmp_path):
    from cqms_migrate.runner import scrub_file

    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [{"source": "url = 'postgresql://u:hunter22@h:5432/d'\nx = 'http://a:1/b'"},
                                        {"outputs": ["password=hunter22 and raw hunter22"]}]}))
    html = tmp_path / "x.html"
    html.write_text("<pre>postgresql://u:hunter22@h/d</pre> hunter22")
    assert scrub_file(nb, ["hunter22"]) and scrub_file(html, ["hunter22"])
    for p in (nb, html):
        assert "hunter22" not in p.read_text()
    data = json.loads(nb.read_text())
    assert "postgresql://u:***@h:5432/d" in data["cells"][0]["source"]
