"""Checks in the spirit of Supabase's database advisor (supabase/splinter), run by the runbook
after each phase on the objects the runbook created.

Each lint is one catalog query, written for this project from splinter's documented lint list:
the same names, levels and conditions, restricted to our objects (``owned``). Exposed schemas are
those in ``pgrst.db_schemas`` when the server has it, else Supabase's default, ``public``.

ERROR findings stop the phase; a WARN must be waived with a reason (``WAIVERS``, mirrored in
docs/security.md, which a test keeps in step); INFO is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg

from .db import end_read
from .errors import CheckFailed

API_ROLES = ("anon", "authenticated")

# (lint, object) -> why the finding is accepted. Mirrored in docs/security.md ("Waived advisor
# findings"); tests/test_security.py checks both say the same.
WAIVERS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Owned:
    """What the runbook created, by kind, as qualified names."""

    tables: tuple[str, ...] = ()
    views: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()   # schema.name (every overload)


def our_tables() -> list[str]:
    """The runbook's tables, as its phases declare them (phases.created_tables)."""
    from .phases import created_tables
    return created_tables()


def owned_objects(conn: psycopg.Connection) -> Owned:
    """What the runbook has created so far: its tables (and the partitions of audits), every view
    over them (the compat views), and its functions (schemas cqms_security and cqms_migration,
    and its trigger functions in public; not the application's get_audit_tables(), which phase 02
    only moves aside), and the views left under the old names of tables a phase renamed."""
    from . import phases
    tables = [r[0] for r in conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid IN (SELECT to_regclass('public.' || t) FROM unnest(%s::text[]) t) "
        "   OR c.oid IN (SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = to_regclass('public.audits'))",
        (our_tables(),)).fetchall()]
    views = [r[0] for r in conn.execute(
        "SELECT DISTINCT format('%%I.%%I', vn.nspname, v.relname) FROM pg_class v "
        "JOIN pg_namespace vn ON vn.oid = v.relnamespace JOIN pg_rewrite w ON w.ev_class = v.oid "
        "JOIN pg_depend d ON d.objid = w.oid AND d.classid = 'pg_rewrite'::regclass "
        "WHERE v.relkind IN ('v', 'm') AND (d.refobjid IN (SELECT to_regclass('public.' || t) FROM unnest(%s::text[]) t) "
        "   OR v.oid IN (SELECT to_regclass('public.' || t) FROM unnest(%s::text[]) t))",
        (our_tables(), [old for old, _ in phases.renamed_tables()])).fetchall()]
    functions = [r[0] for r in conn.execute(
        "SELECT DISTINCT format('%I.%I', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE (n.nspname IN ('cqms_security', 'cqms_migration') AND p.proname <> 'legacy_get_audit_tables') "
        "   OR (n.nspname = 'public' AND (p.proname IN ('employees_bump_version', 'audits_bump_version', "
        "                                               'employees_auth_user_gone') "
        "                                 OR p.proname LIKE 'cqms%'))").fetchall()]
    end_read(conn)
    return Owned(tuple(sorted(tables)), tuple(sorted(views)), tuple(sorted(functions)))


def exposed_schemas(conn: psycopg.Connection) -> list[str]:
    value = conn.execute("SELECT current_setting('pgrst.db_schemas', true)").fetchone()[0]
    end_read(conn)
    return [s.strip() for s in (value or "public").split(",") if s.strip()] or ["public"]


