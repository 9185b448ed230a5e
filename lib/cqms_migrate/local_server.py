"""The local embedded PostgreSQL and its credentials, in one place: `cqms-migrate db ...` and
`legacy seed` call this module; db.resolve_target reads the credentials it writes.

The server runs on 127.0.0.1 with its data in .cqms/local/; the credentials file (0600) holds
the owner's URL (the non-superuser `postgres` role of the emulated Supabase project) and the
admin's (the cluster's bootstrap superuser, used only to emulate Supabase and seed auth rows).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo

from . import supabase
from .cluster import Cluster, ClusterInfo, loopback_url
from .errors import EmbeddedServerError
from .paths import state_dir

LOCAL_DB = "cqms"
LOCAL_ROLE = "postgres"


def root() -> Path:
    return state_dir() / "local"


def credentials_path() -> Path:
    return root() / "credentials.json"


def credentials() -> dict | None:
    path = credentials_path()
    return json.loads(path.read_text()) if path.exists() else None


def _write_credentials(data: dict) -> None:
    path = credentials_path()
    tmp = path.with_name(".credentials.json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def cluster(server: str | None = None) -> Cluster:
    state = credentials() or {}
    return Cluster(root(), server or state.get("server") or "embedded")


@dataclass
class Started:
    info: ClusterInfo
    was_running: bool


def start(server: str | None = None, port: int | None = None) -> Started:
    """Start (initialising if needed) and bootstrap the emulated Supabase database; keep the
    owner's password across restarts."""
    c = cluster(server)
    was_running = c.is_running()
    info = c.start(port)
    state = credentials() or {}
    current = state.get("url") and f"@127.0.0.1:{info.port}/" in state["url"]
    if not (was_running and current):
        old_pw = conninfo.conninfo_to_dict(state["url"]).get("password") if state.get("url") else None
        password = old_pw or secrets.token_urlsafe(18)
        supabase.bootstrap(info.admin_url(), env="local", dbname=LOCAL_DB, role=LOCAL_ROLE, password=password)
        _write_credentials({"url": loopback_url(LOCAL_ROLE, password, info.port, LOCAL_DB),
                            "admin_url": info.admin_url(LOCAL_DB), "server": c.server})
    return Started(info, was_running)


def stop() -> bool:
    c = cluster()
    if not c.is_running():
        return False
    c.stop()
    return True


def reset() -> Path:
    import shutil
    c = cluster()
    if c.is_running():
        c.stop()
    shutil.rmtree(root(), ignore_errors=True)
    return root()


def seed_targets(env_url: str | None, admin_url: str | None, var: str) -> tuple[str, str]:
    """(owner URL, admin URL) for `legacy seed`: both from the environment, or the embedded server's."""
    if env_url or admin_url:
        if not (env_url and admin_url):
            raise EmbeddedServerError(f"legacy seed needs both {var} (owner) and CQMS_ADMIN_DATABASE_URL (admin) "
                                      "when either is set; unset both to use the embedded server")
        return env_url, admin_url
    state = credentials()
    if not state:
        raise EmbeddedServerError("no embedded server is configured: run `cqms-migrate db start` first")
    return state["url"], state["admin_url"]


def recreate_database(owner_url: str, admin_url: str, env: str) -> str:
    """Drop and re-create the owner's database with the Supabase emulation (local/test only)."""
    from .db import describe_url, redact
    owner = conninfo.conninfo_to_dict(owner_url)
    dbname, role, password = owner.get("dbname"), owner.get("user"), owner.get("password")
    if not (dbname and role and password):
        raise EmbeddedServerError("--replace needs the owner URL to name its database, user and password")
    maintenance = conninfo.make_conninfo(admin_url, dbname="postgres")
    try:
        supabase.drop_database(maintenance, env=env, dbname=dbname)
        supabase.bootstrap(maintenance, env=env, dbname=dbname, role=role, password=password)
    except psycopg.Error as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EmbeddedServerError(f"--replace failed on {describe_url(admin_url)}: {redact(reason)}") from None
    return dbname
