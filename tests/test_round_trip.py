"""The round trip of every step of every phase, as pgroll's harness runs its operations:
deploy → check → revert → the catalog and the migration's state are exactly what they were
before the deploy → deploy again → check.

The snapshot compares what a revert must restore: relations (kind, RLS, ACL), columns, indexes,
constraints, functions (definition, settings, ACL), triggers, policies, schemas (ACL), the rows
of every table the runbook or the legacy data owns, and the ledger's state (applied steps,
checkpoints, quarantine, checksums, flags) — not its history (runs, steps, metrics, batches).
An object a revert forgets, a grant it leaves behind, a row it does not delete: all fail here.
"""

from __future__ import annotations

import pytest

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext

SCHEMAS = ["public", "cqms_security", "cqms_migration"]
HISTORY = {"runs", "steps", "metrics", "batches", "batch_decisions"}
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


def snapshot(conn) -> dict:
    args = {"schemas": SCHEMAS, "history": list(HISTORY)}
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


def _cases():
    for ph in phases.PHASES:
        for name in (*ph.build, *ph.cutover_steps):
            yield pytest.param(ph.name, name, id=f"{ph.name}-{name}")


@pytest.mark.parametrize("phase_name,step_name", list(_cases()))
def test_every_step_deploys_reverts_to_the_same_catalog_and_deploys_again(db_after, phase_name, step_name):
    ph = phases.get(phase_name)
    before_phase = phases.PHASES[phases.names().index(phase_name) - 1].name
    db = db_after(before_phase)
    with PhaseContext(phase_name, env="local", log=lambda m: None, progress=False) as ctx:
        steps = ph.steps(ctx)
        names = [s.name for s in steps]
        assert [s.ordinal for s in steps] == list(range(1, len(steps) + 1))
        earlier = steps[:names.index(step_name)]
        assert {o.status for o in phases.deploy(ctx, earlier)} <= {"applied"}
        step = steps[names.index(step_name)]
        with db.connect() as c:
            s0 = snapshot(c)
        out = phases.deploy(ctx, [step])[0]
        assert out.status == "applied", out
        with db.connect() as c:
            assert c.execute("SELECT ordinal FROM cqms_migration.applied_steps WHERE phase = %s AND step = %s",
                             (phase_name, step_name)).fetchone() == (step.ordinal,)
        back = phases.revert(ctx, [step])[0]
        assert back.status == "reverted", back
        with db.connect() as c:
            s1 = snapshot(c)
        # what the step's revert leaves on purpose (a write fence a later revert removes) aside
        left = [d for d in diff(s0, s1) if not any(name in d for name in step.revert_leaves)]
        assert left == [], f"{phase_name}/{step_name}: the revert did not restore the catalog or the state"
        again = phases.deploy(ctx, [step])[0]
        assert again.status == "applied", again
