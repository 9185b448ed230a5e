"""Emulate the parts of Supabase the runbook relies on, on local and test databases only.

Creates (when absent) the roles anon / authenticated / service_role, an auth schema owned by
``supabase_auth_admin`` with auth.users and auth.uid(), and the migration role (``postgres``
by default) as Supabase shapes it: LOGIN, NOT superuser, owner of the application database.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .errors import EnvironmentRefused
from .paths import SQL_DIR

LOCAL_ENVS = {"local", "test"}


def refuse_unless_local(env: str, what: str) -> None:
    if env not in LOCAL_ENVS:
        raise EnvironmentRefused(
            f"{what} is for local/test databases only and refuses env={env!r}; "
            "staging and prod already are Supabase projects"
        )


def bootstrap(admin_url: str, *, env: str, dbname: str, role: str, password: str) -> None:
    """Create role and database if missing and install the auth emulation. Idempotent."""
    refuse_unless_local(env, "the Supabase emulation bootstrap")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER CREATEDB CREATEROLE NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(role))
            )
    db_url = psycopg.conninfo.make_conninfo(admin_url, dbname=dbname)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute((SQL_DIR / "supabase_emulation.sql").read_text())
        r = sql.Identifier(role)
        for stmt in (
            "GRANT USAGE ON SCHEMA auth TO {r}",
            "GRANT SELECT, REFERENCES ON auth.users TO {r}",
            "GRANT anon, authenticated, service_role TO {r}",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        ):
            conn.execute(sql.SQL(stmt).format(r=r))
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(r))


def drop_database(admin_url: str, *, env: str, dbname: str) -> None:
    refuse_unless_local(env, "dropping the database")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
