"""No window of exposure (issue 8): on a Supabase project whose default privileges grant every
new table to the API roles, anon reads no row of anything the runbook creates — after any step
of phases 01 and 02 (a phase that fails midway stops after some step), after any revert step,
and while the steps run (a reader polling as anon from another connection)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from psycopg import sql

from cqms_migrate import catalog_snapshot, phases
from cqms_migrate.context import PhaseContext
from audit_helpers import write_params

NEW_SCHEMAS = tuple(catalog_snapshot.schemas())   # public, the ledger's and those the phases declare
# the phases that change the database, in order, from the registry (a new phase is covered)
BUILT = [ph for ph in phases.PHASES if ph.build]


def snapshot_objects(conn) -> tuple[set, set]:
    rels = {r[0] for r in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", (list(NEW_SCHEMAS),)).fetchall()}
    funcs = {r[0] for r in conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s)", (list(NEW_SCHEMAS),)).fetchall()}
    return rels, funcs


class Exposure:
    """What the API roles can see of the objects created since ``baseline``."""

    ALLOWED = {"cqms_migration.feature_flags"}   # the application reads its flags

    def __init__(self, db, baseline):
        self.db, self.baseline = db, baseline

    def check(self, where: str) -> list[str]:
        found = []
        with self.db.admin(autocommit=True) as c:   # a superuser impersonating PostgREST
            rels, funcs = snapshot_objects(c)
            # a legacy table a phase renames and the view left under its old name give anon what
            # the legacy table gave it (stock grants), no more: pgTAP 08 compares them per persona
            legacy = {f"{q}{n}" for pair in phases.renamed_tables() for n in pair for q in ("", "public.")}
            new_rels = sorted(rels - self.baseline[0] - self.ALLOWED - legacy)
            # (the application's own get_audit_tables(), moved aside by wrap_discovery, keeps the
            # rights it had: not a new exposure; its wrapper in public has them too)
            new_funcs = sorted(funcs - self.baseline[1] - {"cqms_migration.legacy_get_audit_tables()"})
            for role, claims in (("anon", {"role": "anon"}),):
                c.execute("RESET ROLE")
                c.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps(claims),))
                c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                for rel in new_rels:
                    try:
                        n = c.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]  # noqa: S608 - catalog names
                    except psycopg.errors.InsufficientPrivilege:
                        continue
                    except psycopg.errors.UndefinedTable:  # dropped meanwhile (a revert)
                        continue
                    if n:
                        found.append(f"{where}: {role} reads {n} rows of {rel}")
                c.execute("RESET ROLE")
            for f in new_funcs:
                try:
                    may = c.execute("SELECT has_function_privilege('anon', %s, 'EXECUTE')", (f,)).fetchone()[0]
                except psycopg.errors.UndefinedFunction:  # dropped or moved meanwhile
                    continue
                if may:
                    found.append(f"{where}: anon may execute {f}")
        return found


def _baseline(db):
    with db.admin() as c:
        return snapshot_objects(c)


def _one_step_at_a_time(ph, pfile, exposure, found, names=None):
    with PhaseContext(ph.name, env="local", params_file=pfile) as ctx:
        for step in ph.steps(ctx):
            if names and step.name not in names:
                continue
            assert phases.deploy(ctx, [step])[0].status == "applied"
            found += exposure.check(f"after {ph.name}/{step.name}")


@pytest.mark.parametrize("partition", ["none", "yearly"])
def test_anon_reads_nothing_after_any_step_or_revert(legacy_db, tmp_path, partition):
    pfile = write_params(tmp_path, partition_audits=partition)
    exposure = Exposure(legacy_db, _baseline(legacy_db))
    found: list[str] = []
    for ph in BUILT:
        _one_step_at_a_time(ph, pfile, exposure, found)
    # a rollback that stops after any step leaves nothing exposed either
    for ph in reversed(BUILT):
        with PhaseContext(ph.name, env="local", params_file=pfile, action="rollback") as ctx:
            for step in reversed(ph.steps(ctx)):
                phases.revert(ctx, [step])
                found += exposure.check(f"after revert {ph.name}/{step.name}")
    assert found == []


def test_stock_grants_are_what_the_emulation_gives(legacy_db, legacy_db_bare):
    """The emulation is faithful: a table the postgres role creates in public is granted to the API
    roles (stock), or to nobody (the bare variant); the legacy tables are readable by anon with RLS
    off, as the application has them."""
    for db, stock in ((legacy_db, True), (legacy_db_bare, False)):
        with db.connect(autocommit=True) as c:
            c.execute("CREATE TABLE public.probe_new (x int)")
            assert c.execute("SELECT has_table_privilege('anon', 'public.probe_new', 'SELECT'), "
                             "has_table_privilege('authenticated', 'public.probe_new', 'INSERT')").fetchone() == \
                (stock, stock)
            assert c.execute("SELECT has_table_privilege('anon', 'public.people', 'SELECT'), "
                             "relrowsecurity FROM pg_class WHERE oid = 'public.people'::regclass").fetchone() == \
                (stock, False)
            assert c.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone() \
                == (False, True)
            assert c.execute("SELECT extnamespace::regnamespace::text FROM pg_extension "
                             "WHERE extname = 'pg_stat_statements'").fetchone() == ("extensions",)


def test_both_phases_on_the_bare_variant_expose_nothing_and_validate(legacy_db_bare, tmp_path):
    exposure = Exposure(legacy_db_bare, _baseline(legacy_db_bare))
    found: list[str] = []
    for ph in BUILT:
        _one_step_at_a_time(ph, None, exposure, found)
    assert found == []
    for ph in BUILT:   # and every phase validates there
        with PhaseContext(ph.name, env="local") as ctx:
            v = ph.validate(ctx)
        assert v is None or v.ok, (ph.name, v.checks[~v.checks["ok"]])
    with legacy_db_bare.connect() as c:
        # the compat views get the legacy tables' rights: none here
        assert c.execute("SELECT has_table_privilege('authenticated', 'public.people_compat', 'SELECT')").fetchone() \
            == (False,)


def test_an_anon_reader_during_the_run_sees_nothing(legacy_db):
    """A reader polling every new object as anon while both phases deploy."""
    exposure = Exposure(legacy_db, _baseline(legacy_db))
    stop = threading.Event()
    seen: list[str] = []
    polls = [0]
    error: list[BaseException] = []   # a poller that dies would see nothing: it must not die silently

    def poll():
        try:
            while not stop.is_set():
                seen.extend(exposure.check("during the run"))
                polls[0] += 1
                time.sleep(0.01)
        except BaseException as e:  # noqa: BLE001 - asserted below
            error.append(e)

    th = threading.Thread(target=poll)
    th.start()
    try:
        for ph in BUILT:
            with PhaseContext(ph.name, env="local") as ctx:
                phases.deploy(ctx, ph.steps(ctx))
    finally:
        stop.set()
        th.join(30)
    assert not th.is_alive()
    assert error == [], error
    assert polls[0] >= 5
    assert seen == []
