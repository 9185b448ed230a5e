"""The reviewer's view (issue 14): index.html per run and per env, a banner cell per executed
notebook, progress that leaves one clean line and nothing on stderr, readable tables, `trail`,
verify-trail covering the pages, and the pages opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from cqms_migrate import phases, review, runner, trail
from cqms_migrate.errors import NotebookFailed
from cqms_migrate.paths import outputs_dir, params_dir
from cqms_migrate.progress import Bar

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def quiet(_msg: str) -> None:
    pass


class Links(HTMLParser):
    """hrefs and ids of a page."""

    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])


def parse(path: Path) -> Links:
    return parse_html(path.read_text(encoding="utf-8"))


def parse_html(text: str) -> Links:
    p = Links()
    p.feed(text)
    return p


def assert_links_resolve(page: Path) -> int:
    """Every relative link of ``page`` names an existing file, and its #fragment an id there."""
    n = 0
    for href in parse(page).hrefs:
        if re.match(r"^[a-z]+:", href):
            continue
        target, _, fragment = href.partition("#")
        dest = (page.parent / target).resolve() if target else page
        assert dest.is_file(), f"{page.name}: link {href!r} points at nothing"
        if fragment:
            assert fragment in parse(dest).ids, f"{page.name}: link {href!r}: no element with id {fragment!r}"
        n += 1
    return n


def cells(ipynb: Path) -> list:
    return nbformat.read(str(ipynb), as_version=4).cells


def failing_params(tmp_path) -> str:
    params = yaml.safe_load((params_dir() / "local.yaml").read_text())
    params["max_orphan_pct"] = 1.0   # the seeded data has ~7% orphans: preflight says NO-GO
    pfile = tmp_path / "failing.yaml"
    pfile.write_text(yaml.safe_dump(params))
    return str(pfile)


# -- without a database ---------------------------------------------------------------------------
def test_a_slow_backfill_and_a_failed_check_are_marked_for_the_reviewer():
    figures = review.key_figures({
        "backfill_throughput": {"rows": 100000, "rows_per_s": 301, "batches": 40, "backfill_over_unbatched": 0.05,
                                "p5_over_median": 0.2, "slow_batches": 3},
        "checks": [{"check": "a", "ok": True}, {"check": "compat view equals legacy", "ok": False}],
        "reconciliation": [{"legacy table": "chat_audit", "legacy rows": 10, "migrated": 8, "quarantined": 1,
                            "reconciles": False}]})
    assert "BELOW EXPECTED" in figures["backfill"] and "UNEVEN" in figures["backfill"]
    assert "3 slow batches" in figures["backfill"]
    assert figures["validation checks"].startswith("1/2 passed; FAILED: compat view equals legacy")
    assert "NOT reconciled: chat_audit" in figures["reconciliation"]
    assert all(review.is_warning(v) for v in figures.values())
    normal = review.key_figures({"backfill_throughput": {"rows": 5000, "rows_per_s": 7000, "batches": 3,
                                                         "backfill_over_unbatched": 1.05, "p5_over_median": 0.9}})
    assert not review.is_warning(normal["backfill"])


def test_a_hostile_error_message_is_text_in_the_pages():
    manifest = {"run_id": "r1", "env": "local", "action": "run", "status": "failed", "planned": ["00_preflight", "01_x"],
                "phases": [{"phase": "00_preflight", "status": "failed", "seconds": 1.0, "html": "00_preflight.html",
                            "notebook": "00_preflight.ipynb",
                            "error": {"exec_count": 7, "cell_id": "c7", "ename": "CheckFailed",
                                      "evalue": "<script>alert(1)</script> NO-GO"}}]}
    page = review.run_index_html(manifest)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; NO-GO" in page
    s = review.summary(manifest)
    assert s["verdict"]["headline"].startswith("FAILED at 00_preflight, cell [7]: CheckFailed:")
    assert s["verdict"]["link"] == "00_preflight.html#cell-id=c7"
    assert [p["status"] for p in s["phases"]] == ["failed", "not run"]
    running = review.summary({**manifest, "status": "running", "phases": []})
    assert running["verdict"]["headline"].startswith("RUNNING (or stopped without finishing): 0 of 2")


