"""Phase 2 against legacy data shaped by someone else: identifiers that are SQL, a table
missing a column the migration cannot do without."""

from __future__ import annotations

import uuid

from psycopg import sql

from cqms_migrate import inventory, phases, quality
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p00_preflight as pre
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import columns, ident, one  # noqa: E402

PHASE = "02_audit_unification"
EVIL = 'evil"; DROP TABLE people; --_audit'
SPACED = "my audit table"
EVIL_COL = 'x"); DELETE FROM users; --'
DUP = "dup_ids_audit"   # sorts after chat_audit: its rows meet chat_audit's ids already in audits
ROWS = 25


def make_hostile_table(c, name: str, source: str = "chat_audit", same_ids: bool = False) -> str:
    """A dynamic table like ``source`` plus a parameter column whose name is SQL, with its own
    scorecard and parameter, holding copies of ``ROWS`` of the source's rows under new ids."""
    t = ident(name)
    c.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(t, ident(source)))
    c.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} integer").format(t, sql.Identifier(EVIL_COL)))
    sid = str(uuid.uuid4())
    c.execute("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version, "
              "allow_over_100) SELECT %s, %s, %s, 85, true, 1, allow_over_100 FROM public.scorecards WHERE table_name = %s",
              (sid, f"Scorecard for {name}", name, source))
    c.execute("INSERT INTO public.scorecard_perameters (id, scorecard_id, error_name, penalty_points, parameter_type, "
              "field_type, field_id, display_order, is_active) VALUES (%s, %s, 'Hostile', 5, 'minor', 'counter', %s, 1, true)",
              (str(uuid.uuid4()), sid, EVIL_COL))
    common = [col for col in columns(c, source) if col != "id"]
    cols = sql.SQL(", ").join(sql.Identifier(x) for x in common)
    c.execute(sql.SQL("INSERT INTO {t} (id, {cols}, {evil}) SELECT " + ("id" if same_ids else "gen_random_uuid()") + ", {cols}, "
                      "(row_number() OVER (ORDER BY id))::int % 3 FROM {src} ORDER BY id LIMIT {n}").format(
        t=t, cols=cols, evil=sql.Identifier(EVIL_COL), src=ident(source), n=sql.Literal(ROWS)))
    return sid


