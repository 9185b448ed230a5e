"""The round trip of every step of every phase, as pgroll's harness runs its operations:
deploy → check → revert → the catalog and the migration's state are exactly what they were
before the deploy → deploy again → check.

The snapshot compares what a revert must restore: relations (kind, RLS, ACL), columns, indexes,
constraints, functions (definition, settings, ACL), triggers, policies, schemas (ACL), the rows
of every table the runbook or the legacy data owns, and the ledger's state (applied steps,
checkpoints, quarantine, checksums, flags) — not its history (runs, steps, metrics, batches);
it lives in the library (catalog_snapshot.py), over the schemas the phases declare. A step with a
verify must fail that verify once reverted (a verify that passes on nothing checks nothing).
An object a revert forgets, a grant it leaves behind, a row it does not delete: all fail here.
"""

from __future__ import annotations

import pytest

from cqms_migrate import phases
from cqms_migrate.catalog_snapshot import diff, snapshot
from cqms_migrate.context import PhaseContext

def _verify_fails(ctx, step) -> bool:
    """The step's verify, run in a transaction that is rolled back, raises."""
    try:
        with ctx.conn.transaction(force_rollback=True):
            step.verify(ctx, ctx.conn)
    except Exception:  # noqa: BLE001 - a check that failed, or an object that is gone
        return True
    return False


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
        if step.render_verify(ctx).statements:
            assert _verify_fails(ctx, step), f"{phase_name}/{step_name}: its verify passes once it is reverted"
        again = phases.deploy(ctx, [step])[0]
        assert again.status == "applied", again
