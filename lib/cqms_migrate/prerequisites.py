"""What every phase will use, checked before anything is written (the ledger included).

A missing prerequisite found after phase 01 had committed its first tables left a database
half-built (issue 20: `auth.uid()` missing failed `enable_rls`). So every run that changes
something checks them first, read-only, and stops with one line naming the first one missing;
preflight shows them all and says NO-GO, writing nothing at all (not even its ledger).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg

from .db import end_read

MIN_SERVER_VERSION_NUM = 150000
API_ROLES = ("anon", "authenticated", "service_role")


@dataclass
class Prerequisite:
    name: str
    value: object
    ok: bool
    fix: str = ""

    def line(self) -> str:
        return f"{self.name} ({self.value})" + (f": {self.fix}" if self.fix else "")


def check(conn: psycopg.Connection) -> list[Prerequisite]:
    """Every prerequisite, met or not (read-only)."""
    from . import inventory   # the core tables by both names: a renamed one must be owned to be renamed back
    r = conn.execute("""
      SELECT current_setting('server_version_num')::int,
             has_database_privilege(current_database(), 'CREATE'),
             has_schema_privilege('public', 'CREATE'),
             (SELECT array_agg(x ORDER BY x) FROM unnest(%(roles)s::text[]) x
               WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = x)),
             to_regprocedure('auth.uid()') IS NOT NULL,
             (SELECT p.prorettype = 'uuid'::regtype FROM pg_proc p WHERE p.oid = to_regprocedure('auth.uid()')),
             to_regclass('auth.users') IS NOT NULL,
             CASE WHEN to_regclass('auth.users') IS NOT NULL THEN has_table_privilege('auth.users', 'REFERENCES') END,
             (SELECT array_agg(c.relname ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relname = ANY(%(core)s) AND NOT pg_has_role(c.relowner, 'USAGE'))
    """, {"roles": list(API_ROLES), "core": inventory.core_names()}).fetchone()
    version, create_db, create_public, missing_roles, has_uid, uid_uuid, has_auth_users, references, not_owned = r
    uid_callable = None
    if has_uid and "authenticated" not in (missing_roles or []):
        uid_callable = conn.execute(
            "SELECT has_function_privilege('authenticated', 'auth.uid()', 'EXECUTE')").fetchone()[0]
    end_read(conn)
    return [
        Prerequisite("PostgreSQL 15 or newer", version, version >= MIN_SERVER_VERSION_NUM, "Supabase runs 15 and newer"),
        Prerequisite("CREATE on the database (schemas cqms_migration, cqms_security)", create_db, bool(create_db),
                     "connect as the project's postgres role"),
        Prerequisite("CREATE on schema public (the unified tables)", create_public, bool(create_public),
                     "connect as the project's postgres role"),
        Prerequisite("Supabase roles anon, authenticated, service_role", "missing: " + ", ".join(missing_roles)
                     if missing_roles else "present", not missing_roles, "the security model grants to them"),
        Prerequisite("function auth.uid() returning uuid (row level security reads it)",
                     "missing" if not has_uid else "returns " + ("uuid" if uid_uuid else "another type"),
                     bool(has_uid and uid_uuid), "every Supabase project has it: is this the project's database?"),
        Prerequisite("auth.uid() executable by authenticated", uid_callable, uid_callable is not False,
                     "GRANT EXECUTE ON FUNCTION auth.uid() TO authenticated"),
        Prerequisite("table auth.users (employees.auth_user_id references it)", "present" if has_auth_users else "missing",
                     bool(has_auth_users), "every Supabase project has it"),
        Prerequisite("REFERENCES on auth.users", references, bool(references), "connect as the project's postgres role"),
        Prerequisite("owns the core legacy tables (triggers, compat views)", "yes" if not not_owned else
                     "no: " + ", ".join(not_owned), not not_owned, "connect as the role that owns them"),
    ]


def missing(conn: psycopg.Connection) -> list[Prerequisite]:
    return [p for p in check(conn) if not p.ok]


def frame(found: list[Prerequisite]) -> pd.DataFrame:
    return pd.DataFrame([{"prerequisite": p.name, "value": str(p.value), "ok": p.ok, "if not": "" if p.ok else p.fix}
                         for p in found]).set_index("prerequisite")


def one_line(problems: list[Prerequisite]) -> str:
    first = problems[0].line()
    more = f" (and {len(problems) - 1} more: run 00_preflight)" if len(problems) > 1 else ""
    return f"prerequisite missing: {first}{more}; nothing was changed"
