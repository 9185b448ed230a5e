"""What each parameter column means (issue 26, parameters.py): the errors phase 02 records are
the errors the legacy values say, read by the column's kind, against a ground truth written here
from the drifted dataset's own rules (legacy/drift.py), not from the runbook's mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg import sql

from cqms_migrate import parameters, phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.inventory import AuditTable
from cqms_migrate.phases import p01_foundation as p1
from cqms_migrate.phases import p02_audit_unification as p2
from helpers import one


def _m(column, typ, profile, field_type="", penalty=1):
    t = AuditTable.__new__(AuditTable)
    t.table_name = "x_audit"
    return parameters._meaning(t, column, typ, {column: {"field_type": field_type, "penalty": penalty}}, profile, None)


def _p(values, whole=0, worded=0, lo=None, hi=None, zeros=0, length=1.0, distinct=None):
    return {"values": values, "whole": whole, "worded": worded, "min": lo, "max": hi, "zeros": zeros,
            "length": length, "distinct": distinct or []}


@pytest.mark.parametrize("column,typ,profile,ftype,penalty,kind,certain", [
    # 0 and 1 in a number column are a count, whatever the words list holds ('0', '1')
    ("greeting", "integer", _p(100, whole=100, worded=100, lo=0, hi=1, zeros=80), "", 2, "count", True),
    # a checkbox kept as a number: a later 2 stays two errors
    ("data_privacy", "integer", _p(100, whole=100, worded=100, lo=0, hi=1, zeros=90), "checkbox", 25, "count", True),
    # mostly 0, some above 1: errors counted
    ("hold_time", "integer", _p(100, whole=100, worded=60, lo=0, hi=3, zeros=60), "", 2, "count", True),
    # a value above penalty_points: never marks out of it
    ("hold_time", "integer", _p(1, whole=1, lo=3, hi=3), "", 2, "count", True),
    # marks: most at the maximum, none above
    ("knowledge", "integer", _p(100, whole=100, lo=10, hi=30), "", 30, "points", False),
    ("knowledge", "integer", _p(100, whole=100, lo=10, hi=30), "points", 30, "points", True),
    # words: a flag whose yes is the error, unless the column is named as a check done
    ("rudeness", "text", _p(100, worded=100, distinct=["yes", "no"]), "", 5, "flag", True),
    ("greeting_done", "text", _p(100, worded=100, distinct=["yes", "no", "n/a"]), "yes_no", 3, "flag", False),
    ("data_breach", "boolean", _p(100, worded=100, distinct=["true", "false"]), "checkbox", 25, "flag", True),
])
def test_a_column_is_read_by_what_its_values_and_metadata_make_certain(column, typ, profile, ftype, penalty, kind,
                                                                      certain):
    m = _m(column, typ, profile, parameters.vocab.key(ftype) or "", penalty)
    assert (m.kind, m.certain) == (kind, certain), m


def _phases_01_02(pf, cutover=False):
    for ph in (p1, p2):
        with PhaseContext(ph.PHASE, env="local", params_file=pf) as ctx:
            mod = phases.get(ph.PHASE)
            names = set(mod.build) | (set(mod.cutover_steps) if cutover else set())
            phases.deploy(ctx, [s for s in mod.steps(ctx) if s.name in names])


def test_every_kind_gives_the_errors_its_values_say_and_writes_back_in_the_tables_own_words(legacy_db_drift):
    _phases_01_02(legacy_db_drift.params_file, cutover=True)
    with legacy_db_drift.connect() as c:
        table = one(c, "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                       "WHERE a.attname = 'knowledge_points' AND c.relkind = 'r'")
        t = sql.Identifier("public", table)
        # the ground truth, from the generator's rules: 'No' to a greeting done is the error (the
        # stanza says so), a breach is the error, points below 30 lose the difference
        truth = {}
        for rid, greeting, breach, points in c.execute(sql.SQL(
                "SELECT id::text, greeting_done, data_breach, knowledge_points FROM {}").format(t)).fetchall():
            if greeting == "No":
                truth[(rid, "greeting_done")] = (1, Decimal(3))
            if breach:
                truth[(rid, "data_breach")] = (1, Decimal(25))
            if points is not None and points < 30:
                truth[(rid, "knowledge_points")] = (1, Decimal(30 - points))
        migrated = {r[0] for r in c.execute("SELECT legacy_id FROM public.audits WHERE legacy_table = %s", (table,))}
        assert len(migrated) > 100
        truth = {k: v for k, v in truth.items() if k[0] in migrated}
        got = {(r[0], r[1]): (r[2], r[3]) for r in c.execute(
            "SELECT a.legacy_id, e.field_id, e.error_count, e.penalty_points FROM public.audit_errors e "
            "JOIN public.audits a ON a.id = e.audit_id WHERE a.legacy_table = %s "
            "AND e.field_id IN ('greeting_done', 'data_breach', 'knowledge_points')", (table,))}
        assert {k for k in truth if k[1] == "knowledge_points"} and {k for k in truth if k[1] == "greeting_done"}
        assert got == truth
        # feedback is no error, and is kept
        assert one(c, "SELECT count(*) FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id "
                      "WHERE a.legacy_table = %s AND e.field_id LIKE '%%feedback'", (table,)) == 0
        # through the new path: an error recorded on a check writes the table's own 'No'; removed, 'Yes'
        rid, aid = c.execute(sql.SQL("SELECT t.id::text, a.id FROM {} t JOIN public.audits a ON a.legacy_table = %s "
                                     "AND a.legacy_id = t.id::text WHERE t.greeting_done = 'Yes' LIMIT 1").format(t),
                             (table,)).fetchone()
        pid = one(c, "SELECT sp.id FROM public.scorecard_perameters sp WHERE sp.field_id = 'greeting_done'")
        c.execute("INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id, "
                  "parameter_type, error_count, penalty_points) SELECT id, interaction_date, %s, 'greeting_done', "
                  "'compliance', 1, 3 FROM public.audits WHERE id = %s", (pid, aid))
        c.commit()
        assert one(c, sql.SQL("SELECT greeting_done FROM {} WHERE id::text = %s").format(t), (rid,)) == "No"
        c.execute("DELETE FROM public.audit_errors WHERE audit_id = %s AND field_id = 'greeting_done'", (aid,))
        c.commit()
        assert one(c, sql.SQL("SELECT greeting_done FROM {} WHERE id::text = %s").format(t), (rid,)) == "Yes"
        # a legacy write of points: the error follows
        c.execute(sql.SQL("UPDATE {} SET knowledge_points = 12 WHERE id::text = %s").format(t), (rid,))
        c.commit()
        assert c.execute("SELECT error_count, penalty_points FROM public.audit_errors WHERE audit_id = %s "
                         "AND field_id = 'knowledge_points'", (aid,)).fetchone() == (1, Decimal(18))


def test_a_checkbox_kept_as_a_number_counts_a_two_as_two_errors(legacy_db):
    _phases_01_02(legacy_db.params_file)
    with legacy_db.connect(autocommit=True) as c:
        table, column = c.execute(
            "SELECT k.legacy_table, k.column_name FROM cqms_migration.p02_parameter_kinds k "
            "JOIN public.scorecards s ON s.table_name = k.legacy_table "
            "JOIN public.scorecard_perameters sp ON sp.scorecard_id = s.id AND sp.field_id = k.column_name "
            "WHERE sp.field_type = 'checkbox' ORDER BY 1, 2 LIMIT 1").fetchone()
        assert one(c, "SELECT kind FROM cqms_migration.p02_parameter_kinds WHERE legacy_table = %s "
                      "AND column_name = %s", (table, column)) == "count"
        rid = one(c, "SELECT id FROM public.audits WHERE legacy_table = %s ORDER BY id LIMIT 1", (table,))
        c.execute(sql.SQL("UPDATE {} SET {} = 2 WHERE id = %s").format(sql.Identifier("public", table),
                                                                        sql.Identifier(column)), (rid,))
        assert one(c, "SELECT error_count FROM public.audit_errors WHERE audit_id = %s AND field_id = %s",
                   (rid, column)) == 2
