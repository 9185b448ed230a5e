"""Emulate a Supabase project, on local and test databases only.

What a project gives the application and the runbook (supabase/postgres init scripts):
  * the API roles anon / authenticated / service_role (the last BYPASSRLS), authenticator, and an auth
    schema owned by ``supabase_auth_admin`` with auth.users and auth.uid() reading the JWT claims;
  * the migration role (``postgres``): LOGIN, NOT superuser, CREATEDB CREATEROLE REPLICATION
    BYPASSRLS, owner of the application database and of schema public;
  * schema ``extensions`` for extensions; statement timeouts of 3 s (anon) and 8 s (authenticated);
  * the long-standing default privileges (``stock_grants``): everything the postgres role creates
    in public is granted to anon, authenticated and service_role. The legacy tables, created by
    postgres, are therefore granted to the API roles with RLS off, as the application uses them.
    ``stock_grants=False`` builds the variant without those defaults.
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


def bootstrap(admin_url: str, *, env: str, dbname: str, role: str, password: str, stock_grants: bool = True) -> None:
    """Create role and database if missing and install the Supabase emulation. Idempotent."""
    refuse_unless_local(env, "the Supabase emulation bootstrap")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS PASSWORD {}").format(
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
            "GRANT USAGE, CREATE ON SCHEMA extensions TO {r}",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions",
        ):
            conn.execute(sql.SQL(stmt).format(r=r))
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(r))
        verb = "GRANT ALL ON {kind} TO anon, authenticated, service_role" if stock_grants else \
            "REVOKE ALL ON {kind} FROM anon, authenticated, service_role"
        for kind in ("TABLES", "FUNCTIONS", "SEQUENCES"):
            conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {r} IN SCHEMA public " + verb.format(kind=kind))
                         .format(r=r))


def drop_database(admin_url: str, *, env: str, dbname: str) -> None:
    refuse_unless_local(env, "dropping the database")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
