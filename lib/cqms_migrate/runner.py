"""Execute the phase notebooks with papermill and leave an audit trail.

``run`` executes notebooks/NN_name.ipynb in NN order (99_* excluded) into
outputs/<env>/<run_id>/, renders each executed notebook to HTML next to it, scrubs secrets
from everything it wrote and seals the folder with a hash-chained manifest.json (see trail.py).

Everything that can be checked without executing a notebook is checked first (params,
confirmation, phase names, database URL, a test connection), so bad input creates nothing.
The database URL is never a notebook parameter: the kernel inherits it from the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import re
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from psycopg import conninfo

from . import db
from .context import TOOL_VERSION, git_commit, new_run_id
from .errors import CqmsError, NotebookFailed, ParamsError, PhaseOrderError, RunLocked
from .params import Params, check_confirmation, default_params_file, load_params, redacted
from .paths import PACKAGE_DIR, notebooks_dir, outputs_dir, project_root
from .trail import previous_manifest, sha256_file, write_manifest

ROLLBACK_NOTEBOOK = "99_rollback.ipynb"   # rollback.NOTEBOOK
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KERNEL = "python3"
# the kernel's own start-up chatter (e.g. the loopback "TCP without encryption" warning) is not
# notebook output; errors still surface through the executed notebook
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]

Log = Callable[[str], None]
# the executed notebooks' HTML: wide outputs scroll rather than being cut at the page's edge
PAGE_CSS = ".jp-OutputArea-output{overflow-x:auto}.jp-RenderedHTMLCommon table{table-layout:auto}"


# -- phases ---------------------------------------------------------------------------------
def discover_phases(nb_dir: Path | None = None) -> list[Path]:
    """The notebooks of the registered phases (phases.PHASES), in order."""
    from . import phases
    nb_dir = nb_dir or notebooks_dir()
    return [nb_dir / f"{p.name}.ipynb" for p in phases.PHASES]


def resolve_phase(name: str, notebooks: list[Path] | None = None) -> Path:
    """'01_foundation', '01', 'foundation' or '01_foundation.ipynb' -> the phase's notebook."""
    from . import phases
    phase = phases.get(name)
    nb_dir = notebooks[0].parent if notebooks else notebooks_dir()
    return nb_dir / f"{phase.name}.ipynb"


def select_phases(phases: list[str] | None = None, through: str | None = None,
                  nb_dir: Path | None = None) -> list[Path]:
    notebooks = discover_phases(nb_dir)
    if phases and through:
        raise PhaseOrderError("use --phase or --through, not both")
    if through:
        last = resolve_phase(through, notebooks)
        chosen = notebooks[: notebooks.index(last) + 1]
    elif phases:
        wanted = {resolve_phase(n, notebooks) for n in phases}
        chosen = [p for p in notebooks if p in wanted]
    else:
        chosen = notebooks
    return chosen


def _require_notebooks(paths: list[Path]) -> None:
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise PhaseOrderError(f"phase notebook(s) missing: {', '.join(missing)} in {paths[0].parent}; "
                              "regenerate them with `python tools/build_notebooks.py`")


# -- preflight ------------------------------------------------------------------------------
def _params_path(env: str, params_file) -> Path:
    return (Path(params_file) if params_file else default_params_file(env)).resolve()


def probe(params: Params, *, suffix: str = "runner") -> tuple[db.Target, str]:
    """Resolve the target and open (then close) a test connection: (target, server_version)."""
    target = db.resolve_target(params)
    conn = db.connect(target, application_name=f"{params.application_name}:{suffix}")
    try:
        version = db.server_version(conn)
    finally:
        conn.close()
    return target, version


def legacy_drift(params: Params, target: db.Target, log: Log) -> list[str]:
    """Drift in the legacy schema since phase 02 adopted it (drift.py), logged before a run and
    recorded in its manifest: the operator sees it before any phase starts."""
    from . import drift
    conn = db.connect(target, application_name=f"{params.application_name}:drift", autocommit=True)
    try:
        lines = drift.summary_lines(drift.report(conn))
    finally:
        conn.close()
    for line in lines:
        log(line)
    return lines


def preflight(env: str, params_file=None, confirm: str | None = None):
    """Validate params and confirmation, resolve the target and test the connection.

    Returns (params, target, server_version). Raises ParamsError, ConfirmationRequired,
    DatabaseUnreachable / EmbeddedServerError before anything is written."""
    params = load_params(env, params_file)
    check_confirmation(params, confirm)
    return (params, *probe(params))


