"""Compat views, for any phase: a view that stands in for a legacy table under a name of the
phase's choosing (<table>_compat beside it, or the legacy table's own name after a rename),
security_invoker (the caller's RLS applies, never the owner's), with the rights the API roles
hold on the legacy table and no more. Supabase grants every new relation in public to anon,
authenticated and service_role: those grants are revoked first, in the transaction that creates
the view, so it is never readable by a role that could not read what it stands in for.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .db import end_read
from .steps import compose

API_ROLES = ("anon", "authenticated", "service_role")
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


def create_view(name: str, select: sql.Composable) -> sql.Composable:
    """CREATE VIEW public.<name> WITH (security_invoker = true) AS <select>."""
    return sql.SQL("CREATE VIEW {} WITH (security_invoker = true) AS {}").format(sql.Identifier("public", name), select)


def legacy_rights(conn: psycopg.Connection, legacy_table: str, privileges=("SELECT",)) -> dict[str, list[str]]:
    """privilege -> the API roles that hold it on public.<legacy_table> now (as rendered)."""
    table = sql.Identifier("public", legacy_table).as_string(conn)
    out = {}
    for priv in privileges:
        if priv not in PRIVILEGES:
            raise ValueError(f"not a table privilege a compat view mirrors: {priv}")
        out[priv] = [r[0] for r in conn.execute(
            "SELECT r FROM unnest(%s::text[]) r WHERE has_table_privilege(r, %s::regclass, %s)",
            (list(API_ROLES), table, priv)).fetchall()]
    end_read(conn)
    return out


def rights_statements(conn: psycopg.Connection, view_name: str, legacy_table: str, comment: str,
                      privileges=("SELECT",)) -> list[str]:
    """The statements that follow the CREATE VIEW in its transaction: the default grants revoked,
    the comment (how the runbook finds its views again), then per privilege a GRANT to the API
    roles that hold it on the legacy table. ``privileges``: SELECT for a read-only view; a view
    the application writes through mirrors INSERT, UPDATE and DELETE too."""
    view = sql.Identifier("public", view_name)
    out = [compose(conn, sql.SQL("REVOKE ALL ON {} FROM PUBLIC, anon, authenticated, service_role").format(view)),
           compose(conn, sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(comment)))]
    for priv, roles in legacy_rights(conn, legacy_table, privileges).items():
        if roles:
            out.append(compose(conn, sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(priv), view, sql.SQL(", ").join(sql.Identifier(r) for r in roles))))
    return out
