"""A snapshot of what a revert must restore, and the difference between two (the round-trip
harness, tests/test_round_trip.py, and the drift tests read it; pgroll's harness checks its
operations the same way).

It covers relations (kind, RLS, ACL), columns, indexes, constraints, functions (definition,
settings, ACL), triggers, policies, schemas (ACL), the rows of every table the runbook or the
legacy data owns, and the ledger's state (applied steps, checkpoints, quarantine, checksums,
flags), not its history (runs, steps, statements, metrics, batches). The schemas are public, the
ledger's and those the phases declare they create (Phase.creates_schemas).
"""

from __future__ import annotations

import psycopg


def schemas() -> list[str]:
    from . import phases
    return ["public", "cqms_migration", *phases.created_schemas()]


# the ledger's history: appended to by every run, never restored by a revert
HISTORY = {"runs", "steps", "step_statements", "metrics", "batches", "batch_decisions"}
# tables whose rows carry who changed them when: compared by value in CATALOG instead
STAMPED = {"feature_flags"}

CATALOG = {
    "relations": """
      SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relacl::text
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'I', 'S')
        AND NOT (n.nspname = 'cqms_migration' AND c.relname = ANY(%(history)s))""",
    "columns": """
      SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
             pg_get_expr(d.adbin, d.adrelid)
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = ANY(%(schemas)s) AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v')""",
    "indexes": """
      SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY(%(schemas)s)""",
    "constraints": """
      SELECT conrelid::regclass::text, conname, contype, convalidated, pg_get_constraintdef(c.oid)
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ANY(%(schemas)s)""",
    "functions": """
      SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prosecdef, p.proconfig::text,
             p.proacl::text, md5(p.prosrc)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%(schemas)s)""",
    "triggers": """
      SELECT tgrelid::regclass::text, tgname, tgenabled, tgfoid::regprocedure::text
      FROM pg_trigger WHERE NOT tgisinternal""",
    "policies": """
      SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check FROM pg_policies""",
    "schemas": "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = ANY(%(schemas)s)",
    "flags": "SELECT flag, enabled FROM cqms_migration.feature_flags",
    "applied": "SELECT phase, step, ordinal FROM cqms_migration.applied_steps",
}


def snapshot(conn: psycopg.Connection) -> dict:
    args = {"schemas": schemas(), "history": list(HISTORY)}
    out = {k: sorted(map(repr, conn.execute(q, args).fetchall())) for k, q in CATALOG.items()}
    # every table's rows (order-independent checksum), history excepted
    tables = conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') "
        "AND NOT (n.nspname = 'cqms_migration' AND c.relname = ANY(%(history)s::text[] || %(stamped)s::text[])) ORDER BY 1",
        {**args, "stamped": list(STAMPED)}).fetchall()
    out["rows"] = {}
    for (t,) in tables:
        out["rows"][t] = conn.execute(
            f"SELECT count(*), coalesce(sum(('x' || substr(md5(x::text), 1, 16))::bit(64)::bigint::numeric), 0) "  # noqa: S608
            f"FROM {t} x").fetchone()
    conn.commit()
    return out


def diff(before: dict, after: dict) -> list[str]:
    """What changed from ``before`` to ``after``, one line each (the first five per kind)."""
    out = []
    for k in before:
        if k == "rows":
            for t in sorted(set(before[k]) | set(after[k])):
                if before[k].get(t) != after[k].get(t):
                    out.append(f"rows of {t}: {before[k].get(t)} -> {after[k].get(t)}")
        else:
            gone, new = set(before[k]) - set(after[k]), set(after[k]) - set(before[k])
            out += [f"{k}: lost {g}" for g in sorted(gone)[:5]] + [f"{k}: left behind {n}" for n in sorted(new)[:5]]
    return out