def _check_run_id(run_id: str | None) -> str:
    run_id = run_id or new_run_id()
    if not RUN_ID_RE.match(run_id):
        raise ParamsError(f"run id {run_id!r} is not allowed: use letters, digits, '.', '_' or '-' (max 100)")
    return run_id


# -- secrets --------------------------------------------------------------------------------
def _secrets(target: db.Target) -> list[str]:
    """Literal passwords to scrub from outputs: the target's and the embedded server's."""
    urls = [target.url]
    with contextlib.suppress(Exception):
        state = db.embedded_state() or {}
        urls += [state.get("url") or "", state.get("admin_url") or ""]
    found: set[str] = set()
    for url in urls:
        if not url:
            continue
        with contextlib.suppress(Exception):
            pw = conninfo.conninfo_to_dict(url).get("password")
            if pw and len(pw) >= 4:
                found |= {pw, quote(pw, safe=""), json.dumps(pw)[1:-1]}
    return sorted(found, key=len, reverse=True)


def _clean(text: str, secrets: list[str]) -> str:
    text = db.redact(text)
    for s in secrets:
        text = text.replace(s, "***")
    return text


def _clean_all(node, secrets: list[str]):
    """_clean applied to every string of a JSON-like value (keys kept)."""
    if isinstance(node, str):
        return _clean(node, secrets)
    if isinstance(node, list):
        return [_clean_all(v, secrets) for v in node]
    if isinstance(node, dict):
        return {k: _clean_all(v, secrets) for k, v in node.items()}
    return node


def scrub_file(path: Path, secrets: list[str]) -> bool:
    """Redact passwords in a written .ipynb/.html (notebooks string by string, so JSON stays valid).
    Returns True if the file changed."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        try:
            node = json.loads(raw)
        except ValueError:
            new = _clean(raw, secrets)
        else:
            cleaned = _clean_all(node, secrets)
            new = raw if cleaned == node else json.dumps(cleaned, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
            # belt and braces: nothing literal may survive (e.g. inside a key)
            if any(s in new for s in secrets):
                new = _clean(new, secrets)
    else:
        new = _clean(raw, secrets)
    if new != raw:
        path.write_text(new, encoding="utf-8")
        return True
    return False


# -- helpers --------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class _LogStream:
    """File-like sink for the kernel's stdout/stderr: redacted, line by line, to ``log``."""

    def __init__(self, log: Log, secrets: list[str], prefix: str = "    | "):
        self.log, self.secrets, self.prefix, self.buf = log, secrets, prefix, ""

    def write(self, s: str) -> int:
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.log(self.prefix + _clean(line, self.secrets))
        return len(s)

    def flush(self) -> None:
        if self.buf:
            self.log(self.prefix + _clean(self.buf, self.secrets))
            self.buf = ""


def render_html(ipynb: Path, html: Path) -> None:
    """The executed notebook as a self-contained page (templates/cqms: the lab template without
    scripts from a CDN, tables readable)."""
    import nbformat
    from nbconvert import HTMLExporter

    from .notebook import TABLE_CSS
    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(template_name="cqms", extra_template_basedirs=[str(PACKAGE_DIR / "templates")])
    body, _ = exporter.from_notebook_node(nb, resources={"cqms_css": TABLE_CSS + PAGE_CSS,
                                                         "metadata": {"name": ipynb.stem}})
    html.write_text(body, encoding="utf-8")


