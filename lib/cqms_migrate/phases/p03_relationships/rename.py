"""The seed's rename (section 3.2, Phase 3): scorecard_perameters becomes scorecard_parameters,
and a writable compat view takes the old name, so code written for the legacy spelling keeps
reading and writing (INSERT ... RETURNING and ON CONFLICT included: the view is automatically
updatable, so the server runs them on the table, with its defaults, triggers, constraints and RLS).

One script, one transaction, under params.legacy_lock_retries (the rename takes the table's
ACCESS EXCLUSIVE lock, and every reader queues behind a waiting ALTER): the rename, the view
(security_invoker: the caller's rights and RLS apply) and on the view exactly the table's rights,
for every grantee, table- and column-level. The revert drops the view and gives the table its name
back, in one transaction too. Both are rendered from the catalog as they run, so a replay after a
crash renders only what is left to do, and the revert runs whenever the catalog shows the rename,
even one the ledger never recorded (a crash between its commit and its ledger row).

The view's columns follow the table's by position: a column the application renames on the table
keeps its legacy name in the view (what the legacy code reads), a column added to the table is
appended when the step is applied again (`stale` says so). What changes for the application is in
decision 3.12."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...compat_views import acl, copy_rights_statements
from ...db import end_read
from ...ddl import LegacyTableDdl
from ...errors import CqmsError
from ...steps import Rendered, compose

LEGACY = "scorecard_perameters"
RENAMED = "scorecard_parameters"
RENAMES = ((LEGACY, RENAMED),)
MARK = "cqms-migrate rename:"   # the view's comment starts so: how the runbook knows the view is its own


def _state(conn) -> dict[str, str]:
    """relname -> relkind of both names, and 'ours' -> 'yes' when the old name is the runbook's view."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname IN (%s, %s)",
        (LEGACY, RENAMED)).fetchall()
    end_read(conn)
    out = {name: kind for name, kind, _ in rows}
    if any(name == LEGACY and kind == "v" and comment.startswith(MARK) for name, kind, comment in rows):
        out["ours"] = "yes"
    return out


def _columns(conn, name: str) -> list[tuple[str, str]]:
    """(name, type) of the live columns of public.<name>, in order."""
    cols = [tuple(r) for r in conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (sql.Identifier("public", name).as_string(conn),)).fetchall()]
    end_read(conn)
    return cols


def _is_table(kind: str | None) -> bool:
    return kind in ("r", "p")


def renamed(conn) -> bool:
    """The catalog shows the rename: the table under its new name, the runbook's view under the old."""
    s = _state(conn)
    return _is_table(s.get(RENAMED)) and s.get("ours") == "yes"


def differences(conn) -> list[str]:
    """What keeps the view from standing in for the table exactly (empty: nothing)."""
    s = _state(conn)
    if not _is_table(s.get(RENAMED)):
        return [f"public.{RENAMED} is not a table: the parameters table was not renamed"]
    if s.get(LEGACY) != "v":
        return [f"public.{LEGACY} is not a view: the compat view under the old name is gone"]
    out = []
    view, table = _columns(conn, LEGACY), _columns(conn, RENAMED)
    if [t for _, t in view] != [t for _, t in table]:
        out.append(f"the compat view shows {len(view)} columns, public.{RENAMED} has {len(table)} "
                   "(a column was added since the rename)")
    if acl(conn, LEGACY) != acl(conn, RENAMED):
        out.append(f"the compat view's grants differ from public.{RENAMED}'s (change the table's: the view is given "
                   "the table's rights when the step is applied again)")
    return out


