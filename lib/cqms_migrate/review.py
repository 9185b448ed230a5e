"""The reviewer's view of the trail.

Per run, ``outputs/<env>/<run_id>/index.html`` (and the same summary in manifest.json): the
verdict first (succeeded, or failed at phase X cell N with the message, linked to the cell), one
row per notebook (status, duration, the flag it left on, its key figures, links), then what ran
where: parameters as run, git commit, server, operator. Each executed notebook opens with a
banner cell saying the same for that notebook. Per env, ``outputs/<env>/index.html`` lists every
run, newest first; it is derived from the manifests, so verify-trail regenerates it and compares.

Key figures come from two places: the ledger metrics a phase recorded in the run (``figures``
on the manifest entry, read by the runner) and what a notebook displayed with
:func:`notebook.key_figures` (mime type KEY_FIGURES_MIME, read from the executed notebook).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from urllib.parse import quote

import nbformat

KEY_FIGURES_MIME = "application/vnd.cqms.key-figures+json"
BANNER_TAG = "cqms-banner"
INDEX = "index.html"

# a backfill far below the same work done unbatched, or batches far below their median, is
# marked for the reviewer (the thresholds the phase-02 notebook states)
BACKFILL_OVER_UNBATCHED_MIN = 0.7
P5_OVER_MEDIAN_MIN = 0.5

STATUS_WORD = {"succeeded": "SUCCEEDED", "failed": "FAILED", "interrupted": "INTERRUPTED", "running": "RUNNING"}

CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:90em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
.verdict{padding:.8em 1em;border-radius:6px;font-size:1.1em;margin:1em 0}
.verdict.succeeded{background:#e6f4ea;border:1px solid #34a853}
.verdict.failed,.verdict.interrupted{background:#fce8e6;border:1px solid #d93025}
.verdict.running{background:#fef7e0;border:1px solid #f9ab00}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px}
th,td{text-align:left;vertical-align:top;padding:4px 10px;border-bottom:1px solid #ddd;white-space:pre-wrap;overflow-wrap:break-word;max-width:60em}
td.nowrap,td.succeeded,td.failed,td.interrupted,td.running{white-space:nowrap}
th{background:#f5f5f5}
td.succeeded{color:#188038;font-weight:600} td.failed,td.interrupted{color:#d93025;font-weight:600}
td.running{color:#b06000;font-weight:600}
.warn{color:#d93025;font-weight:600}
ul.figures{margin:0;padding-left:1.1em}
code{font-size:12px}
.bar{display:inline-flex;width:16em;height:.9em;border:1px solid #bbb;vertical-align:middle}
.bar span{display:block;height:100%} .bar .m{background:#34a853} .bar .g{background:#9aa0a6} .bar .q{background:#d93025}
td.num{text-align:right;white-space:nowrap}
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _eb(x) -> str:
    """Escaped for the banner, which is one HTML block in a markdown cell: a blank line would end
    the block and hand the rest to the markdown parser (links included)."""
    return _e(x).replace("\r", "").replace("\n", "<br>")


# -- key figures ------------------------------------------------------------------------------
def _quality(q: dict) -> str:
    keys = ("referential integrity %", "orphaned records %", "duplicate records %", "data completeness %")
    if "before" in q and "after" in q:
        return "; ".join(f"{k[:-2]}: {q['before'].get(k)}% → {q['after'].get(k)}%" for k in keys
                         if k in (q.get("after") or {}))
    return "; ".join(f"{k[:-2]}: {q.get(k)}%" for k in keys if k in q)


def _reconciliation(rows: list[dict]) -> str:
    # tables excluded by decision or not audit tables are listed as such, never counted as
    # tables that reconcile (their rows are not in the sum either)
    others = [r for r in rows if r.get("disposition") not in (None, "migrated")]
    rows = [r for r in rows if r not in others]
    total = len(rows)
    ok = sum(1 for r in rows if r.get("reconciles"))
    legacy = sum(int(r.get("legacy rows") or 0) for r in rows)
    migrated = sum(int(r.get("migrated") or 0) for r in rows)
    quarantined = sum(int(r.get("quarantined") or 0) for r in rows)
    merged = sum(int(r.get("merged into a duplicate") or 0) for r in rows)
    text = (f"{ok}/{total} tables reconcile exactly; legacy rows {legacy:,} = migrated {migrated:,}"
            f" + quarantined {quarantined:,}" + (f" + merged into a duplicate {merged:,}" if merged else ""))
    bad = [str(r.get("legacy table")) for r in rows if not r.get("reconciles")]
    excluded = sum(int(r.get("legacy rows") or 0) for r in others)
    text += (f"; {len(others)} not migrated (excluded or not audit tables)" + (f", {excluded:,} rows" if excluded else "")
             if others else "")
    return text + (f"; NOT reconciled: {', '.join(bad)}" if bad else "")


def _outcome(o: dict) -> str:
    text = str(o.get("summary", ""))
    if o.get("ok") is False:
        text += "; FAILED: " + "; ".join(map(str, o.get("failures") or []))
    return text


def _bar_html(migrated: int, merged: int, quarantined: int) -> str:
    total = migrated + merged + quarantined
    if not total:
        return ""
    parts = "".join(f'<span class="{c}" style="width:{100.0 * n / total:.2f}%"></span>'
                    for c, n in (("m", migrated), ("g", merged), ("q", quarantined)) if n)
    return f'<span class="bar" title="migrated {migrated:,}, merged {merged:,}, quarantined {quarantined:,}">{parts}</span>'


def outcome_html(phase: str, o: dict) -> str:
    """Per table: migrated / merged / quarantined as numbers and a bar; then each quarantine
    reason with its forecast and example rows (key and the offending value)."""
    num = lambda x: f'<td class="num">{int(x or 0):,}</td>'  # noqa: E731
    rows = []
    for t in o.get("tables") or []:
        name = t.get("table") or t.get("legacy table")
        if t.get("disposition") != "migrated":
            rows.append(f"<tr><td>{_e(name)}</td><td colspan=\"6\">{_e(t.get('disposition'))}"
                        + (f" ({int(t['legacy rows']):,} rows)" if t.get("legacy rows") is not None else "") + "</td></tr>")
            continue
        m, g, q = (int(t.get(k) or 0) for k in ("migrated", "merged", "quarantined"))
        rows.append(f"<tr><td>{_e(name)}</td>{num(t.get('legacy rows'))}{num(m)}{num(g)}{num(q)}"
                    f'<td class="num">{_e(t.get("quarantined %"))}%</td><td>{_bar_html(m, g, q)}</td></tr>')
    head = ("<tr><th>legacy table</th><th>legacy rows</th><th>migrated</th><th>merged</th><th>quarantined</th>"
            "<th>quarantined %</th><th>migrated / merged / quarantined</th></tr>")
    reasons = "".join(
        f"<tr><td>{_e(r.get('table'))}</td><td>{_e(r.get('reason'))}</td>{num(r.get('rows'))}"
        f"<td class=\"num\">{'' if r.get('forecast') is None else format(int(r['forecast']), ',')}</td>"
        f"<td>{_e(r.get('examples'))}</td></tr>" for r in o.get("reasons") or [])
    verdict = ("" if o.get("ok") is not False else
               '<p class="warn">FAILED: ' + "<br>".join(_e(f) for f in o.get("failures") or []) + "</p>")
    return (f'<h3 id="outcome-{_e(phase)}">{_e(phase)}: {_e(o.get("summary"))}</h3>{verdict}'
            f'<div class="wrap"><table class="outcome">{head}{"".join(rows)}</table></div>'
            + (f'<p>Quarantined by reason (forecast: {_e(o.get("forecast") or "none")})</p><div class="wrap">'
               f'<table class="reasons"><tr><th>legacy table</th><th>reason</th><th>rows</th><th>forecast</th>'
               f'<th>examples (key: the value)</th></tr>{reasons}</table></div>' if reasons else ""))


def _checks(rows: list[dict]) -> str:
    failed = [r.get("check") for r in rows if not r.get("ok")]
    text = f"{len(rows) - len(failed)}/{len(rows)} passed"
    return text + (f"; FAILED: {'; '.join(map(str, failed))}" if failed else "")


def _backfill(bt: dict) -> str:
    text = f"{bt.get('rows', 0):,} rows at {bt.get('rows_per_s') or 0:,} rows/s in {bt.get('batches')} batches"
    ratio, spread = bt.get("backfill_over_unbatched"), bt.get("p5_over_median")
    if ratio is not None:
        text += f"; {ratio}x the same work unbatched"
    notes = []
    if ratio is not None and ratio < BACKFILL_OVER_UNBATCHED_MIN:
        notes.append(f"BELOW EXPECTED: backfill/unbatched {ratio} < {BACKFILL_OVER_UNBATCHED_MIN}")
    if spread is not None and spread < P5_OVER_MEDIAN_MIN and (bt.get("batches") or 0) >= 20:
        notes.append(f"UNEVEN: p5/median batch {spread} < {P5_OVER_MEDIAN_MIN}")
    if bt.get("slow_batches"):
        notes.append(f"{bt['slow_batches']} slow batches (listed in the notebook)")
    return text + ("; " + "; ".join(notes) if notes else "")


def key_figures(metrics: dict) -> dict[str, str]:
    """The ledger metrics of one phase in one run as {label: reviewer-readable text}."""
    out: dict[str, str] = {}
    m = metrics or {}
    if isinstance(m.get("quality"), dict):
        out["data quality"] = _quality(m["quality"])
    if isinstance(m.get("outcome"), dict):
        out["outcome"] = _outcome(m["outcome"])
    if isinstance(m.get("requeued"), dict):
        r = m["requeued"]
        out["quarantine retried"] = (f"{int(r.get('retried') or 0):,} rows tried again under the new maps: "
                                     f"{int(r.get('migrated') or 0):,} came back, {int(r.get('quarantined again') or 0):,} "
                                     "quarantined again; remaining by reason: "
                                     + (", ".join(f"{k} {int(v):,}" for k, v in (r.get("remaining by reason") or {}).items())
                                        or "none"))
    if isinstance(m.get("reconciliation"), list) and m["reconciliation"]:
        out["reconciliation"] = _reconciliation(m["reconciliation"])
    if isinstance(m.get("quarantine"), list):
        q = m["quarantine"]
        out["quarantined by reason"] = (", ".join(f"{r.get('reason')} {int(r.get('rows') or 0):,}" for r in q)
                                        if q else "none")
    if isinstance(m.get("backfill_throughput"), dict):
        out["backfill"] = _backfill(m["backfill_throughput"])
    if isinstance(m.get("checks"), list) and m["checks"]:
        verify = [r for r in m["checks"] if str(r.get("check", "")).startswith("verify:")]
        others = [r for r in m["checks"] if r not in verify]
        if others:
            out["validation checks"] = _checks(others)
        if verify:
            out["independent verification"] = _checks(verify).replace(" passed", " comparisons equal", 1)
    if isinstance(m.get("email_joins"), dict):
        j = m["email_joins"]
        app = int(j.get("application") or 0)
        out["email joins left"] = (f"{app:,} in the application's objects"
                                   + (f" ({', '.join(j.get('objects') or [])})" if app else "")
                                   + f"; {int(j.get('runbook') or 0):,} in the runbook's transition objects (until phase 05)")
    if isinstance(m.get("advisor"), dict):
        a = m["advisor"]
        out["security advisor"] = f"{a.get('errors', 0)} errors, {a.get('unwaived_warnings', 0)} unwaived warnings"
    return out


def notebook_key_figures(ipynb: Path) -> dict[str, str]:
    """What the notebook displayed with notebook.key_figures(), merged in order."""
    out: dict[str, str] = {}
    try:
        nb = nbformat.read(str(ipynb), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no figures; the runner says why
        return out
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {}) if o.get("output_type") in ("display_data", "execute_result") else {}
            if KEY_FIGURES_MIME in data and isinstance(data[KEY_FIGURES_MIME], dict):
                out.update({str(k): str(v) for k, v in data[KEY_FIGURES_MIME].items()})
    return out


def is_warning(text: str) -> bool:
    return any(w in text for w in ("NOT reconciled", "FAILED", "BELOW EXPECTED", "UNEVEN"))


def _warn(text: str) -> str:
    return ' class="warn"' if is_warning(text) else ""


# -- the failing cell -------------------------------------------------------------------------
def failing_cell(nb) -> dict | None:
    """{cell_id, execution_count} of a notebook's first cell with an error output, or None."""
    for cell in nb.cells:
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return {"cell_id": cell.get("id"), "execution_count": cell.get("execution_count")}
    return None


