"""The application's discovery function keeps its answer (issue 26).

The legacy application finds its audit tables with `get_audit_tables()` (seed 1.2) and queries
each by employee_email. A function written as "every table whose name contains 'audit'" lists
`audits` and `audit_errors` once phase 02 creates them (and a compat view too, if it reads
views): the report loop would then query them by a column they lack, or read every audit
twice. So, before those names exist, the step `wrap_discovery` moves each of the application's
`public.get_audit_tables` functions to `cqms_migration.legacy_get_audit_tables` (same OID,
body, owner and rights) and puts in its place a wrapper with the same signature, result and
rights that returns what it returns, less the runbook's own relations. The revert moves the
original back. Preflight evaluates the functions with the runbook's names present (in a
transaction it rolls back) and says what would change.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...db import end_read
from ...steps import Rendered, Step, compose
from .mapping import template

NAME = "get_audit_tables"
MOVED = "legacy_get_audit_tables"
# the relations the runbook creates in public that a name pattern could match; compat views of
# audit tables are found by their comment (compat.COMMENT_PREFIX)
RUNBOOK_RELATIONS = ("audits", "audit_errors", "employees", "roles", "departments", "teams", "channels", "countries",
                     "users_compat", "people_compat")


@dataclass
class Found:
    oid: int
    args: str           # identity arguments ('', 'p_schema text')
    call_args: str      # $1, $2, ...
    result: str         # pg_get_function_result: 'TABLE(table_name text)', 'SETOF text', ...
    name_expr: str      # the returned name, in terms of alias r
    acl: list           # (grantee, privilege) of the function


def _name_expr(conn, oid: int) -> str | None:
    """How to read the table name from a row r of the function's result: its first output
    column, or the value itself for a set of text; None when it returns no set of names."""
    retset, rettype, typtype, outs = conn.execute(
        "SELECT p.proretset, p.prorettype::regtype::text, t.typtype, "
        "(SELECT array_agg(n ORDER BY i) FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY x(n, m, i) "
        " WHERE m IN ('o', 't')) FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype WHERE p.oid = %s", (oid,)).fetchone()
    if outs and len(outs) > 1:
        return sql.SQL("(r).{}::text").format(sql.Identifier(outs[0])).as_string(conn)
    if outs:   # one output column: the set is of that value itself (r is scalar)
        return "r::text"
    if typtype == "c":
        first = conn.execute("SELECT a.attname FROM pg_attribute a JOIN pg_type t ON t.typrelid = a.attrelid "
                             "WHERE t.oid = %s::regtype AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1",
                             (rettype,)).fetchone()
        return sql.SQL("(r).{}::text").format(sql.Identifier(first[0])).as_string(conn) if first else None
    if rettype in ("text", "character varying", "name", "regclass"):
        return "r::text"
    return None


def functions(conn, schema: str = "public", name: str = NAME) -> list[Found]:
    out = []
    for oid, args, result, nargs, acl in conn.execute(
            "SELECT p.oid, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), p.pronargs, "
            "(SELECT array_agg(ARRAY[CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, a.privilege_type]) "
            " FROM aclexplode(p.proacl) a) "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s AND p.proname = %s "
            "AND p.prokind = 'f' ORDER BY p.oid", (schema, name)).fetchall():
        expr = _name_expr(conn, oid)
        if expr is not None:
            out.append(Found(oid, args, ", ".join(f"${i}" for i in range(1, nargs + 1)), result, expr,
                             [tuple(x) for x in acl] if acl else None))
    end_read(conn)
    return out


def probe(conn) -> list[str]:
    """The runbook's relations the application's discovery function(s) would list once they
    exist: created in a transaction that is rolled back (nothing is left), each function called."""
    found = functions(conn)
    if not found or not conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()[0]:
        end_read(conn)
        return []
    listed: set[str] = set()
    absent = [r for r in RUNBOOK_RELATIONS
              if not conn.execute("SELECT to_regclass(%s)", (f"public.{r}",)).fetchone()[0]]
    try:
        with conn.transaction(force_rollback=True):
            for r in absent:
                conn.execute(sql.SQL("CREATE TABLE public.{} ()").format(sql.Identifier(r)))
            for f in found:
                if f.args:
                    continue  # (a function with arguments: its callers' arguments are unknown)
                rows = conn.execute(sql.SQL("SELECT {} FROM public.{}() r").format(sql.SQL(f.name_expr),
                                                                                    sql.Identifier(NAME))).fetchall()
                listed |= {x[0] for x in rows if x[0] in RUNBOOK_RELATIONS}
    finally:
        end_read(conn)
    return sorted(listed)


@dataclass
class WrapDiscovery(Step):
    """Moves the application's get_audit_tables() aside and wraps it (see the module)."""

    def render_deploy(self, ctx) -> Rendered:
        out = []
        for f in functions(ctx.conn):
            moved = sql.Identifier("cqms_migration", MOVED)
            grants = [sql.SQL("GRANT {} ON FUNCTION public.{}({}) TO {}").format(
                sql.SQL(priv), sql.Identifier(NAME), sql.SQL(f.args), sql.SQL(grantee) if grantee == "PUBLIC"
                else sql.Identifier(grantee)) for grantee, priv in (f.acl or [])]
            # the body as a quoted literal, never dollar-quoted (an output column's name is the
            # application's identifier)
            body = template("wrap_discovery_body").format(moved=moved, call_args=sql.SQL(f.call_args),
                                                          name_expr=sql.SQL(f.name_expr),
                                                          runbook=sql.Literal(list(RUNBOOK_RELATIONS)))
            out.append(compose(ctx.conn, template("wrap_discovery").format(
                signature=sql.SQL(f.args), function=sql.Identifier("public", NAME),
                moved_name=sql.Identifier(MOVED), result=sql.SQL(f.result),
                body=sql.Literal(body.as_string(ctx.conn)),
                grants=sql.SQL(";\n").join(grants) + sql.SQL(";") if grants else sql.SQL(""),
                default_acl=sql.SQL("") if f.acl is not None else sql.SQL(
                    "GRANT EXECUTE ON FUNCTION {}({}) TO PUBLIC;").format(sql.Identifier("public", NAME), sql.SQL(f.args)))))
        return Rendered(out)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, template("unwrap_discovery").format(
            signature=sql.SQL(f.args), function=sql.Identifier("public", NAME), moved=sql.Identifier("cqms_migration", MOVED),
            name=sql.Identifier(NAME))) for f in functions(ctx.conn, "cqms_migration", MOVED)])

    def render_verify(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, template("verify_discovery").format(
            runbook=sql.Literal(list(RUNBOOK_RELATIONS))))])