_LINTS = {
    # a foreign key without an index whose leading columns are the key's columns
    "unindexed_foreign_keys": ("INFO", """
      SELECT c.conrelid::regclass::text, c.conname
      FROM pg_constraint c
      WHERE c.contype = 'f' AND c.conrelid = ANY(%(tables)s::regclass[])
        AND NOT EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = c.conrelid AND i.indisvalid
                          AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)"""),
    # auth.uid() / auth.jwt() / current_setting() evaluated per row instead of once
    "auth_rls_initplan": ("WARN", """
      SELECT p.polrelid::regclass::text, p.polname
      FROM pg_policy p
      CROSS JOIN LATERAL (SELECT pg_get_expr(p.polqual, p.polrelid) AS q, pg_get_expr(p.polwithcheck, p.polrelid) AS w) x
      WHERE p.polrelid = ANY(%(tables)s::regclass[])
        AND EXISTS (SELECT 1 FROM unnest(ARRAY[x.q, x.w]) e(x), unnest(ARRAY[
                      'auth.uid()', 'auth.jwt()', 'auth.role()', 'auth.email()', 'current_setting(']) f(fn)
                    WHERE e.x LIKE '%%' || f.fn || '%%' AND lower(e.x) NOT LIKE '%%select ' || lower(f.fn) || '%%')"""),
    # two permissive policies for one table, role and command: both run for every row
    "multiple_permissive_policies": ("WARN", """
      WITH pol AS (
        SELECT p.polrelid, r.rolname, cmd, p.polname
        FROM pg_policy p
        CROSS JOIN LATERAL unnest(CASE p.polcmd WHEN '*' THEN ARRAY['r','a','w','d'] ELSE ARRAY[p.polcmd::text] END) cmd
        JOIN pg_roles r ON r.oid = ANY(p.polroles) OR (p.polroles = '{0}' AND r.rolname IN ('anon', 'authenticated'))
        WHERE p.polpermissive AND p.polrelid = ANY(%(tables)s::regclass[]))
      SELECT polrelid::regclass::text, format('%%s %%s: %%s', rolname, cmd, string_agg(polname, ', ' ORDER BY polname))
      FROM pol GROUP BY polrelid, rolname, cmd HAVING count(*) > 1"""),
    "rls_enabled_no_policy": ("INFO", """
      SELECT c.oid::regclass::text, 'row level security on, no policy (only service_role reaches rows)'
      FROM pg_class c WHERE c.oid = ANY(%(tables)s::regclass[]) AND c.relkind = 'r' AND c.relrowsecurity
        AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)"""),
    # a view the API roles can read that runs as its owner (bypassing the caller's RLS)
    "security_definer_view": ("ERROR", """
      SELECT c.oid::regclass::text, 'view without security_invoker'
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY(%(views)s::regclass[]) AND c.relkind = 'v' AND n.nspname = ANY(%(exposed)s)
        AND (has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated', c.oid, 'SELECT'))
        AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(c.reloptions, '{}')) o
                        WHERE lower(o) IN ('security_invoker=1', 'security_invoker=true', 'security_invoker=yes',
                                           'security_invoker=on'))"""),
    "function_search_path_mutable": ("WARN", """
      SELECT p.oid::regprocedure::text, 'no fixed search_path'
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE format('%%I.%%I', n.nspname, p.proname) = ANY(%(functions)s)
        AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%%')"""),
    "rls_disabled_in_public": ("ERROR", """
      SELECT c.oid::regclass::text, 'readable through the API with row level security off'
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY(%(tables)s::regclass[]) AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
        AND n.nspname = ANY(%(exposed)s)
        AND (has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated', c.oid, 'SELECT'))"""),
    "materialized_view_in_api": ("WARN", """
      SELECT c.oid::regclass::text, 'materialized view readable through the API (no RLS)'
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY(%(views)s::regclass[]) AND c.relkind = 'm' AND n.nspname = ANY(%(exposed)s)
        AND (has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated', c.oid, 'SELECT'))"""),
    # a write policy for the API roles that lets every row through
    "rls_policy_always_true": ("WARN", """
      SELECT p.polrelid::regclass::text, p.polname
      FROM pg_policy p
      CROSS JOIN LATERAL (SELECT regexp_replace(lower(coalesce(pg_get_expr(p.polqual, p.polrelid), '')), '\\s', '', 'g') AS q,
                                 regexp_replace(lower(coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')), '\\s', '', 'g') AS w) x
      WHERE p.polrelid = ANY(%(tables)s::regclass[]) AND p.polpermissive
        AND (p.polroles = '{0}' OR p.polroles && ARRAY['anon'::regrole, 'authenticated'::regrole]::oid[])
        AND ((p.polcmd IN ('w', 'd', '*') AND x.q IN ('', 'true', '(true)', '1=1', '(1=1)'))
          OR (p.polcmd IN ('a', 'w', '*')
              AND (x.w IN ('true', '(true)', '1=1', '(1=1)')
                   OR (x.w = '' AND (p.polcmd = 'a' OR x.q IN ('', 'true', '(true)', '1=1', '(1=1)'))))))"""),
    "anon_security_definer_function_executable": ("WARN", """
      SELECT p.oid::regprocedure::text, 'SECURITY DEFINER, executable by anon through /rest/v1/rpc'
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE format('%%I.%%I', n.nspname, p.proname) = ANY(%(functions)s) AND p.prosecdef
        AND n.nspname = ANY(%(exposed)s) AND has_function_privilege('anon', p.oid, 'EXECUTE')"""),
    "authenticated_security_definer_function_executable": ("WARN", """
      SELECT p.oid::regprocedure::text, 'SECURITY DEFINER, executable by authenticated through /rest/v1/rpc'
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE format('%%I.%%I', n.nspname, p.proname) = ANY(%(functions)s) AND p.prosecdef
        AND n.nspname = ANY(%(exposed)s) AND has_function_privilege('authenticated', p.oid, 'EXECUTE')"""),
    # a table exposed without RLS that has a column named like a secret
    "sensitive_columns_exposed": ("ERROR", """
      SELECT c.oid::regclass::text, string_agg(a.attname, ', ')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.oid = ANY(%(tables)s::regclass[]) AND NOT c.relrowsecurity AND n.nspname = ANY(%(exposed)s)
        AND (has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated', c.oid, 'SELECT'))
        AND replace(lower(a.attname), '-', '_') = ANY(ARRAY['password', 'passwd', 'secret', 'api_key', 'apikey',
              'token', 'access_token', 'refresh_token', 'jwt', 'ssn', 'credit_card', 'card_number', 'iban',
              'ssh_key', 'private_key', 'encrypted_password'])
      GROUP BY c.oid"""),
}