def test_a_figure_cannot_end_the_banner_block_or_smuggle_a_link():
    """The banner is one HTML block in a markdown cell: a blank line in a value would end it and
    hand the rest to the markdown parser, which turns [x](javascript:...) into a live link."""
    from nbconvert.filters import markdown2html
    entry = {"phase": "02_audit_unification", "status": "failed", "seconds": 1.0,
             "error": {"ename": "X", "evalue": "first\n\n[click](javascript:alert(1))"},
             "key_figures": {"reconciliation": "ok\n\n[click](javascript:alert(2))"}}
    banner = review.banner_html({"run_id": "r", "env": "local"}, entry, None)
    assert "\n" not in banner
    rendered = markdown2html(banner)
    assert "javascript:" not in "".join(parse_html(rendered).hrefs), rendered


def test_the_env_index_survives_damaged_manifests_and_links_only_run_folders(tmp_path):
    env_dir = tmp_path / "local"
    for name, manifest in (("20261204T000001Z-aaaaaa", "[]"),
                           ("20261204T000002Z-bbbbbb", json.dumps({"run_id": "20261204T000002Z-bbbbbb",
                                                                  "summary": "x", "started_at": 5})),
                           ("javascript:alert(document.domain)", json.dumps({"started_at": "9"}))):
        (env_dir / name).mkdir(parents=True)
        (env_dir / name / "manifest.json").write_text(manifest)
        (env_dir / name / "index.html").write_text("<p>run</p>")
    page = review.env_index_html("local", env_dir)
    hrefs = parse_html(page).hrefs
    assert hrefs == ["./20261204T000002Z-bbbbbb/index.html", "./20261204T000001Z-aaaaaa/index.html"], hrefs
    assert "no readable manifest.json" in page
    assert trail.verify_trail("local", base=env_dir)   # the damaged manifests are reported, not a crash


def test_the_env_index_is_current_whenever_a_killed_runner_could_stop(tmp_path, monkeypatch):
    """Sealed after every notebook: a runner killed between two notebooks leaves an env index that
    verify-trail accepts, and no secret in a key figure reaches the pages."""
    monkeypatch.setenv("CQMS_OUTPUTS", str(tmp_path / "outputs"))
    out = outputs_dir() / "local" / "20261204T000000Z-cccccc"
    out.mkdir(parents=True)
    manifest = {"run_id": out.name, "env": "local", "action": "run", "status": "running", "started_at": "t",
                "planned": ["00_preflight", "01_foundation"], "phases": [], "previous_run_id": None,
                "previous_manifest_sha256": None}
    runner._seal(out, manifest, ["hunter2-secret"], quiet)
    manifest["phases"].append({"phase": "00_preflight", "status": "succeeded", "seconds": 1.0,
                               "key_figures": {"go / no-go": "GO; postgresql://u:hunter2-secret@h/db"}})
    runner._seal(out, manifest, ["hunter2-secret"], quiet)      # ... and the runner is killed here
    assert trail.verify_trail("local") == []
    assert "1 of 2 notebooks done" in (out.parent / "index.html").read_text()
    for page in (out / "index.html", out.parent / "index.html"):
        assert "hunter2" not in page.read_text()


def test_progress_off_a_terminal_is_one_line_when_the_bar_closes(capsys):
    with Bar(1000, "chat_audit", unit="rows", initial=200) as bar:
        for _ in range(8):
            bar.update(100)
    out = capsys.readouterr()
    assert out.err == ""
    lines = out.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chat_audit: 1,000/1,000 rows (resumed at 200) in ")
    bar.update(500)                                   # after close: the final line stays final
    assert bar.done == 1000 and capsys.readouterr().out == ""