def cell_anchor(cell_id: str | None) -> str:
    return f"cell-id={cell_id}" if cell_id else ""


# -- the run summary --------------------------------------------------------------------------
def _duration(a: str | None, b: str | None) -> float | None:
    try:
        return round((dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def summary(manifest: dict) -> dict:
    """The verdict and one row per notebook, as index.html and manifest.json carry them."""
    phases = manifest.get("phases") or []
    status = manifest.get("status") or "running"
    failed = next((p for p in phases if p.get("status") in ("failed", "interrupted")), None)
    if failed:
        err = failed.get("error") or {}
        cell = err.get("exec_count") or err.get("execution_count")
        where = f"{failed['phase']}" + (f", cell [{cell}]" if cell else "")
        what = ": ".join(str(x) for x in (err.get("ename"), err.get("evalue")) if x)
        headline = f"{STATUS_WORD.get(failed['status'], failed['status'].upper())} at {where}" + \
                   (f": {what}" if what else "")
        link = (f"{failed.get('html')}#{cell_anchor(err.get('cell_id'))}" if failed.get("html") and err.get("cell_id")
                else failed.get("html") or failed.get("notebook"))
        verdict = {"status": failed["status"], "headline": headline, "phase": failed["phase"], "cell": cell,
                   "ename": err.get("ename"), "message": err.get("evalue"), "link": link}
    else:
        done = [p["phase"] for p in phases if p.get("status") == "succeeded"]
        word = STATUS_WORD.get(status, status.upper())
        headline = (f"{word}: {manifest.get('action', 'run')} of {', '.join(done) or 'nothing'}"
                    + (" (dry run)" if manifest.get("dry_run") else ""))
        if status == "running":
            planned = manifest.get("planned") or []
            headline = f"RUNNING (or stopped without finishing): {len(done)} of {len(planned)} notebooks done"
        verdict = {"status": status, "headline": headline}
    rows = []
    for p in phases:
        flag = p.get("flag") or {}
        rows.append({
            "phase": p.get("phase"), "status": p.get("status"), "seconds": p.get("seconds"),
            "flag": (f"{flag['name']} {'on' if flag.get('enabled') else 'off'}" if flag.get("name") else ""),
            "key_figures": p.get("key_figures") or {}, "html": p.get("html"), "notebook": p.get("notebook"),
            "outcome": (p.get("figures") or {}).get("outcome"),
        })
    for name in (manifest.get("planned") or [])[len(phases):]:
        rows.append({"phase": name, "status": "not run", "seconds": None, "flag": "", "key_figures": {},
                     "html": None, "notebook": None})
    return {"verdict": verdict, "phases": rows,
            "seconds": _duration(manifest.get("started_at"), manifest.get("finished_at"))}


# -- the banner cell --------------------------------------------------------------------------
def banner_html(manifest: dict, entry: dict, failing: dict | None) -> str:
    status = entry.get("status", "running")
    word = STATUS_WORD.get(status, status.upper())
    colour = {"succeeded": "#e6f4ea;border:1px solid #34a853"}.get(status, "#fce8e6;border:1px solid #d93025")
    head = f"{word}: {_eb(entry.get('phase'))} in {entry.get('seconds', 0):.1f} s"
    err = entry.get("error") or {}
    if status != "succeeded":
        cell = (failing or {}).get("execution_count") or err.get("exec_count")
        anchor = cell_anchor((failing or {}).get("cell_id"))
        where = (f' at <a href="#{_eb(anchor)}">cell [{_eb(cell)}]</a>' if anchor else
                 (f" at cell [{_eb(cell)}]" if cell else ""))
        head += f"{where}: <code>{_eb(err.get('ename'))}: {_eb(err.get('evalue'))}</code>"
    meta = (f"run <code>{_eb(manifest.get('run_id'))}</code> · {_eb(manifest.get('action'))} · env "
            f"<code>{_eb(manifest.get('env'))}</code> · {_eb(manifest.get('database'))} (server "
            f"{_eb(manifest.get('server_version'))}) · commit <code>{_eb((manifest.get('git_commit') or '')[:12])}</code>"
            f" · operator {_eb(manifest.get('operator'))} · started {_eb(entry.get('started_at'))}"
            + (" · DRY RUN" if manifest.get("dry_run") else ""))
    figs = dict(entry.get("key_figures") or {})
    flag = entry.get("flag") or {}
    if flag.get("name"):
        figs = {"feature flag": f"{flag['name']} {'on' if flag.get('enabled') else 'off'}", **figs}
    rows = "".join(f"<tr><th>{_eb(k)}</th><td{_warn(v)}>{_eb(v)}</td></tr>" for k, v in figs.items())
    table = f'<table class="cqms-table">{rows}</table>' if rows else ""
    return (f'<div class="cqms-banner" style="padding:.6em 1em;border-radius:6px;background:{colour}">'
            f'<p style="font-size:1.2em;margin:0 0 .3em 0"><strong>{head}</strong></p>'
            f'<p style="margin:0 0 .4em 0;font-size:.9em">{meta}</p>{table}'
            f'<p style="margin:.4em 0 0 0;font-size:.85em">This banner was written by the runner when the notebook '
            f'{"finished" if status == "succeeded" else "stopped"}; the run\'s summary is '
            f'<a href="index.html">index.html</a>.</p></div>')


def add_banner(ipynb: Path, manifest: dict, entry: dict) -> None:
    """Put (or replace) the banner as the notebook's first cell."""
    nb = nbformat.read(str(ipynb), as_version=4)
    failing = failing_cell(nb)
    if failing and entry.get("error") is not None:
        entry["error"]["cell_id"] = failing["cell_id"]
        entry["error"].setdefault("exec_count", failing["execution_count"])
    nb.cells = [c for c in nb.cells if BANNER_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(banner_html(manifest, entry, failing))
    cell.metadata["tags"] = [BANNER_TAG]
    cell["id"] = BANNER_TAG
    nb.cells.insert(0, cell)
    nbformat.write(nb, str(ipynb))


# -- index.html of a run ----------------------------------------------------------------------
def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>\n{body}\n</body></html>\n')


def _kv_table(pairs, cls: str = "") -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="wrap"><table class="{cls}">{rows}</table></div>'


def run_index_html(manifest: dict) -> str:
    s = summary(manifest)
    v = s["verdict"]
    link = f' <a id="failing-cell" href="{_e(v["link"])}">open the failing cell</a>' if v.get("link") else ""
    body = [f"<h1>Run {_e(manifest.get('run_id'))}: {_e(manifest.get('action'))} on "
            f"{_e(manifest.get('env'))}</h1>",
            f'<div class="verdict {_e(v["status"])}" id="verdict"><strong>{_e(v["headline"])}</strong>{link}</div>']
    head = ("<tr><th>phase</th><th>status</th><th>duration</th><th>feature flag</th><th>key figures</th>"
            "<th>notebook</th></tr>")
    rows = []
    for p in s["phases"]:
        figs = "".join(f"<li><strong>{_e(k)}</strong>: <span{_warn(val)}>{_e(val)}</span></li>"
                       for k, val in p["key_figures"].items())
        links = " · ".join(x for x in (
            f'<a class="nb-html" href="{_e(p["html"])}">HTML</a>' if p["html"] else "",
            f'<a class="nb-ipynb" href="{_e(p["notebook"])}">ipynb</a>' if p["notebook"] else "") if x)
        secs = f"{p['seconds']:.1f} s" if isinstance(p["seconds"], (int, float)) else ""
        rows.append(f'<tr class="phase" data-phase="{_e(p["phase"])}"><td>{_e(p["phase"])}</td>'
                    f'<td class="{_e(p["status"]).replace(" ", "-")}">{_e(p["status"])}</td><td class="nowrap">{secs}</td><td>{_e(p["flag"])}</td>'
                    f'<td><ul class="figures">{figs}</ul></td><td>{links}</td></tr>')
    body.append(f'<h2>Notebooks</h2><div class="wrap"><table id="phases">{head}{"".join(rows)}</table></div>')
    outcomes = [outcome_html(p["phase"], p["outcome"]) for p in s["phases"] if isinstance(p.get("outcome"), dict)]
    if outcomes:
        body.append('<h2 id="outcome">Outcome: what migrated, per table</h2>' + "".join(outcomes))
    prev = manifest.get("previous_run_id")
    about = [
        ("action", _e(manifest.get("action")) + (" (DRY RUN)" if manifest.get("dry_run") else "")),
        ("environment", _e(manifest.get("env"))),
        ("database", _e(manifest.get("database")) + f" (URL from {_e(manifest.get('url_from'))})"),
        ("server", _e(manifest.get("server_version"))),
        ("git commit", f"<code>{_e(manifest.get('git_commit'))}</code>"),
        ("tool version", _e(manifest.get("tool_version"))),
        ("operator", _e(manifest.get("operator"))),
        ("started / finished", f"{_e(manifest.get('started_at'))} / {_e(manifest.get('finished_at') or '-')}"
                               + (f" ({s['seconds']} s)" if s["seconds"] is not None else "")),
        ("params file", f"<code>{_e(manifest.get('params_file'))}</code> sha256 "
                        f"<code>{_e(manifest.get('params_sha256'))}</code>"),
        ("previous run", f'<a href="../{_e(prev)}/index.html">{_e(prev)}</a>' if prev else "none (first run)"),
        ("all runs", '<a href="../index.html">every run of this environment</a>'),
    ]
    for key in ("target_phase", "rehearsal"):
        if key in manifest:
            about.append((key.replace("_", " "), f"<code>{_e(json.dumps(manifest[key], default=str))}</code>"))
    drift = manifest.get("legacy_drift") or []
    about.append(("legacy schema drift", "<br>".join(_e(x) for x in drift) if drift else "none"))
    body.append("<h2>What ran where</h2>" + _kv_table(about))
    params = manifest.get("params") or {}
    body.append("<h2>Parameters as run</h2>" + _kv_table(
        (k, f"<code>{_e(json.dumps(val, default=str))}</code>") for k, val in params.items()))
    body.append('<h2>Integrity</h2><p>Every file of this folder, this page included, is hashed in '
                '<a href="manifest.json">manifest.json</a>, which is chained to the previous run\'s; check with '
                f'<code>cqms-migrate verify-trail --env {_e(manifest.get("env"))}</code>.</p>')
    return _page(f"{manifest.get('run_id')}: {v['headline']}", "\n".join(body))


def write_run_index(folder: Path, manifest: dict) -> None:
    from .trail import atomic_write_text
    manifest["summary"] = summary(manifest)
    atomic_write_text(Path(folder) / INDEX, run_index_html(manifest))


# -- every run of an env ----------------------------------------------------------------------
def runs(env: str, base: str | Path | None = None) -> list[dict]:
    """One row per run folder of ``env``, newest first: by started_at, then by position in the
    manifest chain (runs started in the same second), then run id."""
    from .runner import RUN_ID_RE
    from .trail import MANIFEST, run_folders
    out, prev = [], {}
    for folder in run_folders(env, base):
        linkable = bool(RUN_ID_RE.match(folder.name)) and (folder / INDEX).is_file()
        try:
            m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            if not isinstance(m, dict):
                raise ValueError("not an object")
        except (OSError, ValueError):
            out.append({"run_id": folder.name, "started_at": "", "action": "?", "phases": "", "status": "no manifest",
                        "verdict": "no readable manifest.json", "operator": "", "dry_run": False,
                        "index": f"{folder.name}/{INDEX}" if linkable else None})
            continue
        summary_ = m.get("summary") if isinstance(m.get("summary"), dict) else {}
        verdict = summary_.get("verdict") if isinstance(summary_.get("verdict"), dict) else {}
        planned = m.get("planned") if isinstance(m.get("planned"), list) else \
            [p.get("phase") for p in m.get("phases") or [] if isinstance(p, dict)]
        prev[folder.name] = m.get("previous_run_id")
        out.append({"run_id": folder.name, "started_at": str(m.get("started_at") or ""), "action": str(m.get("action")),
                    "phases": ", ".join(str(p) for p in planned), "status": str(m.get("status")),
                    "verdict": str(verdict.get("headline") or m.get("status")), "operator": m.get("operator"),
                    "dry_run": bool(m.get("dry_run")), "index": f"{folder.name}/{INDEX}" if linkable else None})

    def depth(name: str) -> int:
        seen, n = set(), 0
        while prev.get(name) and name not in seen:
            seen.add(name)
            name, n = prev[name], n + 1
        return n
    return sorted(out, key=lambda r: (r["started_at"], depth(r["run_id"]), r["run_id"]), reverse=True)


def env_index_html(env: str, base: str | Path | None = None) -> str:
    rows = []
    for r in runs(env, base):
        name = (f'<a href="./{_e(quote(r["index"]))}">{_e(r["run_id"])}</a>' if r["index"] else _e(r["run_id"]))
        rows.append(f'<tr class="run"><td>{_e(r["started_at"])}</td><td>{name}</td><td>{_e(r["action"])}'
                    f'{" (dry run)" if r.get("dry_run") else ""}</td><td>{_e(r["phases"])}</td>'
                    f'<td class="{_e(r["status"])}">{_e(r["verdict"])}</td><td>{_e(r["operator"])}</td></tr>')
    table = ('<div class="wrap"><table id="runs"><tr><th>started (UTC)</th><th>run</th><th>action</th><th>phases</th>'
             f'<th>verdict</th><th>operator</th></tr>{"".join(rows)}</table></div>')
    body = (f"<h1>cqms-migrate trail: {_e(env)}</h1><p>Every run of this environment, newest first. Each run's "
            f"files are sealed by its manifest.json and chained to the previous run; check with "
            f"<code>cqms-migrate verify-trail --env {_e(env)}</code>.</p>{table}")
    return _page(f"cqms-migrate trail: {env}", body)


def write_env_index(env: str, base: str | Path | None = None) -> Path:
    from .trail import atomic_write_text, env_dir
    path = env_dir(env, base) / INDEX
    atomic_write_text(path, env_index_html(env, base))
    return path


def env_index_problem(env: str, base: str | Path | None = None) -> str | None:
    """verify-trail's check of outputs/<env>/index.html: it must say what the manifests say
    (absent is fine: it is derived, and the next run writes it)."""
    from .trail import env_dir
    path = env_dir(env, base) / INDEX
    if not path.is_file():
        return None
    if path.read_text(encoding="utf-8") != env_index_html(env, base):
        return (f"{path} does not match the runs' manifests (edited, or a run was added or removed without "
                f"it); rewrite it with `cqms-migrate trail --env {env} --write-index`")
    return None