@contextlib.contextmanager
def _kernel_env(run_id: str):
    """The kernel inherits os.environ: add the run id, CQMS_HOME and an importable package."""
    saved = {k: os.environ.get(k) for k in ("CQMS_RUN_ID", "CQMS_HOME", "PYTHONPATH")}
    os.environ["CQMS_RUN_ID"] = run_id
    os.environ["CQMS_HOME"] = str(project_root())
    lib = str(PACKAGE_DIR.parent)
    parts = [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    if lib not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([lib, *parts])
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _env_outputs_lock(env: str):
    """One writer per outputs/<env>/ on this machine, so the manifest chain cannot fork."""
    import fcntl

    d = outputs_dir() / env
    d.mkdir(parents=True, exist_ok=True)
    f = open(d / ".lock", "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunLocked(f"another cqms-migrate run is writing {d} on this machine; wait for it to finish") from None
        yield d
    finally:
        f.close()


def _one_line(text: str, secrets: list[str], limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    return _clean(first, secrets)[:limit]


# -- execution ------------------------------------------------------------------------------
def notebook_parameters(env: str, params_file: str, run_id: str, confirm: str | None, dry_run: bool) -> dict:
    """What every notebook of a run is passed (each declares them in its parameters cell)."""
    return dict(env=env, params_file=params_file, run_id=run_id, confirm=confirm or "", dry_run=bool(dry_run))


def _execute(*, action: str, env: str, params: Params, target: db.Target, server_version: str,
             params_file, run_id: str, confirm: str | None, dry_run: bool,
             jobs: list[tuple[Path, dict]], log: Log, extra: dict | None = None) -> dict:
    """Execute ``jobs`` [(notebook, extra papermill parameters)] into outputs/<env>/<run_id>/."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    _require_notebooks([nb for nb, _ in jobs])
    secrets = _secrets(target)
    pfile = _params_path(env, params_file)
    with _env_outputs_lock(env) as env_out:
        out = env_out / run_id
        if out.exists() and any(out.iterdir()):
            raise ParamsError(f"run id {run_id!r} already has an output folder ({out}); pick a new --run-id")
        prev_id, prev_sha = previous_manifest(env, run_id)
        out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "run_id": run_id,
            "env": env,
            "action": action,
            **(extra or {}),
            "params": redacted(params),
            "params_file": str(pfile),
            "params_sha256": sha256_file(pfile) if pfile.is_file() else None,
            "database": target.description,
            "url_from": target.source,
            "server_version": server_version,
            "tool_version": TOOL_VERSION,
            "git_commit": git_commit(),
            "operator": _safe_user(),
            "dry_run": dry_run,
            "started_at": _now(),
            "finished_at": None,
            "status": "running",
            "planned": [nb.stem for nb, _ in jobs],
            "phases": [],
            "previous_run_id": prev_id,
            "previous_manifest_sha256": prev_sha,
        }
        _seal(out, manifest, secrets, log)
        log(f"run {run_id}: env={env} action={action} database={target.description} "
            f"(server {server_version}){' DRY RUN' if dry_run else ''}")
        log(f"output: {out}")

        base_params = notebook_parameters(env, str(pfile) if params_file else "", run_id, confirm, dry_run)
        stream = _LogStream(log, secrets)
        failure: CqmsError | None = None
        with _kernel_env(run_id):
            for nb, nb_params in jobs:
                dest = out / nb.name
                html = dest.with_suffix(".html")
                entry = {"phase": nb.stem, "notebook": dest.name, "status": "running", "started_at": _now()}
                manifest["phases"].append(entry)
                log(f"> {nb.stem} ...")
                t0 = time.monotonic()
                interrupted: BaseException | None = None
                try:
                    pm.execute_notebook(
                        str(nb), str(dest), parameters={**base_params, **nb_params}, kernel_name=KERNEL,
                        cwd=str(nb.parent), progress_bar=False, log_output=False,
                        stdout_file=stream, stderr_file=stream, request_save_on_cell_execute=True,
                        extra_arguments=KERNEL_ARGS,
                    )
                    entry["status"] = "succeeded"
                except PapermillExecutionError as e:
                    entry["status"] = "failed"
                    entry["error"] = {
                        "cell_index": e.cell_index,
                        "exec_count": e.exec_count,
                        "ename": e.ename,
                        "evalue": _one_line(e.evalue, secrets),
                    }
                    failure = NotebookFailed(
                        f"{nb.stem} failed at cell {e.exec_count}: {e.ename}: {entry['error']['evalue']}; see {dest}"
                        + _start_over_hint(env, nb.stem, action)
                    )
                except (KeyboardInterrupt, SystemExit) as e:
                    entry["status"] = "interrupted"
                    entry["error"] = {"ename": type(e).__name__, "evalue": ""}
                    interrupted = e
                except Exception as e:  # kernel died, missing kernel, unreadable notebook...
                    entry["status"] = "failed"
                    msg = _one_line(str(e), secrets) or type(e).__name__
                    entry["error"] = {"ename": type(e).__name__, "evalue": msg}
                    failure = NotebookFailed(f"{nb.stem} could not be executed: {type(e).__name__}: {msg}; see {out}")
                finally:
                    stream.flush()
                entry["finished_at"] = _now()
                entry["seconds"] = round(time.monotonic() - t0, 3)
                if entry["status"] != "succeeded":
                    _close_ledger_runs(target, run_id, entry)
                _record_figures(target, run_id, entry, dest, secrets)
                _finish_files(dest, html, secrets, entry, manifest, log)
                if entry["status"] != "succeeded":
                    manifest["status"] = entry["status"]
                    manifest["finished_at"] = _now()
                    _seal(out, manifest, secrets, log)
                    log(f"x {nb.stem} {entry['status']} after {entry['seconds']:.1f}s")
                    if interrupted is not None:
                        raise interrupted
                    failure.manifest = manifest
                    raise failure
                log(f"ok {nb.stem} {entry['seconds']:.1f}s")
                _seal(out, manifest, secrets, log)
        manifest["status"] = "succeeded"
        manifest["finished_at"] = _now()
        _seal(out, manifest, secrets, log)
        return manifest


def _seal(out: Path, manifest: dict, secrets: list[str], log: Log) -> None:
    """index.html (and the summary in the manifest) first, scrubbed, then the manifest that hashes
    it, then outputs/<env>/index.html, which says what the manifests say (so it is current at
    every point a killed runner could leave the trail in)."""
    from . import review
    review.write_run_index(out, manifest)
    scrub_file(out / review.INDEX, secrets)
    write_manifest(out, manifest)
    try:
        review.write_env_index(manifest["env"], out.parent)
    except Exception as e:  # noqa: BLE001 - a convenience page; the manifests are the record
        log(f"  (could not write outputs/{manifest['env']}/index.html: {type(e).__name__}: {_one_line(str(e), secrets)})")


def _close_ledger_runs(target: db.Target, run_id: str, entry: dict) -> None:
    """A notebook that raised never reached its ctx.close(): mark its ledger run failed (the
    kernel's exit already released the advisory lock). Best effort: the manifest is the record."""
    from . import ledger
    err = entry.get("error") or {}
    message = f"{entry['status']} at cell {err.get('exec_count', '?')}: {err.get('ename', '')}: {err.get('evalue', '')}"
    try:
        with db.connection(target) as conn:
            ledger.fail_running_runs(conn, run_id, message)
    except CqmsError:
        pass


def _start_over_hint(env: str, phase_name: str, action: str) -> str:
    """What to do after a phase failed midway: fix what the message says and run again (a step
    that is out of date is applied again), or start the phase over from its rollback."""
    from . import phases
    try:
        ph = phases.get(phase_name)
    except Exception:  # noqa: BLE001 - not a phase (verify, rollback)
        return ""
    if action != "run" or not (ph.build or ph.cutover_steps):
        return ""
    return (f" (steps it applied stay applied: to start {ph.name} over, `cqms-migrate rollback --env {env} "
            f"--phase {ph.name}`, then run again)")


def _record_figures(target: db.Target, run_id: str, entry: dict, dest: Path, secrets: list[str]) -> None:
    """Copy the phase's key figures from the ledger (and what the notebook displayed as key
    figures) into its manifest entry, with the state of the phase's feature flag. Best effort:
    nothing here may stop the run before its files are scrubbed and sealed; every text is
    redacted (a figure can quote an error message)."""
    from . import phases, review
    figures, flag = {}, None
    try:
        with db.connection(target) as conn:
            figures = phases.run_figures(conn, run_id, entry["phase"])
            flag = phases.flag_state(conn, entry["phase"])
    except Exception:  # noqa: BLE001 - the notebook is the record; figures are only a summary
        pass
    if figures:
        entry["figures"] = _clean_all(json.loads(json.dumps(figures, default=str)), secrets)
    if flag:
        entry["flag"] = flag
    try:
        shown = {**review.key_figures(figures), **review.notebook_key_figures(dest)}
    except Exception as e:  # noqa: BLE001 - a metric of an unexpected shape
        shown = {"key figures": f"could not be summarised ({type(e).__name__}); see the notebook"}
    if shown:
        entry["key_figures"] = _clean_all(shown, secrets)


def _finish_files(dest: Path, html: Path, secrets: list[str], entry: dict, manifest: dict, log: Log) -> None:
    """Open the executed notebook with its banner, scrub it, render and scrub its HTML. Never
    masks the phase's outcome."""
    from . import review
    if not dest.exists():
        entry["notebook"] = None   # papermill never wrote it: nothing to link
        return
    try:
        review.add_banner(dest, manifest, entry)
    except Exception as e:  # noqa: BLE001 - the notebook as papermill left it is still the record
        log(f"  (could not add the banner to {dest.name}: {type(e).__name__}: {_one_line(str(e), secrets)})")
    finally:
        scrub_file(dest, secrets)
    try:
        render_html(dest, html)
        scrub_file(html, secrets)
        entry["html"] = html.name
    except Exception as e:  # noqa: BLE001 - rendering is a convenience, the .ipynb is the record
        html.unlink(missing_ok=True)
        entry["html_error"] = f"{type(e).__name__}: {_one_line(str(e), secrets)}"
        log(f"  (could not render {html.name}: {entry['html_error']})")


def _safe_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return None


# -- public API -----------------------------------------------------------------------------
def run(env: str, params_file=None, phases: list[str] | None = None, through: str | None = None,
        dry_run: bool = False, confirm: str | None = None, run_id: str | None = None,
        log: Log = print) -> dict:
    """Execute the selected phase notebooks; return the manifest (also written to manifest.json).

    Raises NotebookFailed (with ``.manifest``) when a notebook fails; the run stops there."""
    params = load_params(env, params_file)
    check_confirmation(params, confirm)
    jobs = [(nb, {}) for nb in select_phases(phases, through)]
    run_id = _check_run_id(run_id)
    target, version = probe(params)
    drift_lines = legacy_drift(params, target, log)
    return _execute(action="run", env=env, params=params, target=target, server_version=version,
                    params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run,
                    jobs=jobs, log=log, extra={"legacy_drift": drift_lines})


def rollback(env: str, phase: str, params_file=None, confirm: str | None = None, dry_run: bool = False,
             run_id: str | None = None, log: Log = print) -> dict:
    """Execute notebooks/99_rollback.ipynb with target_phase=<canonical phase name>."""
    params = load_params(env, params_file)
    check_confirmation(params, confirm)
    nb = notebooks_dir() / ROLLBACK_NOTEBOOK
    target_phase = resolve_phase(phase).stem
    if not nb.is_file():
        raise PhaseOrderError(f"rollback notebook not found: {nb}")
    run_id = _check_run_id(run_id)
    target, version = probe(params)
    drift_lines = legacy_drift(params, target, log)
    return _execute(action="rollback", env=env, params=params, target=target, server_version=version,
                    params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run,
                    jobs=[(nb, {"target_phase": target_phase})], log=log,
                    extra={"target_phase": target_phase, "legacy_drift": drift_lines})


def verify(env: str, phase: str | None = None, params_file=None, run_id: str | None = None, limit: int = 20,
           log: Log = print) -> dict:
    """Execute notebooks/98_verify.ipynb (read-only) into the trail."""
    from . import verify as verify_mod
    params = load_params(env, params_file)
    nb = notebooks_dir() / verify_mod.NOTEBOOK
    target_phase = resolve_phase(phase).stem if phase else ""
    run_id = _check_run_id(run_id)
    target, version = probe(params)
    return _execute(action="verify", env=env, params=params, target=target, server_version=version,
                    params_file=params_file, run_id=run_id, confirm=None, dry_run=False,
                    jobs=[(nb, {"target_phase": target_phase, "limit": limit})], log=log,
                    extra={"target_phase": target_phase or "every applied phase"})


def rehearse(env: str, params_file=None, run_id: str | None = None, log: Log = print, **parameters) -> dict:
    """Execute notebooks/91_rehearsal.ipynb into the trail (its phases run through this runner, in
    processes of their own, and leave their own runs in the trail). Local only: it injects faults."""
    from . import rehearsal
    params = load_params(env, params_file)
    if params.env != "local":
        raise ParamsError(f"rehearse runs against the local environment only (it injects faults); got {params.env!r}")
    nb = notebooks_dir() / rehearsal.NOTEBOOK
    run_id = _check_run_id(run_id)
    target, version = probe(params)
    return _execute(action="rehearse", env=env, params=params, target=target, server_version=version,
                    params_file=params_file, run_id=run_id, confirm=None, dry_run=False,
                    jobs=[(nb, parameters)], log=log, extra={"rehearsal": parameters})
