"""Which objects of the database still join on email (issue 22; seed 3.2 Phase 3, "remove
email-based joins").

An email join is a comparison of one email-valued expression with another: ``e.email =
a.employee_email``, ``lower(btrim(p.email)) = lower(btrim(NEW.auditor_email))``, ``email =
auth.email()``, ``email = (auth.jwt() ->> 'email')``, ``JOIN people USING (email)``. Looking a row up by a literal or by a value that is
not an email (``interaction_type = 'email'``) is not one. The scan reads the catalog, never a list
of ours: views and materialized views (their deparsed definition), functions and procedures
(their whole definition), the triggers that call a function found, row-level policies (USING and
WITH CHECK) and rewrite rules, in every schema but PostgreSQL's, Supabase's managed ones and
extensions' objects.

Each finding says whose it is. The runbook's own transition objects (the syncs that must map the
legacy emails to ids until phase 05 drops the legacy tables) are in the runbook's schemas, are
views or tables a phase declares, or are triggers calling a function of the runbook's; they are
listed by name. Everything else is the application's: after phase 03 that list should be empty,
and what is on it is code to move to the ids before phase 05 (decision 3.10)."""

from __future__ import annotations

import re

import pandas as pd
import psycopg

# schemas whose objects are PostgreSQL's or Supabase's (managed by the platform, not the customer)
PLATFORM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "auth", "storage", "realtime", "_realtime",
                    "extensions", "graphql", "graphql_public", "vault", "pgsodium", "pgsodium_masks", "net",
                    "supabase_functions", "supabase_migrations", "_analytics", "pgbouncer", "cron", "pgtle")
# the runbook's own schemas (phases may declare more: Phase.creates_schemas)
RUNBOOK_SCHEMAS = ("cqms_migration", "cqms_security")

# an identifier that names an email (a column, a variable, a record field, auth.email()):
# optionally qualified and quoted; "email" anywhere in its last part
_IDENT = r'(?:"?[a-z_][\w$]*"?\s*\.\s*)*"?[\w$]*email[\w$]*"?(?:\s*\(\s*\))?'
# what may wrap it: parentheses, lower/upper/trims/coalesce (deparsed trims read "TRIM(BOTH FROM x)")
_OPEN = r'(?:(?:lower|upper|btrim|ltrim|rtrim|trim|coalesce|citext)?\s*\(\s*(?:(?:both|leading|trailing)\s+)?(?:from\s+)?)*'
# and after it: casts, closing parentheses, the rest of a function's arguments (", ''")
_CLOSE = r"(?:\s*(?:::\s*[\w\"]+(?:\[\])?|\)|,\s*'[^']*'))*"
_OPERAND = _OPEN + _IDENT + _CLOSE
_COMPARISON = re.compile(
    r"(?<![\w$.\"])" + _OPERAND + r"\s*(?:=|is\s+not\s+distinct\s+from|~~\*?|i?like)\s*(?:any\s*\(\s*)?" + _OPERAND,
    re.IGNORECASE)
# an email compared with a JSON field named like one (a JWT claim: auth.jwt() ->> 'email'), either side
_CLAIM = r"->>?\s*'[\w$]*email[\w$]*'"
_CLAIMS = re.compile(
    r"(?<![\w$.\"])" + _OPERAND + r"\s*=\s*[^=;]{0,160}?" + _CLAIM + r"|" + _CLAIM + r"[^=;]{0,40}?=\s*" + _OPERAND,
    re.IGNORECASE)
