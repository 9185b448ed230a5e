"""The audit trail: every run folder under outputs/<env>/ carries a manifest.json that lists
the sha256 of each file in the folder and the sha256 of the previous run's manifest, so
editing, adding or deleting a file, or removing/replacing an earlier run, is detectable.

The runner writes manifests with :func:`write_manifest`; :func:`verify_trail` checks them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import TrailTampered
from .paths import outputs_dir

MANIFEST = "manifest.json"


# -- hashing ---------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_manifest_artifact(rel: str) -> bool:
    # the manifest itself, and a temp file left by an interrupted atomic write
    return rel == MANIFEST or (rel.startswith(f".{MANIFEST}.") and rel.endswith(".tmp"))


def hash_files(folder: str | Path) -> dict[str, str]:
    """{posix relative path: sha256} for every regular file under ``folder`` except the manifest."""
    folder = Path(folder)
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() or path.is_symlink():
            rel = path.relative_to(folder).as_posix()
            if _is_manifest_artifact(rel):
                continue
            out[rel] = sha256_file(path) if path.is_file() else "<symlink>"
    return out


# -- writing ---------------------------------------------------------------------------------
def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(folder: str | Path, data: dict) -> str:
    """Hash every file in ``folder`` into ``data['files']``, write manifest.json atomically and
    return the manifest's own sha256 (what the next run records as previous_manifest_sha256)."""
    folder = Path(folder)
    data["files"] = hash_files(folder)
    text = json.dumps(data, indent=2, default=str) + "\n"
    atomic_write_text(folder / MANIFEST, text)
    return sha256_bytes(text.encode("utf-8"))


def read_manifest(folder: str | Path) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))


# -- the chain -------------------------------------------------------------------------------
def env_dir(env: str, base: str | Path | None = None) -> Path:
    return Path(base) if base is not None else outputs_dir() / env


def run_folders(env: str, base: str | Path | None = None) -> list[Path]:
    """Run folders of ``env`` sorted by run id (run ids start with a UTC timestamp)."""
    d = env_dir(env, base)
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def previous_manifest(env: str, run_id: str, base: str | Path | None = None) -> tuple[str | None, str | None]:
    """(run_id, manifest sha256) of the newest other run of ``env`` that has a manifest, or (None, None).

    "Newest" is the tip of the chain: the run no other manifest names as its previous run (if
    several, the latest started_at, then run id). Run ids sort by time unless given explicitly,
    so the chain, not the sort order, decides."""
    manifests: dict[str, dict] = {}
    for folder in run_folders(env, base):
        if folder.name != run_id and (folder / MANIFEST).is_file():
            try:
                manifests[folder.name] = read_manifest(folder)
            except ValueError:
                manifests[folder.name] = {}
    if not manifests:
        return None, None
    referenced = {m.get("previous_run_id") for m in manifests.values() if isinstance(m, dict)}
    tips = [n for n in manifests if n not in referenced] or list(manifests)
    tip = max(tips, key=lambda n: (str(manifests[n].get("started_at") or ""), n))
    return tip, sha256_file(env_dir(env, base) / tip / MANIFEST)


# -- verification ----------------------------------------------------------------------------
def _check_folder(folder: Path, env: str, problems: list[str]) -> tuple[dict | None, int]:
    name = folder.name
    mpath = folder / MANIFEST
    if not mpath.is_file():
        problems.append(f"run {name}: no {MANIFEST}")
        return None, 0
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (ValueError, KeyError, TypeError) as e:
        problems.append(f"run {name}: {MANIFEST} is unreadable ({type(e).__name__}: {e})")
        return None, 0
    if manifest.get("run_id") != name:
        problems.append(f"run {name}: manifest says run_id {manifest.get('run_id')!r}")
    if manifest.get("env") not in (None, env):
        problems.append(f"run {name}: manifest says env {manifest.get('env')!r}")
    actual = hash_files(folder)
    for rel, digest in sorted(files.items()):
        if rel not in actual:
            problems.append(f"run {name}: {rel} is listed in the manifest but missing")
        elif actual[rel] != digest:
            problems.append(f"run {name}: {rel} does not match its recorded sha256")
    for rel in sorted(set(actual) - set(files)):
        problems.append(f"run {name}: {rel} is not listed in the manifest")
    return manifest, len(files)


def _scan(env: str, run_id: str | None, base) -> tuple[list[str], int, int]:
    problems: list[str] = []
    folders = run_folders(env, base)
    if run_id is not None:
        selected = [f for f in folders if f.name == run_id]
        if not selected:
            return [f"run {run_id}: no such run folder in {env_dir(env, base)}"], 0, 0
    else:
        selected = folders
    manifests: dict[str, dict] = {}
    nfiles = 0
    for folder in selected:
        m, n = _check_folder(folder, env, problems)
        nfiles += n
        if m is not None:
            manifests[folder.name] = m

    names = [f.name for f in folders]
    have_manifest = {f.name for f in folders if (f / MANIFEST).is_file()}
    roots: list[str] = []
    successors: dict[str, list[str]] = {}
    for name, m in manifests.items():
        prev_sha = m.get("previous_manifest_sha256")
        if "previous_run_id" in m:
            prev_id = m["previous_run_id"]
        else:  # older manifests: the previous run is the one sorting just before with a manifest
            earlier = [n for n in names if n < name and n in have_manifest]
            prev_id = earlier[-1] if earlier else None
        if prev_id is None and prev_sha is None:
            roots.append(name)
            continue
        if prev_id is None or prev_sha is None:
            problems.append(f"run {name}: chain link is incomplete (previous run {prev_id!r}, sha256 {prev_sha!r})")
            continue
        successors.setdefault(prev_id, []).append(name)
        prev_manifest = env_dir(env, base) / prev_id / MANIFEST
        if not prev_manifest.is_file():
            problems.append(f"run {name}: previous run {prev_id} (its manifest) is missing")
        elif sha256_file(prev_manifest) != prev_sha:
            problems.append(f"run {name}: previous run {prev_id}'s manifest does not match the recorded sha256")
    if run_id is None:
        from .review import env_index_problem
        problem = env_index_problem(env, base)
        if problem:
            problems.append(problem)
        if len(roots) > 1:
            problems.append(f"chain has {len(roots)} starting runs ({', '.join(roots)}): an earlier link was cut")
        for prev_id, succ in sorted(successors.items()):
            if len(succ) > 1:
                problems.append(f"chain forks after run {prev_id}: {', '.join(sorted(succ))} all follow it")
    return problems, len(selected), nfiles


def verify_trail(env: str, run_id: str | None = None, *, base: str | Path | None = None) -> list[str]:
    """Problems found in the trail of ``env`` (all runs, or one); empty when it verifies.

    ``base`` overrides the env's folder (default outputs/<env>/)."""
    return _scan(env, run_id, base)[0]


def check_trail(env: str, run_id: str | None = None, *, base: str | Path | None = None) -> tuple[int, int]:
    """Raise TrailTampered naming the first problem; else return (runs, files) checked."""
    problems, runs, files = _scan(env, run_id, base)
    if problems:
        n = len(problems)
        raise TrailTampered(f"trail of env={env} does not verify ({n} problem{'s' if n > 1 else ''}); "
                            f"first: {problems[0]}", problems)
    return runs, files
