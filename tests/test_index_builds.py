"""Concurrent index builds under a reader that holds them up (ddl.ConcurrentIndexes).

CREATE INDEX CONCURRENTLY that times out waiting for an older snapshot leaves an INVALID index;
dropping it (DROP INDEX CONCURRENTLY) waits for every transaction holding a lock on the table,
so under load the cleanup times out too. Both belong inside the lock-retry attempts: a build
held up by an application transaction retries with longer lock timeouts until it ends, leaves no
invalid index, and records what it decided as it ran (issue 22: a longer session timeout, the
drop of what the failed build left).
"""

from __future__ import annotations

import threading

from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import BUILD, deploy_p1, deploy_p2, one, write_params


def test_a_build_held_up_by_a_reader_retries_cleans_up_and_records_its_retries(legacy_db, tmp_path):
    pfile = write_params(tmp_path, lock_retries=[[100, 0.3], [100, 0.3], [100, 0.3], [20000, 0]])
    deploy_p1()
    deploy_p2(names=BUILD[:BUILD.index("create_indexes")], params_file=pfile)
    # an application reader: a snapshot and a lock on audits, for a second and a half
    blocker = legacy_db.connect()
    blocker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT count(*) FROM public.audits")
    timer = threading.Timer(1.5, blocker.rollback)
    timer.start()
    try:
        out = deploy_p2(names=["create_indexes"], params_file=pfile)
    finally:
        timer.join()
        blocker.close()
    assert [o.status for o in out] == ["applied"]
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                      "WHERE t.relname LIKE 'audit%%' AND NOT i.indisvalid") == 0
        ran = [r[0] for r in c.execute("SELECT sql_text FROM cqms_migration.step_statements WHERE phase = %s "
                                       "AND step = 'create_indexes' ORDER BY id", (p2.PHASE,)).fetchall()]
    assert any("lock_timeout = '20000ms'" in s for s in ran), ran
    assert any(s.startswith("DROP INDEX CONCURRENTLY") or "DROP INDEX CONCURRENTLY" in s for s in ran), ran
    with PhaseContext(p2.PHASE, env="local", params_file=pfile) as ctx:
        assert ctx.ledger.is_applied(p2.PHASE, "create_indexes")