def test_hostile_identifiers_migrate_and_stay_inert(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        for name in (EVIL, SPACED):
            make_hostile_table(c, name)
        make_hostile_table(c, DUP, same_ids=True)   # rows whose ids chat_audit already has
        people, users = one(c, "SELECT count(*) FROM public.people"), one(c, "SELECT count(*) FROM public.users")

    with PhaseContext("01_foundation", env="local") as ctx:
        phases.deploy(ctx, p1.steps(ctx))
    with PhaseContext(PHASE, env="local") as ctx:
        names = {t.table_name for t in p2.migratable(ctx)}
        assert {EVIL, SPACED} <= names
        out = phases.deploy(ctx, p2.steps(ctx))
        assert [o.status for o in out] == ["applied"] * len(p2.BUILD_STEPS + p2.CUTOVER_STEPS)
        v = p2.validate(ctx.conn, p2.migratable(ctx))
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    assert {EVIL, SPACED} <= set(v.reconciliation.index)

    with legacy_db.connect(autocommit=True) as c:
        # the SQL in the names never ran
        assert one(c, "SELECT to_regclass('public.people') IS NOT NULL") and one(c, "SELECT count(*) FROM public.people") == people
        assert one(c, "SELECT to_regclass('public.users') IS NOT NULL") and one(c, "SELECT count(*) FROM public.users") == users
        for name in (EVIL, SPACED):
            t = ident(name)
            view = ident(p2.compat_view_name(name))
            migrated = one(c, "SELECT count(*) FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL", (name,))
            quarantined = one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                              (PHASE, name))
            assert migrated > 0 and migrated + quarantined == ROWS, name
            assert one(c, "SELECT to_regclass(%s) IS NOT NULL", (view.as_string(c),)), name
            assert columns(c, p2.compat_view_name(name)) == columns(c, name)
            not_q = sql.SQL("NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q WHERE q.phase = {} "
                            "AND q.source_table = {} AND q.source_key = l.id::text)").format(
                sql.Literal(PHASE), sql.Literal(name))
            assert one(c, sql.SQL("SELECT count(*) FROM (SELECT * FROM {t} l WHERE {nq} EXCEPT ALL SELECT * FROM {v}) x")
                       .format(t=t, nq=not_q, v=view)) == 0
            assert one(c, sql.SQL("SELECT count(*) FROM (SELECT * FROM {v} EXCEPT ALL SELECT * FROM {t}) x")
                       .format(t=t, v=view)) == 0
            # the quoted parameter column: legacy -> parameter_scores -> compat view
            assert one(c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {t} l ON l.id = a.id "
                                  "WHERE (a.parameter_scores ->> {k})::int IS NOT DISTINCT FROM l.{col}").format(
                t=t, k=sql.Literal(EVIL_COL), col=sql.Identifier(EVIL_COL))) == migrated
            assert one(c, sql.SQL("SELECT count(*) FROM {v} WHERE {col} > 0").format(
                v=view, col=sql.Identifier(EVIL_COL))) > 0
            # errors recorded under the hostile field id (value > 0 is an error count)
            assert one(c, "SELECT count(*) FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id "
                          "WHERE a.legacy_table = %s AND e.field_id = %s", (name, EVIL_COL)) == one(
                c, sql.SQL("SELECT count(*) FROM public.audits a JOIN {t} l ON l.id = a.id WHERE l.{col} > 0").format(
                    t=t, col=sql.Identifier(EVIL_COL)))
            # and back: a write through audits reaches the hostile column (reverse sync, after cutover)
            aid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL ORDER BY id LIMIT 1",
                      (name,))
            c.execute("UPDATE public.audits SET parameter_scores = parameter_scores || jsonb_build_object(%s::text, 7) "
                      "WHERE id = %s", (EVIL_COL, aid))
            assert one(c, sql.SQL("SELECT {col} FROM {t} WHERE id = %s").format(
                t=t, col=sql.Identifier(EVIL_COL)), (aid,)) == 7
            # and forward: a write to the hostile table reaches audits (sync trigger)
            c.execute(sql.SQL("UPDATE {t} SET {col} = 2, average_score = 55.5 WHERE id = %s").format(
                t=t, col=sql.Identifier(EVIL_COL)), (aid,))
            assert c.execute("SELECT parameter_scores ->> %s, total_score::float FROM public.audits WHERE id = %s",
                             (EVIL_COL, aid)).fetchone() == ("2", 55.5)
        assert one(c, "SELECT count(*) FROM public.people") == people
        assert one(c, "SELECT count(*) FROM public.users") == users

        # the same ids in two tables: the second table's rows are quarantined, never merged
        reasons = dict(c.execute("SELECT q.reason, count(*) FROM cqms_migration.quarantine q WHERE q.phase = %s "
                                 "AND q.source_table = %s GROUP BY 1", (PHASE, DUP)).fetchall())
        twins = one(c, "SELECT count(*) FROM public.audits a JOIN public.dup_ids_audit d ON d.id = a.id "
                       "WHERE a.legacy_table = 'chat_audit'")
        assert twins > 0 and reasons.get("duplicate_id_across_tables") == twins
        assert sum(reasons.values()) == ROWS
        assert one(c, "SELECT count(*) FROM public.audits WHERE legacy_table = %s", (DUP,)) == 0
        assert one(c, "SELECT count(*) FROM public.audits a JOIN public.dup_ids_audit d ON d.id = a.id "
                      "WHERE a.legacy_table <> 'chat_audit'") == 0


def test_table_without_employee_email_blocks_preflight(legacy_db):
    victim = "social_audit"

    def verdict():
        with PhaseContext("00_preflight", env="local", action="preflight") as ctx:
            inv = inventory.discover(ctx.conn)
            privs = pre.privileges(ctx.conn, inv)
            profile = quality.legacy_profile(ctx.conn, inv)
            disk = pre.disk(ctx.conn, inv, ctx.params.min_free_disk_factor)
            return inv, pre.go_no_go(ctx.conn, ctx.params, inv, privs, disk, profile)

    inv, before = verdict()
    assert victim in {t.table_name for t in inv.migratable()}
    assert not [b for b in before.blocking if victim in b]

    with legacy_db.connect(autocommit=True) as c:
        c.execute(sql.SQL("ALTER TABLE {} DROP COLUMN employee_email").format(ident(victim)))

    inv, after = verdict()
    t = next(x for x in inv.tables if x.table_name == victim)
    assert t.exists and not t.migratable
    assert "employee_email" in t.missing_common
    assert victim not in {x.table_name for x in inv.migratable()}
    assert len(inv.migratable()) == len([x for x in inv.tables if x.exists]) - 1
    blocking = [b for b in after.blocking if victim in b]
    assert len(blocking) == 1 and "employee_email" in blocking[0], after.blocking
    assert "BLOCKING" in set(after.frame()["severity"])
    try:
        after.raise_if_blocked()
    except Exception as e:  # noqa: BLE001
        assert "NO-GO" in str(e)
    else:
        raise AssertionError("go/no-go did not raise on a blocking problem")
