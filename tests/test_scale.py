"""Opt-in heavy-scale run (`make test-slow`, i.e. pytest -m slow): the whole migration on a
300k-audit, 20-scorecard dataset must still reconcile exactly. Throughput is measured by
`cqms-migrate bench backfill`, never asserted here."""

from __future__ import annotations

import psycopg
import pytest

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.legacy.generator import seed_legacy
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2

pytestmark = pytest.mark.slow


def test_full_migration_at_scale_reconciles_exactly(clone, scratch_home, monkeypatch):
    db = clone("cqms_template_empty")
    monkeypatch.setenv("CQMS_DATABASE_URL", db.url)
    monkeypatch.setenv("CQMS_HOME", str(scratch_home))
    with db.connect() as owner, db.admin() as admin:
        report = seed_legacy(owner, admin, audits=300_000, scorecards=20, people=2000, seed=99)
    with PhaseContext("01_foundation", env="local") as ctx:
        phases.deploy(ctx, p1.steps(ctx))
        assert p1.validate(ctx.conn).ok
    with PhaseContext("02_audit_unification", env="local") as ctx:
        phases.deploy(ctx, p2.steps(ctx))
        v = p2.validate(ctx.conn, p2.migratable(ctx))
        assert v.ok, v.checks[~v.checks["ok"]]
        legacy_total = sum(n for t, n in report["tables"].items() if t.endswith("_audit"))
        assert int(v.reconciliation["legacy rows"].sum()) == legacy_total == 300_000
        assert int(v.reconciliation["migrated"].sum() + v.reconciliation["quarantined"].sum()) == legacy_total
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT count(*) FROM public.audits WHERE deleted_at IS NULL").fetchone()[0] \
            == int(v.reconciliation["migrated"].sum())
