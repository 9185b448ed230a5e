"""Connections: resolve the database URL from the environment, never print a secret."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import conninfo

from .errors import DatabaseUnreachable, EmbeddedServerError
from .params import Params

_PASSWORD_IN_URL = re.compile(r"(?P<pre>[a-z+]+://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<post>@)", re.I)
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def redact(text: str) -> str:
    """Remove passwords from URLs and key=value connection strings in any text."""
    text = _PASSWORD_IN_URL.sub(lambda m: m.group("pre") + "***" + m.group("post"), text)
    return _PASSWORD_KV.sub(lambda m: m.group(1) + "***", text)


def describe_url(url: str) -> str:
    """host:port/db as user — for displays and manifests."""
    try:
        p = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    return f"{p.get('user', '?')}@{p.get('host', 'localhost')}:{p.get('port', '5432')}/{p.get('dbname', '?')}"


@dataclass
class Target:
    """Where a run connects. ``url`` is secret; use ``description`` for display."""

    url: str
    source: str  # the env var name, or 'embedded'

    @property
    def description(self) -> str:
        return describe_url(self.url)


def embedded_state() -> dict | None:
    """The embedded server's credentials (local_server writes them)."""
    from .local_server import credentials
    return credentials()


SSL_STRENGTH = {"disable": 0, "allow": 1, "prefer": 2, "require": 3, "verify-ca": 4, "verify-full": 5}


def with_tls(url: str, tls: str) -> str:
    """The URL with at least ``tls`` as its sslmode; refuses a URL that asks for less."""
    if tls == "disable":
        return url
    try:
        mode = conninfo.conninfo_to_dict(url).get("sslmode")
    except psycopg.ProgrammingError as e:
        raise DatabaseUnreachable(f"invalid connection string: {redact(str(e))}") from None
    if mode is None:
        return conninfo.make_conninfo(url, sslmode=tls)
    if SSL_STRENGTH.get(mode, 0) < SSL_STRENGTH[tls]:
        raise DatabaseUnreachable(
            f"the connection string asks for sslmode={mode} but params require tls: {tls}; "
            "remove sslmode from the URL or set tls in params knowingly")
    return url


def resolve_target(params: Params) -> Target:
    url = os.environ.get(params.database_url_env)
    if url:
        return Target(with_tls(url, params.tls), params.database_url_env)
    if params.env == "local":
        state = embedded_state()
        if state is None:
            raise EmbeddedServerError(
                f"{params.database_url_env} is not set and no embedded server is configured: "
                "run `cqms-migrate db start` (or set the variable)"
            )
        return Target(state["url"], "embedded")
    raise DatabaseUnreachable(
        f"env={params.env}: environment variable {params.database_url_env} is not set; "
        "export it with the database URL (session-mode pooler port 5432 or a direct connection)"
    )


def connect(target: Target | str, *, application_name: str = "cqms-migrate", autocommit: bool = False,
            connect_timeout: int = 10) -> psycopg.Connection:
    url = target.url if isinstance(target, Target) else target
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name=application_name,
                               connect_timeout=connect_timeout)
    except psycopg.OperationalError as e:
        where = describe_url(url)
        reason = redact(str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__)
        raise DatabaseUnreachable(f"cannot connect to {where}: {reason}") from None
    except psycopg.ProgrammingError as e:
        raise DatabaseUnreachable(f"invalid connection string: {redact(str(e))}") from None


@contextmanager
def connection(target, **kw):
    conn = connect(target, **kw)
    try:
        yield conn
    finally:
        conn.close()


def server_version(conn: psycopg.Connection) -> str:
    return conn.execute("SHOW server_version").fetchone()[0]


def scalar(conn: psycopg.Connection, query, params=None):
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def end_read(conn: psycopg.Connection) -> None:
    """Close the implicit transaction a read opened (so no snapshot or AccessShare lock on a
    legacy table is held while the operator reads the notebook) — unless the read happened
    inside a step's explicit transaction, which commits or rolls back as a whole."""
    if conn.autocommit or getattr(conn, "_num_transactions", 0):
        return
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.commit()


@contextmanager
def one_snapshot(conn: psycopg.Connection):
    """Every read inside sees one snapshot (REPEATABLE READ, READ ONLY): a validation that counts
    legacy rows and migrated rows while the application writes compares one moment, never two.
    Inside a step's own transaction (which already ran statements) the reads join it."""
    if getattr(conn, "_num_transactions", 0) or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        end_read(conn)
    if getattr(conn, "_num_transactions", 0) or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
