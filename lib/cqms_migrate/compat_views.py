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


# every grant a relation holds but its owner's own: (grantee or PUBLIC, privilege, grantable), and
# per column (by position among the live columns) the column-level ones
_RELATION_ACL = """
SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, x.privilege_type, x.is_grantable
FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x
WHERE c.oid = to_regclass(%s) AND x.grantee <> c.relowner"""
_COLUMN_ACL = """
SELECT a.n, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, x.privilege_type, x.is_grantable
FROM (SELECT a.attacl, row_number() OVER (ORDER BY a.attnum) AS n FROM pg_attribute a
      WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped) a, aclexplode(a.attacl) x
WHERE a.attacl IS NOT NULL"""


def acl(conn: psycopg.Connection, relation: str) -> tuple[set, set]:
    """(table-level grants, column-level grants by column position) of public.<relation>."""
    name = sql.Identifier("public", relation).as_string(conn)
    table = {tuple(r) for r in conn.execute(_RELATION_ACL, (name,)).fetchall()}
    columns = {tuple(r) for r in conn.execute(_COLUMN_ACL, (name,)).fetchall()}
    end_read(conn)
    return table, columns


def copy_rights_statements(conn: psycopg.Connection, view_name: str, table: str, columns: list[str],
                           comment: str) -> list[str]:
    """For a view that stands in for a table under the table's old name (a rename): the view gets
    exactly the table's rights, for every grantee (PUBLIC and roles beyond the API's included),
    table- and column-level, with their grant options. What the view holds now and what default
    privileges gave it are revoked first, in the same transaction. ``columns``: the view's column
    names, by position."""
    view = sql.Identifier("public", view_name)
    t_acl, c_acl = acl(conn, table)
    held, _ = acl(conn, view_name) if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (view.as_string(conn),)).fetchone()[0] \
        else (set(), set())
    defaults = {r[0] for r in conn.execute(
        "SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END "
        "FROM pg_default_acl d, aclexplode(d.defaclacl) x WHERE d.defaclobjtype = 'r' AND x.grantee <> d.defaclrole "
        "AND (d.defaclnamespace = 0 OR d.defaclnamespace = 'public'::regnamespace)").fetchall()}
    end_read(conn)

    def role(r: str) -> sql.Composable:
        return sql.SQL("PUBLIC") if r == "PUBLIC" else sql.Identifier(r)

    revoke_from = sorted({"PUBLIC", *API_ROLES, *defaults, *(g for g, _, _ in held)})
    out = [compose(conn, sql.SQL("REVOKE ALL ON {} FROM {}").format(view, sql.SQL(", ").join(map(role, revoke_from)))),
           compose(conn, sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(comment)))]
    by_grantee: dict[tuple[str, bool], list[str]] = {}
    for grantee, priv, grantable in sorted(t_acl):
        by_grantee.setdefault((grantee, grantable), []).append(priv)
    for (grantee, grantable), privs in sorted(by_grantee.items()):
        out.append(compose(conn, sql.SQL("GRANT {} ON {} TO {}{}").format(
            sql.SQL(", ").join(map(sql.SQL, privs)), view, role(grantee),
            sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL(""))))
    for n, grantee, priv, grantable in sorted(c_acl):
        out.append(compose(conn, sql.SQL("GRANT {} ({}) ON {} TO {}{}").format(
            sql.SQL(priv), sql.Identifier(columns[n - 1]), view, role(grantee),
            sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL(""))))
    return out