_USING = re.compile(r"\busing\s*\(\s*[^()]*\bemail\b[^()]*\)", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def evidence(text: str | None) -> str | None:
    """The first email join in ``text`` (comments ignored), as written; None: none."""
    if not text:
        return None
    flat = " ".join(_COMMENT.sub(" ", text).split())
    for pattern in (_COMPARISON, _CLAIMS, _USING):
        m = pattern.search(flat)
        if m:
            return m.group(0).strip()[:160]
    return None


def _definitions(conn: psycopg.Connection) -> list[tuple[str, str, str, str, str | None]]:
    """(kind, schema, name, on (the table of a trigger, policy or rule), definition) of every
    object the scan reads."""
    platform = list(PLATFORM_SCHEMAS)
    not_extension = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {cat}::regclass AND d.objid = {oid} "
                     "AND d.deptype = 'e')")
    rows = conn.execute(
        "SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, n.nspname, c.relname, '', "
        "pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('v', 'm') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' AND "
        + not_extension.format(cat="'pg_class'", oid="c.oid"), (platform,)).fetchall()
    rows += conn.execute(
        "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, n.nspname, "
        "p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', '', "
        "CASE WHEN l.lanname IN ('c', 'internal') THEN NULL ELSE pg_get_functiondef(p.oid) END "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.prokind IN ('f', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' AND "
        + not_extension.format(cat="'pg_proc'", oid="p.oid"), (platform,)).fetchall()
    rows += conn.execute(
        "SELECT 'policy', n.nspname, pol.polname, c.relname, concat_ws(' WITH CHECK ', "
        "pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid)) "
        "FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname <> ALL(%s)", (platform,)).fetchall()
    rows += conn.execute(
        "SELECT 'rule', schemaname, rulename, tablename, definition FROM pg_rules WHERE schemaname <> ALL(%s)",
        (platform,)).fetchall()
    return rows


def scan(conn: psycopg.Connection) -> pd.DataFrame:
    """Every email join in the database: kind, object (schema-qualified; a trigger, policy or rule
    with its table), whose ('runbook' or 'application'), evidence (the comparison as written),
    runbook's first, each sorted by object. Ends the read."""
    from . import phases
    from .db import end_read

    ours_schemas = set(RUNBOOK_SCHEMAS) | set(phases.created_schemas())
    ours_relations = {("public", t) for t in (*phases.created_tables(), *phases.created_views())}
    found: list[dict] = []
    for kind, schema, name, on, definition in _definitions(conn):
        ev = evidence(definition)
        if ev is None:
            continue
        if kind in ("policy", "rule"):
            runbook = schema in ours_schemas or (schema, on) in ours_relations
            obj = f"{schema}.{on}: {name}"
        else:
            runbook = schema in ours_schemas or (schema, name) in ours_relations
            obj = f"{schema}.{name}"
        found.append({"kind": kind, "object": obj, "whose": "runbook" if runbook else "application", "evidence": ev})
    # the triggers that call a function found (a trigger is the join's way in on a table)
    funcs = {(r["object"]) for r in found if r["kind"] == "function"}
    if funcs:
        for schema, table, tg, fschema, fname, fargs in conn.execute(
                "SELECT n.nspname, c.relname, t.tgname, fn.nspname, p.proname, pg_get_function_identity_arguments(p.oid) "
                "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = p.pronamespace "
                "WHERE NOT t.tgisinternal AND n.nspname <> ALL(%s)", (list(PLATFORM_SCHEMAS),)).fetchall():
            fn = f"{fschema}.{fname}({fargs})"
            if fn in funcs:
                runbook = fschema in ours_schemas
                found.append({"kind": "trigger", "object": f"{schema}.{table}: {tg}",
                              "whose": "runbook" if runbook else "application", "evidence": f"calls {fn}"})
    end_read(conn)
    frame = pd.DataFrame(found, columns=["kind", "object", "whose", "evidence"])
    if frame.empty:
        return frame
    return frame.assign(_o=frame["whose"].map({"runbook": 0, "application": 1})).sort_values(
        ["_o", "kind", "object"]).drop(columns="_o").reset_index(drop=True)


def summary(frame: pd.DataFrame) -> dict:
    """{application: n, runbook: n, objects: [the application's, by name]} for the ledger."""
    app = frame[frame["whose"] == "application"] if not frame.empty else frame
    return {"application": int(len(app)), "runbook": int(len(frame) - len(app)),
            "objects": [f"{k} {o}" for k, o in zip(app["kind"], app["object"])] if not app.empty else []}