# -- a trail a reviewer reads ---------------------------------------------------------------------
def test_a_trail_reads_as_a_reviewer_would(server, legacy_db):
    """A run of every phase, a verify and a rollback of phase 02: each run's index.html has the
    verdict and a row per notebook with its figures and working links; every executed notebook
    opens with its banner; progress left one line per table and nothing is on stderr; the env's
    index lists the runs newest first, as `trail` does; verify-trail fails when a page is edited."""
    if server.kind != "system-15":
        pytest.skip("the trail's pages do not depend on the server (the runner runs on both in test_runner_e2e)")
    ran = [runner.run("local", log=quiet), runner.verify("local", log=quiet),
           runner.rollback("local", "02_audit_unification", log=quiet)]
    env_dir = outputs_dir() / "local"
    for m in ran:
        folder = env_dir / m["run_id"]
        index = folder / "index.html"
        text = index.read_text()
        assert m["summary"]["verdict"]["headline"].startswith("SUCCEEDED")
        assert 'id="verdict"' in text and "SUCCEEDED" in text
        assert text.count('<tr class="phase"') == len(m["phases"])
        assert assert_links_resolve(index) >= 2 * len(m["phases"])
        for entry in m["phases"]:
            nb = cells(folder / entry["notebook"])
            assert review.BANNER_TAG in nb[0]["metadata"]["tags"] and "SUCCEEDED" in nb[0]["source"]
            stderr = [o for c in nb for o in c.get("outputs", []) if o.get("name") == "stderr"]
            assert stderr == [], f"{entry['notebook']} wrote to stderr: {stderr[:2]}"
            assert entry["key_figures"], f"{entry['phase']} has no key figures"
    run, verify_run, rollback_run = ran
    p2 = next(p for p in run["phases"] if p["phase"] == "02_audit_unification")
    assert p2["flag"] == {"name": "USE_UNIFIED_AUDITS_TABLE", "enabled": True}
    assert {"reconciliation", "quarantined by reason", "backfill", "validation checks",
            "independent verification"} <= set(p2["key_figures"])
    assert p2["key_figures"]["independent verification"].endswith("comparisons equal")
    assert re.match(r"\d+/\d+ tables reconcile exactly", p2["key_figures"]["reconciliation"])
    progress = [o["data"]["text/plain"] for c in cells(env_dir / run["run_id"] / "02_audit_unification.ipynb")
                for o in c.get("outputs", []) if "cqms-progress" in o.get("data", {}).get("text/html", "")]
    tables = [ln.split(":")[0] for ln in progress if " rows" in ln]
    assert tables and len(tables) == len(set(tables)), progress          # one line per table, final only
    assert all(re.search(r"(\d[\d,]*)/\1 rows", ln) for ln in progress if " rows" in ln), progress
    assert verify_run["phases"][0]["key_figures"]["comparisons"].endswith("equal")
    assert "rollback of 02_audit_unification" in rollback_run["phases"][0]["key_figures"]
    assert rollback_run["phases"][0]["key_figures"]["rollback of 02_audit_unification"].endswith(" s")
    # findings are not cut: the long preflight warnings appear whole in the HTML
    html = (env_dir / run["run_id"] / "00_preflight.html").read_text()
    assert "cqms-table-wrap" in html and "cdnjs" not in html and "<script src=" not in html

    # every run, newest first: the env's index and `trail`
    env_index = env_dir / "index.html"
    order = [m["run_id"] for m in reversed(ran)]
    page = env_index.read_text()
    assert [page.index(r) for r in order] == sorted(page.index(r) for r in order)
    assert assert_links_resolve(env_index) == 3
    out = subprocess.run([sys.executable, "-m", "cqms_migrate", "trail", "--env", "local"], capture_output=True,
                         text=True, env=os.environ.copy(), timeout=60)
    assert out.returncode == 0, out.stderr
    listed = [r for r in re.findall(r"\d{8}T\d{6}Z-[0-9a-f]{6}", out.stdout)]
    assert listed == order and out.stdout.count("SUCCEEDED") == 3 and "(stale" not in out.stdout

    # the pages are evidence: editing one breaks verify-trail
    assert trail.verify_trail("local") == []
    index = env_dir / run["run_id"] / "index.html"
    original = index.read_text()
    index.write_text(original.replace("SUCCEEDED", "SUCCEEDED (reviewed)", 1))
    assert any("index.html does not match its recorded sha256" in p for p in trail.verify_trail("local"))
    index.write_text(original)
    env_index.write_text(page.replace("SUCCEEDED", "FINE", 1))
    problems = trail.verify_trail("local")
    assert len(problems) == 1 and "does not match the runs' manifests" in problems[0]
    out = subprocess.run([sys.executable, "-m", "cqms_migrate", "trail", "--env", "local", "--write-index"],
                         capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert out.returncode == 0 and trail.verify_trail("local") == []


def test_a_failing_run_names_the_phase_the_cell_and_the_message(legacy_db, tmp_path):
    with pytest.raises(NotebookFailed) as exc:
        runner.run("local", params_file=failing_params(tmp_path), log=quiet)
    m = exc.value.manifest
    folder = outputs_dir() / "local" / m["run_id"]
    v = m["summary"]["verdict"]
    assert v["status"] == "failed" and v["phase"] == "00_preflight" and v["ename"] == "CheckFailed"
    assert "NO-GO" in v["message"] and v["headline"].startswith(f"FAILED at 00_preflight, cell [{v['cell']}]")
    index = folder / "index.html"
    text = index.read_text()
    assert "FAILED at 00_preflight" in text and "NO-GO" in text and 'id="failing-cell"' in text
    assert text.count(">not run</td>") == len(phases.PHASES) - 1               # every later phase: planned, never started
    assert_links_resolve(index)                                          # the failing cell's anchor included
    anchor = v["link"].split("#", 1)[1]
    nb = cells(folder / "00_preflight.ipynb")
    failing = next(c for c in nb if f"cell-id={c.get('id')}" == anchor)
    assert any(o.get("output_type") == "error" for o in failing["outputs"])
    banner = nb[0]["source"]
    assert "FAILED: 00_preflight" in banner and f'href="#{anchor}"' in banner and "NO-GO" in banner
    assert m["phases"][0]["key_figures"]["go / no-go"].startswith("NO-GO")
    assert trail.verify_trail("local") == []


# -- in a real browser ----------------------------------------------------------------------------
def test_the_pages_load_in_headless_chromium(server, legacy_db, tmp_path):
    """Every page of a trail (a run that succeeded, one that failed) opened in Chromium: no
    console error, no failed request, no script error; the verdict, each phase and each link
    are there; following the failing run's link lands on the failing cell."""
    if server.kind != "system-15":
        pytest.skip("the pages do not depend on the server: opened once, on PostgreSQL 15")
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    good = runner.run("local", through="01_foundation", log=quiet)
    with pytest.raises(NotebookFailed) as exc:
        runner.run("local", params_file=failing_params(tmp_path), log=quiet)
    bad = exc.value.manifest
    env_dir = outputs_dir() / "local"
    pages = [env_dir / "index.html"]
    for m in (good, bad):
        pages += [env_dir / m["run_id"] / "index.html"] + [env_dir / m["run_id"] / p["html"] for p in m["phases"]]

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}"))
        for path in pages:
            response = page.goto(path.as_uri())
            assert response is not None and response.ok, path
        # the env index: both runs, newest first, each linked
        page.goto(pages[0].as_uri())
        rows = page.locator("#runs tr.run")
        assert rows.count() == 2
        assert bad["run_id"] in rows.nth(0).inner_text() and "FAILED at 00_preflight" in rows.nth(0).inner_text()
        assert good["run_id"] in rows.nth(1).inner_text() and "SUCCEEDED" in rows.nth(1).inner_text()
        # the good run's index: verdict, a row per phase, links that open
        rows.nth(1).locator("a").click()
        assert page.locator("#verdict").inner_text().startswith("SUCCEEDED")
        phase_rows = page.locator("#phases tr.phase")
        assert [phase_rows.nth(i).get_attribute("data-phase") for i in range(phase_rows.count())] == \
            ["00_preflight", "01_foundation"]
        assert "USE_UNIFIED_EMPLOYEES_TABLE on" in phase_rows.nth(1).inner_text()
        phase_rows.nth(1).locator("a.nb-html").click()
        assert page.locator(".cqms-banner").first.inner_text().startswith("SUCCEEDED: 01_foundation")
        # the failing run: its link lands on the failing cell, which shows the error
        page.goto((env_dir / bad["run_id"] / "index.html").as_uri())
        assert "FAILED at 00_preflight" in page.locator("#verdict").inner_text()
        page.locator("#failing-cell").click()
        page.wait_for_url("**#*")            # the notebook's page, not the index still unloading
        page.wait_for_load_state("load")
        anchor = page.url.split("#", 1)[1]
        cell = page.locator(f'[id="{anchor}"]')
        assert cell.count() == 1 and "CheckFailed" in cell.inner_text()
        assert page.evaluate(f'document.getElementById("{anchor}").getBoundingClientRect().top') < 200
        browser.close()
    assert problems == [], problems