@dataclass
class RenameParameters(LegacyTableDdl):
    """scorecard_perameters -> scorecard_parameters, the old name a writable compat view."""

    def install(self, ctx) -> list[str]:
        conn = ctx.conn
        s = _state(conn)
        if _is_table(s.get(LEGACY)) and RENAMED in s:
            raise CqmsError(f"public.{RENAMED} already exists beside the legacy table public.{LEGACY}: phase 03 renames "
                            f"{LEGACY} to that name; rename or drop the other one first")
        if not _is_table(s.get(LEGACY)) and not _is_table(s.get(RENAMED)):
            raise CqmsError(f"neither public.{LEGACY} nor public.{RENAMED} is a table: the parameters table is gone")
        if s.get(LEGACY) is not None and not _is_table(s.get(LEGACY)) and s.get("ours") != "yes":
            raise CqmsError(f"public.{LEGACY} is a relation the runbook did not create (relkind {s.get(LEGACY)}) "
                            f"beside public.{RENAMED}: drop it or rename it, then re-run")
        table = LEGACY if _is_table(s.get(LEGACY)) else RENAMED
        cols = _columns(conn, table)
        # the view's names by position: a column the application renamed on the table keeps, in
        # the view, the name the legacy code reads
        shown = [n for n, _ in _columns(conn, LEGACY)] if s.get(LEGACY) == "v" else []
        names = [shown[i] if i < len(shown) else n for i, (n, _) in enumerate(cols)]
        parts = []
        if table == LEGACY:   # rendered as it runs: a replay after the rename committed renders none
            parts.append(compose(conn, sql.SQL(
                "-- lint waived: the old name stays, as the writable compat view created in this transaction (decision 3.12)\n"
                "-- squawk-ignore renaming-table\n"
                "ALTER TABLE public.{legacy} RENAME TO {renamed}").format(
                legacy=sql.Identifier(LEGACY), renamed=sql.Identifier(RENAMED))))
        parts.append(compose(conn, sql.SQL(
            "CREATE OR REPLACE VIEW public.{legacy} WITH (security_invoker = true) AS\n"
            "SELECT {cols} FROM public.{renamed}").format(
            legacy=sql.Identifier(LEGACY), renamed=sql.Identifier(RENAMED),
            cols=sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(v))
                                    for (c, _), v in zip(cols, names)))))
        parts += copy_rights_statements(conn, LEGACY, table, names,
                                        f"{MARK} {self.phase} renamed {LEGACY} to {RENAMED} (seed 3.2); this view keeps "
                                        "the old name writable for the legacy application")
        return [";\n".join(parts) + ";\n"]

    def remove(self, ctx) -> list[str]:
        conn = ctx.conn
        s = _state(conn)
        parts = []
        if s.get("ours") == "yes":
            dependents = [r[0] for r in conn.execute(
                "SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d "
                "JOIN pg_class v ON v.oid = to_regclass(%s) "
                "WHERE d.refobjid IN (v.oid, v.reltype) AND d.deptype = 'n' "
                "AND NOT (d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT w.oid FROM pg_rewrite w WHERE w.ev_class = v.oid)) "
                "ORDER BY 1", (f"public.{LEGACY}",)).fetchall()]
            end_read(conn)
            if dependents:
                raise CqmsError(f"{', '.join(dependents[:5])} depend(s) on the compat view public.{LEGACY} (created since "
                                f"the rename): drop them or point them at public.{RENAMED}, then roll back again")
            parts.append(compose(conn, sql.SQL("DROP VIEW public.{}").format(sql.Identifier(LEGACY))))
        if (s.get(LEGACY) is None or s.get("ours") == "yes") and _is_table(s.get(RENAMED)):
            parts.append(compose(conn, sql.SQL(
                "-- lint waived: the table gets back the name the legacy application knows it by (decision 3.12)\n"
                "-- squawk-ignore renaming-table\n"
                "ALTER TABLE public.{renamed} RENAME TO {legacy}").format(
                legacy=sql.Identifier(LEGACY), renamed=sql.Identifier(RENAMED))))
        return [";\n".join(parts) + ";\n"] if parts else []

    def found_unrecorded(self, ctx) -> str | None:
        if renamed(ctx.conn):
            return f"the catalog shows {LEGACY} renamed (a rename whose ledger row was never written)"
        return None

    def render_verify(self, ctx) -> Rendered:
        """The differences (see ``differences``) raised from the database, so a verify run in
        the step's transaction and the harness's both fail on them."""
        found = differences(ctx.conn)
        if not found:
            return Rendered(["SELECT 1"])
        return Rendered([compose(ctx.conn, sql.SQL("DO $verify$ BEGIN RAISE EXCEPTION '%', {}; END $verify$").format(
            sql.Literal("; ".join(found))))])

    def stale(self, ctx) -> str | None:
        if not _is_table(_state(ctx.conn).get(RENAMED)):
            return None
        found = differences(ctx.conn)
        return "; ".join(found) if found else None
