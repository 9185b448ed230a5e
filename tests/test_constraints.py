"""The constraint helper (constraints.ValidatedConstraints, issue 22): a foreign key or a CHECK on a
table that holds rows is added NOT VALID, then validated in a transaction of its own that no
writer waits for; a validation that finds a breaking row drops what it added and names the row;
a re-run after a crash between the two finishes; the revert drops them and the verify then fails.
"""

from __future__ import annotations

import psycopg
import pytest

from cqms_migrate import phases
from cqms_migrate.constraints import Check, ForeignKey, ValidatedConstraints
from cqms_migrate.context import PhaseContext
from cqms_migrate.errors import CheckFailed

FK = ForeignKey("k_child", "k_child_parent_fkey", ("parent_id",), "k_parent", ("id",))
NOT_NULL = Check("k_child", "k_child_parent_set", "parent_id IS NOT NULL")


def _tables(db, rows: int = 2000) -> None:
    with db.connect(autocommit=True) as c:
        c.execute("CREATE TABLE public.k_parent (id int PRIMARY KEY)")
        c.execute("CREATE TABLE public.k_child (id serial PRIMARY KEY, parent_id int)")
        c.execute("INSERT INTO public.k_parent SELECT g FROM generate_series(1, 100) g")
        c.execute("INSERT INTO public.k_child (parent_id) SELECT 1 + g %% 100 FROM generate_series(1, %s) g", (rows,))


def _step(*constraints) -> ValidatedConstraints:
    return ValidatedConstraints("01_foundation", "test_constraints", "test", constraints=tuple(constraints))


def _validated(db) -> dict:
    with db.connect() as c:
        return dict(c.execute("SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'public.k_child'::regclass "
                              "AND contype IN ('f', 'c')").fetchall())


def test_a_validation_waits_for_no_writer_and_the_round_trip_holds(legacy_db):
    _tables(legacy_db)
    step = _step(FK, NOT_NULL)
    with PhaseContext("01_foundation", env="local") as ctx:
        rendered = step.render_deploy(ctx)
    adds, validates = rendered.statements[:2], rendered.statements[2:]
    assert all("NOT VALID" in s for s in adds) and all("VALIDATE CONSTRAINT" in s for s in validates)
    # the adds, then a writer's transaction left open on the table: the validations go through it
    with legacy_db.connect(autocommit=True) as c:
        for s in adds:
            c.execute(s)
    with legacy_db.connect() as writer, legacy_db.connect(autocommit=True) as v:
        writer.execute("INSERT INTO public.k_child (parent_id) VALUES (7)")
        v.execute("SET lock_timeout = '200ms'")
        for s in validates:
            v.execute(s)
        # and a new row breaking the key is refused from the add on
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            v.execute("INSERT INTO public.k_child (parent_id) VALUES (1000)")
        writer.commit()
    assert _validated(legacy_db) == {"k_child_parent_fkey": True, "k_child_parent_set": True}
    # the whole step: a re-run after that (as after a crash before the ledger row) applies again
    with PhaseContext("01_foundation", env="local") as ctx:
        assert phases.deploy(ctx, [step])[0].status == "applied"
        assert _validated(legacy_db) == {"k_child_parent_fkey": True, "k_child_parent_set": True}
        assert phases.revert(ctx, [step])[0].status == "reverted"
        assert _validated(legacy_db) == {}
        with pytest.raises(CheckFailed, match="missing or not validated"):
            with ctx.conn.transaction(force_rollback=True):
                step.verify(ctx, ctx.conn)


@pytest.mark.parametrize("breaking", ["orphan", "null"])
def test_a_breaking_row_fails_the_step_names_the_row_and_leaves_no_constraint(legacy_db, breaking):
    _tables(legacy_db, rows=500)
    with legacy_db.connect(autocommit=True) as c:
        c.execute("INSERT INTO public.k_child (parent_id) VALUES (%s)", (555 if breaking == "orphan" else None,))
    with PhaseContext("01_foundation", env="local") as ctx:
        with pytest.raises(CheckFailed) as e:
            phases.deploy(ctx, [_step(FK, NOT_NULL)])
        assert not ctx.ledger.is_applied("01_foundation", "test_constraints")
    name = "k_child_parent_fkey" if breaking == "orphan" else "k_child_parent_set"
    assert f"{name}: 1 rows of public.k_child break it" in str(e.value)
    assert ("555" if breaking == "orphan" else "(501,)") in str(e.value)
    assert _validated(legacy_db) == {}
    # the drops it decided after the failure are in the ledger, as they ran
    with legacy_db.connect() as c:
        drops = [r[0] for r in c.execute("SELECT sql_text FROM cqms_migration.step_statements WHERE step = 'test_constraints' "
                                         "ORDER BY id").fetchall()]
    assert len(drops) == 2 and all("DROP CONSTRAINT IF EXISTS" in d for d in drops), drops
