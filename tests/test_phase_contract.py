"""The phase contract (issue 22): what a phase declares it creates is what it creates. The
advisor, the inventory and preflight read the declarations (phases.created_tables and
created_views) instead of lists of their own, so an undeclared table would escape all three."""

from __future__ import annotations

from cqms_migrate import advisor, inventory, phases
from cqms_migrate.context import PhaseContext

NEW_SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"
NEW_RELATIONS = """
  SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition"""


def test_every_table_a_phase_creates_is_declared_and_every_declaration_is_created(legacy_db):
    with legacy_db.connect() as c:
        before = set(c.execute(NEW_RELATIONS).fetchall())
        schemas_before = set(c.execute(NEW_SCHEMAS).fetchall())
    for ph in phases.PHASES:   # every phase of the registry, build and cutover
        with PhaseContext(ph.name, env="local", log=lambda m: None, progress=False) as ctx:
            assert {o.status for o in phases.deploy(ctx, ph.steps(ctx))} <= {"applied"}
    with legacy_db.connect() as c:
        new = set(c.execute(NEW_RELATIONS).fetchall()) - before
        new_schemas = {r[0] for r in set(c.execute(NEW_SCHEMAS).fetchall()) - schemas_before}
    # schemas: the ledger's, and those declared (the round-trip snapshot and the exposure checks
    # cover exactly these)
    assert new_schemas - {"cqms_migration"} == set(phases.created_schemas()), new_schemas
    # a renamed legacy table: the table under its new name, a view under the old one
    renamed = phases.renamed_tables()
    for old_name, new_name in renamed:
        assert (new_name, "r") in new and (old_name, "v") in new and (old_name, "r") in before, (old_name, new_name)
    tables = {name for name, kind in new if kind in ("r", "p")} - {n for _, n in renamed}
    views = {name for name, kind in new if kind in ("v", "m")} - {o for o, _ in renamed}
    assert tables == set(phases.created_tables()), tables ^ set(phases.created_tables())
    # fixed names declared; the others are compat views of tables found at run time
    assert set(phases.created_views()) <= views, views
    assert all(v.endswith("_compat") for v in views - set(phases.created_views())), views
    # the readers read the declarations
    assert inventory.runbook_tables() == advisor.our_tables() == phases.created_tables()
