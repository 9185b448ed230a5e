"""Guard: the backfill's batch statements cannot go quadratic (issue 7).

A batch once joined back to a materialized CTE; with a row estimate of 35 instead of 6,981 the
planner chose a nested loop that rescanned the CTE per inserted audit, from temp files once it
outgrew work_mem: 41 s for 7k rows. The invariant that rules this out, checked on the executed
plan (EXPLAIN ANALYZE) of the statements the runner executes, under settings that push the
planner towards every kind of join:

* a CTE Scan or a Materialize node runs once (never rescanned per row);
* a relation scanned more than once is scanned through an index (a per-row probe), unless it
  is a small reference table whose size the configuration bounds;
* no join filter discards rows (the signature of comparing every row with every row).

The same checker, run on the old statement shape, must find the violation: the guard can fail.
"""

from __future__ import annotations

import pytest
from psycopg import sql

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p02_audit_unification as p2
from cqms_migrate.phases.p02_audit_unification import mapping as render
from audit_helpers import PHASE, deploy_p1

# relations whose size the configuration bounds (a sequential scan of them per row is cheap)
SMALL = {"p02_passing_status_map", "channels", "scorecards", "scorecard_perameters", "roles", "countries",
         "p01_role_mapping"}
PROBES = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}

REGIMES = {
    "defaults": [],
    "nested loops only, 64kB work_mem": ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off",
                                         "SET LOCAL work_mem = '64kB'"],
    "no nested loops, 64kB work_mem": ["SET LOCAL enable_nestloop = off", "SET LOCAL work_mem = '64kB'"],
    "index probes priced high": ["SET LOCAL random_page_cost = 40", "SET LOCAL cpu_index_tuple_cost = 1"],
}


def violations(plan: dict) -> list[str]:
    found = []

    def walk(node, path):
        kind = node["Node Type"]
        loops = node.get("Actual Loops", 1)
        where = f"{' > '.join(path + [kind])}"
        if kind in ("CTE Scan", "Materialize") and loops > 1:
            found.append(f"{where} ({node.get('CTE Name', '')}) rescanned {loops} times")
        rel = node.get("Relation Name")
        if rel and loops > 1 and kind not in PROBES and rel not in SMALL:
            found.append(f"{where} on {rel} runs {loops} times")
        if node.get("Rows Removed by Join Filter", 0) > 0:
            found.append(f"{where}: join filter discarded {node['Rows Removed by Join Filter']} rows")
        for child in node.get("Plans", []):
            walk(child, path + [kind])

    walk(plan["Plan"], [])
    return found


def explain(conn, statement) -> dict:
    return conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) {}").format(statement)).fetchone()[0][0]


@pytest.fixture
def prepared(legacy_db):
    """Phase 1 applied, phase 2 up to the sync triggers: the state a backfill batch runs in."""
    deploy_p1()
    with PhaseContext(PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p2.steps(ctx) if s.name in ("snapshot_legacy", "create_audits",
                                                                     "install_sync_triggers")])
    return legacy_db


@pytest.mark.parametrize("regime", list(REGIMES))
def test_batch_statements_scan_each_input_once(prepared, regime):
    with PhaseContext(PHASE, env="local") as ctx:
        tables = sorted(p2.migratable(ctx), key=lambda t: -t.row_count)[:2]
        conn = ctx.conn
        for t in tables:
            job = p2.HeapPageBackfill(ctx, t)
            assert job.end_page > 1, t.table_name
            with conn.transaction(force_rollback=True):
                for stmt in render.BATCH_SETTINGS + tuple(REGIMES[regime]):
                    conn.execute(stmt)
                *pre, claim, move = job.statements(0, job.end_page)
                plan_claim = explain(conn, claim)
                plan_move = explain(conn, move)
                plan_all = explain(conn, render.backfill_unbatched(t))
            moved = plan_move["Plan"]["Plans"][0]["Actual Rows"] if plan_move["Plan"].get("Plans") else None
            assert plan_claim["Plan"]["Actual Rows"] == 1
            for name, plan in (("claim", plan_claim), ("move", plan_move), ("unbatched", plan_all)):
                assert violations(plan) == [], (t.table_name, regime, name, moved)


def test_the_guard_catches_a_join_back_to_a_materialized_cte(prepared):
    """The shape of the old batch: audits inserted, then joined back to the shaped CTE. With
    only nested loops allowed, the checker must report the rescanned CTE."""
    with PhaseContext(PHASE, env="local") as ctx:
        t = max(p2.migratable(ctx), key=lambda x: x.row_count)
        old_shape = sql.SQL("""
          WITH shaped AS MATERIALIZED ({shaped}),
               new_audits AS (SELECT s.id FROM shaped s WHERE s.reason IS NULL)
          SELECT count(*) FROM shaped s JOIN new_audits n ON n.id = s.id""").format(
            shaped=render.shaped_select(t, sql.Identifier("public", t.table_name)))
        with ctx.conn.transaction(force_rollback=True):
            for stmt in REGIMES["nested loops only, 64kB work_mem"]:
                ctx.conn.execute(stmt)
            found = violations(explain(ctx.conn, old_shape))
    assert any("rescanned" in v or "join filter" in v for v in found), found
