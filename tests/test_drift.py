"""Schema drift after phase 02 (issue 10): a parameter column dropped or added, a new scorecard
table, a legacy table renamed or dropped. In each case application writes keep working both ways
(a writer runs through the change), the change is reported (drift.report, `cqms-migrate status`),
a re-run of phase 02 adopts what can be adopted, and a rollback finishes."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
from psycopg import sql

from cqms_migrate import drift, rollback
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import BUILD, deploy_p1, deploy_p2, ident, one, param_column, validate_now
from audit_helpers import deploy_cutover as setup_cutover

TABLE = "chat_audit"


def rollback_finishes():
    with PhaseContext(p2.PHASE, env="local", action="rollback") as ctx:
        outcomes, _ = rollback.run(ctx, p2.PHASE)
    assert set(outcomes.loc[outcomes["phase"] == p2.PHASE, "status"]) == {"reverted"}, outcomes


class Writer(threading.Thread):
    """The application during the change: legacy updates of one table and updates through audits
    for it, alternately, from another connection. Every committed value remembered per row."""

    def __init__(self, url: str, relation: str, ids: list):
        super().__init__(daemon=True)
        self.url, self.relation, self.ids = url, relation, ids
        self.stop = threading.Event()
        self.error: BaseException | None = None   # a writer must not die silently
        self.committed: dict = {}
        self.writes = 0
        self.errors: list[str] = []

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - asserted by the test
            self.error = e

    def _run(self):
        with psycopg.connect(self.url, autocommit=True) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                rid = self.ids[n % len(self.ids)]
                value = round(10 + n * 0.01, 2)
                try:
                    if n % 2:
                        c.execute(sql.SQL("UPDATE {} SET average_score = %s WHERE id = %s").format(
                            sql.SQL(self.relation)), (value, rid))
                    else:
                        c.execute("UPDATE public.audits SET total_score = %s WHERE id = %s", (value, rid))
                    self.committed[rid] = value
                    self.writes += 1
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}")
                time.sleep(0.003)

    def finish(self):
        self.stop.set()
        self.join(30)


def ids_of(c, table: str = TABLE, n: int = 40) -> list:
    return [r[0] for r in c.execute("SELECT id FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
                                    "ORDER BY id LIMIT %s", (table, n)).fetchall()]


def assert_found(url: str, relation: str, committed: dict):
    with psycopg.connect(url) as c:
        legacy = dict(c.execute(sql.SQL("SELECT id, average_score FROM {} WHERE id = ANY(%s)").format(sql.SQL(relation)),
                                (list(committed),)).fetchall())
        unified = dict(c.execute("SELECT id, total_score FROM public.audits WHERE id = ANY(%s)",
                                 (list(committed),)).fetchall()) if one(c, "SELECT to_regclass('public.audits') IS NOT NULL") else None
    lost = {k: v for k, v in committed.items() if float(legacy.get(k, -1)) != v}
    assert lost == {}, f"{len(lost)} of {len(committed)} committed writes are not in {relation}"
    if unified is not None:
        lost = {k: v for k, v in committed.items() if float(unified.get(k, -1)) != v}
        assert lost == {}, f"{len(lost)} of {len(committed)} committed writes are not in audits"


def test_a_dropped_parameter_column_breaks_no_write_and_a_rerun_adopts_it(legacy_db):
    setup_cutover()
    with legacy_db.connect() as c:
        column, ids = param_column(c), ids_of(c)
    writer = Writer(legacy_db.url, f"public.{TABLE}", ids)
    writer.start()
    try:
        time.sleep(0.3)
        with legacy_db.connect(autocommit=True) as c:
            c.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(ident(TABLE), sql.Identifier(column)))
        time.sleep(0.5)
        with legacy_db.connect(autocommit=True) as c:
            # a new legacy row, and a new audit through the new path: both reach the other side
            new_legacy, new_unified = uuid.uuid4(), uuid.uuid4()
            emp, aud = [r[0] for r in c.execute("SELECT email FROM public.employees WHERE deleted_at IS NULL AND is_active "
                                                "ORDER BY email LIMIT 2").fetchall()]
            c.execute(sql.SQL("INSERT INTO {} (id, employee_email, auditor_email, interaction_date, average_score, "
                              "passing_status) VALUES (%s, %s, %s, DATE '2025-06-01', 77, 'Passed')").format(ident(TABLE)),
                      (new_legacy, emp, aud))
            assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (new_legacy,)) == 77
            sid = one(c, "SELECT id FROM public.scorecards WHERE table_name = %s", (TABLE,))
            c.execute("INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date, total_score, "
                      "max_possible_score, passing_status) SELECT %s, e.id, a.id, %s, DATE '2025-06-02', 66, 100, 'pass' "
                      "FROM public.employees e, public.employees a WHERE e.email = %s AND a.email = %s",
                      (new_unified, sid, emp, aud))
            assert one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(TABLE)), (new_unified,)) == 66
            changes = drift.report(c)
            assert ((changes["table"] == TABLE) & (changes["change"] == "column dropped")
                    & (changes["detail"] == column)).any(), changes
        time.sleep(0.3)
    finally:
        writer.finish()
    assert writer.error is None and writer.errors == [], (writer.error, writer.errors[:5])
    assert_found(legacy_db.url, f"public.{TABLE}", writer.committed)
    # a re-run adopts the new shape: the compat view loses the column; validation passes again
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    rollback_finishes()


def test_an_added_parameter_column_is_carried_both_ways(legacy_db):
    setup_cutover()
    with legacy_db.connect(autocommit=True) as c:
        rid = ids_of(c, n=1)[0]
        sid = one(c, "SELECT id FROM public.scorecards WHERE table_name = %s", (TABLE,))
        c.execute(sql.SQL("ALTER TABLE {} ADD COLUMN hold_time integer").format(ident(TABLE)))
        c.execute("INSERT INTO public.scorecard_perameters (id, scorecard_id, field_id, error_name, parameter_type, "
                  "penalty_points, is_active) VALUES (%s, %s, 'hold_time', 'Hold time', 'non_critical', 2, true)",
                  (uuid.uuid4(), sid))
        # legacy -> audits: into parameter_scores, and an audit_errors row for the new parameter
        c.execute(sql.SQL("UPDATE {} SET hold_time = 3 WHERE id = %s").format(ident(TABLE)), (rid,))
        assert one(c, "SELECT parameter_scores ->> 'hold_time' FROM public.audits WHERE id = %s", (rid,)) == "3"
        assert one(c, "SELECT error_count FROM public.audit_errors WHERE audit_id = %s AND field_id = 'hold_time'",
                   (rid,)) == 3
        # audits -> legacy: a score set through the new path reaches the new column
        c.execute("UPDATE public.audits SET parameter_scores = parameter_scores || '{\"hold_time\": 5}' WHERE id = %s",
                  (rid,))
        assert one(c, sql.SQL("SELECT hold_time FROM {} WHERE id = %s").format(ident(TABLE)), (rid,)) == 5
        assert (drift.report(c)["change"] == "column added").any()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        assert one(c, sql.SQL("SELECT hold_time FROM {} WHERE id = %s").format(
            sql.Identifier("public", p2.compat_view_name(TABLE))), (rid,)) == 5
        assert drift.report(c).empty
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    rollback_finishes()


def test_a_new_scorecard_table_is_written_at_once_and_adopted_by_a_rerun(legacy_db):
    setup_cutover()
    new_table = "refund_audit"
    with legacy_db.connect(autocommit=True) as c:
        sid = uuid.uuid4()
        c.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
            ident(new_table), ident(TABLE)))
        c.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(ident(new_table)))
        c.execute("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active) "
                  "VALUES (%s, 'Refunds', %s, 80, true)", (sid, new_table))
        emp, aud = c.execute("SELECT e.id, a.id FROM public.employees e, public.employees a WHERE e.deleted_at IS NULL "
                             "AND a.deleted_at IS NULL AND e.is_active AND a.is_active AND e.id <> a.id "
                             "ORDER BY e.email, a.email LIMIT 1").fetchone()
        through_audits = uuid.uuid4()
        c.execute("INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date, total_score, "
                  "max_possible_score, passing_status) VALUES (%s, %s, %s, %s, DATE '2025-07-01', 91, 100, 'pass')",
                  (through_audits, emp, aud, sid))
        assert one(c, "SELECT legacy_table FROM public.audits WHERE id = %s", (through_audits,)) == new_table
        assert one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(new_table)), (through_audits,)) == 91
        # a legacy write to the new table before adoption: reported, then adopted by the re-run
        through_legacy = uuid.uuid4()
        emails = c.execute("SELECT e.email, a.email FROM public.employees e, public.employees a WHERE e.id = %s AND a.id = %s",
                           (emp, aud)).fetchone()
        c.execute(sql.SQL("INSERT INTO {} (id, employee_email, auditor_email, interaction_date, average_score) "
                          "VALUES (%s, %s, %s, DATE '2025-07-02', 55)").format(ident(new_table)), (through_legacy, *emails))
        assert ((drift.report(c)["table"] == new_table) & (drift.report(c)["change"] == "new scorecard table")).any()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (through_legacy,)) == 55
        c.execute(sql.SQL("UPDATE {} SET average_score = 56 WHERE id = %s").format(ident(new_table)), (through_legacy,))
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (through_legacy,)) == 56
        assert drift.report(c).empty
    v = validate_now()
    assert v.ok, (v.checks[~v.checks["ok"]], v.reconciliation)
    assert new_table in set(v.reconciliation.index)
    rollback_finishes()
    with legacy_db.connect() as c:
        assert one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(new_table)), (through_audits,)) == 91


def test_a_renamed_table_keeps_syncing_and_the_rollback_finishes(legacy_db):
    setup_cutover()
    renamed = f"{TABLE}_v2"
    with legacy_db.connect() as c:
        ids = ids_of(c)
    writer = Writer(legacy_db.url, f"public.{TABLE}", ids)
    writer.start()
    try:
        time.sleep(0.3)
        with legacy_db.connect(autocommit=True) as c:
            c.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident(TABLE), sql.Identifier(renamed)))
        time.sleep(0.3)
    finally:
        writer.finish()
    # the writer's legacy statements name the old table: after the rename those fail in the
    # application itself (as they would without any migration); its writes through audits work
    assert writer.error is None and all("does not exist" in e for e in writer.errors), (writer.error, writer.errors[:5])
    writer2 = Writer(legacy_db.url, f"public.{renamed}", ids)
    writer2.start()
    deadline = time.monotonic() + 20   # some writes on both paths (it alternates), however busy the machine
    while writer2.writes < 10 and not writer2.errors and writer2.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    writer2.finish()
    assert writer2.error is None and writer2.errors == [], (writer2.error, writer2.errors[:5])
    assert writer2.writes >= 10, f"the writer of the renamed table committed {writer2.writes} writes"
    assert_found(legacy_db.url, f"public.{renamed}", writer2.committed)
    with legacy_db.connect() as c:
        changes = drift.report(c)
        assert ((changes["table"] == TABLE) & (changes["change"] == "table renamed")).any(), changes
    rollback_finishes()
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cqms\\_p02%%'") == 0
        assert one(c, "SELECT to_regclass('public.audits') IS NULL")


def test_a_dropped_table_breaks_no_write_through_audits(legacy_db):
    setup_cutover()
    with legacy_db.connect(autocommit=True) as c:
        rid = ids_of(c, n=1)[0]
        c.execute(sql.SQL("DROP TABLE {}").format(ident(TABLE)))
        c.execute("UPDATE public.audits SET total_score = 12 WHERE id = %s", (rid,))
        assert one(c, "SELECT count(*) FROM cqms_migration.p02_unsynced WHERE audit_id = %s", (rid,)) == 1
        changes = drift.report(c)
        assert ((changes["table"] == TABLE) & (changes["change"] == "table dropped")).any(), changes
    rollback_finishes()


def test_a_retyped_common_column_breaks_no_write_and_a_rerun_migrates_the_row(legacy_db):
    """audit_duration integer -> numeric after adoption: a legacy write of 12.5 no longer fits the
    adopted shape. The write succeeds, the row is quarantined as unmappable (validation says so).
    A re-run adopts the new shape: 12.5 has no lossless integer (it stays quarantined, now as
    'unconvertible_value', never rounded to 13), a row given 12 migrates, and a later unrelated
    write through audits leaves the legacy value alone (only changed columns are written back)."""
    setup_cutover()
    with legacy_db.connect(autocommit=True) as c:
        rid, other = ids_of(c)[:2]
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN audit_duration TYPE numeric").format(ident(TABLE)))
        c.execute(sql.SQL("UPDATE {} SET audit_duration = 12.5 WHERE id = %s").format(ident(TABLE)), (rid,))
        assert one(c, "SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)) == "unmappable_row"
    v = validate_now()
    assert not v.ok and "no row left unmappable by drift (else re-run phase 02)" in set(
        v.checks.loc[~v.checks["ok"], "check"])
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE reason = 'unmappable_row'") == 0
        assert one(c, "SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)) == "unconvertible_value"
        c.execute(sql.SQL("UPDATE {} SET audit_duration = 12 WHERE id = %s").format(ident(TABLE)), (other,))
        assert one(c, "SELECT audit_duration FROM public.audits WHERE id = %s AND deleted_at IS NULL", (other,)) == 12
        c.execute("UPDATE public.audits SET total_score = 55 WHERE id = %s", (other,))
        assert one(c, sql.SQL("SELECT audit_duration FROM {} WHERE id = %s").format(ident(TABLE)), (other,)) == 12
        assert one(c, sql.SQL("SELECT average_score FROM {} WHERE id = %s").format(ident(TABLE)), (other,)) == 55
        assert one(c, sql.SQL("SELECT audit_duration FROM {} WHERE id = %s").format(ident(TABLE)), (rid,)) == 12.5
    assert validate_now().ok
    rollback_finishes()


def test_added_not_null_default_and_identity_columns_break_no_write_through_audits(legacy_db):
    """Columns the mapping does not know: an INSERT through audits leaves them to their defaults,
    an UPDATE never names an identity (GENERATED ALWAYS) or generated column."""
    setup_cutover()
    with legacy_db.connect(autocommit=True) as c:
        rid = ids_of(c)[0]
        c.execute(sql.SQL("ALTER TABLE {} ADD COLUMN reviewed boolean NOT NULL DEFAULT false, "
                          "ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY, "
                          "ADD COLUMN doubled numeric GENERATED ALWAYS AS (average_score * 2) STORED").format(ident(TABLE)))
        emp, aud = [r[0] for r in c.execute("SELECT email FROM public.employees WHERE deleted_at IS NULL AND is_active "
                                            "ORDER BY email LIMIT 2").fetchall()]
        sid = one(c, "SELECT id FROM public.scorecards WHERE table_name = %s", (TABLE,))
        new_id = uuid.uuid4()
        c.execute("INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date, total_score, "
                  "max_possible_score, passing_status) SELECT %s, e.id, a.id, %s, DATE '2025-06-02', 66, 100, 'pass' "
                  "FROM public.employees e, public.employees a WHERE e.email = %s AND a.email = %s",
                  (new_id, sid, emp, aud))
        c.execute("UPDATE public.audits SET total_score = 42 WHERE id = %s", (rid,))
        assert c.execute(sql.SQL("SELECT reviewed, seq IS NOT NULL, doubled FROM {} WHERE id = %s").format(ident(TABLE)),
                         (new_id,)).fetchone() == (False, True, 132)
        assert one(c, sql.SQL("SELECT doubled FROM {} WHERE id = %s").format(ident(TABLE)), (rid,)) == 84
        c.execute(sql.SQL("UPDATE {} SET average_score = 41 WHERE id = %s").format(ident(TABLE)), (rid,))
        assert one(c, "SELECT total_score FROM public.audits WHERE id = %s", (rid,)) == 41
    rollback_finishes()


def test_a_rerun_that_cannot_map_a_retyped_column_leaves_its_rows_quarantined(legacy_db):
    """audit_duration retyped to text and given 'abc': the write commits (quarantined as
    unmappable); a re-run adopts the text column, converts what converts ('7' -> 7) and leaves
    'abc' in the quarantine as 'unconvertible_value' (was a known limit: the re-run crashed);
    validation and verify then pass."""
    setup_cutover()
    with legacy_db.connect(autocommit=True) as c:
        rid, other = ids_of(c)[:2]
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN audit_duration TYPE text").format(ident(TABLE)))
        c.execute(sql.SQL("UPDATE {} SET audit_duration = 'abc' WHERE id = %s").format(ident(TABLE)), (rid,))
        c.execute(sql.SQL("UPDATE {} SET audit_duration = ' 7' WHERE id = %s").format(ident(TABLE)), (other,))
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        assert one(c, "SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (str(rid),)) == "unconvertible_value"
        assert one(c, "SELECT count(*) FROM public.audits WHERE id = %s AND deleted_at IS NULL", (rid,)) == 0
        assert one(c, "SELECT audit_duration FROM public.audits WHERE id = %s", (other,)) == 7
    assert validate_now().ok