def run(conn: psycopg.Connection, owned: Owned | None = None) -> pd.DataFrame:
    """Every finding on ``owned`` objects (default: all the runbook's): lint, level, object,
    detail, waived, reason."""
    owned = owned or owned_objects(conn)
    exposed = exposed_schemas(conn)
    tables = [t for t in owned.tables if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (t,)).fetchone()[0]]
    views = [v for v in owned.views if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (v,)).fetchone()[0]]
    args = {"tables": tables, "views": views, "functions": list(owned.functions), "exposed": exposed}
    rows = []
    end_read(conn)
    with conn.transaction():
        conn.execute("SET LOCAL search_path = ''")  # every name printed qualified
        for lint, (level, query) in _LINTS.items():
            for obj, detail in conn.execute(query, args).fetchall():
                reason = WAIVERS.get((lint, obj))
                rows.append({"lint": lint, "level": level, "object": obj, "detail": detail,
                             "waived": reason is not None, "reason": reason or ""})
    return pd.DataFrame(rows, columns=["lint", "level", "object", "detail", "waived", "reason"])


def raise_on_errors(findings: pd.DataFrame, phase: str) -> None:
    bad = findings[(findings["level"] == "ERROR") & ~findings["waived"]] if not findings.empty else findings
    if not bad.empty:
        first = bad.iloc[0]
        raise CheckFailed(f"{phase}: the advisor found {len(bad)} ERROR(s), first: {first['lint']} on "
                          f"{first['object']} ({first['detail']}); nothing was exposed on purpose — fix before going on")


def unwaived_warnings(findings: pd.DataFrame) -> pd.DataFrame:
    if findings.empty:
        return findings
    return findings[(findings["level"] == "WARN") & ~findings["waived"]]


def check(ctx, phase: str) -> pd.DataFrame:
    """The advisor after a phase, for its notebook: findings recorded as a metric; an ERROR stops
    the phase (raises CheckFailed). Nothing to check in a dry run."""
    if ctx.dry_run:
        return pd.DataFrame(columns=["lint", "level", "object", "detail", "waived", "reason"])
    findings = run(ctx.conn)
    ctx.ledger.record_metric(phase, "advisor", {
        "errors": int(((findings["level"] == "ERROR") & ~findings["waived"]).sum()) if len(findings) else 0,
        "unwaived_warnings": len(unwaived_warnings(findings)),
        "findings": findings.to_dict("records")})
    raise_on_errors(findings, phase)
    return findings
