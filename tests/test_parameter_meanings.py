"""What each parameter column means (issue 26, parameters.py): the rules that make a reading
certain, and a checkbox kept as a number read as a count. Each kind against the drifted dataset's
own rules: tests/test_outcome.py::test_each_parameter_kind_gives_the_errors_its_meaning_says."""

from __future__ import annotations

import pytest
from psycopg import sql

from cqms_migrate import parameters
from cqms_migrate.inventory import AuditTable
from audit_helpers import deploy_p1, deploy_p2, one


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


def test_a_checkbox_kept_as_a_number_counts_a_two_as_two_errors(legacy_db):
    deploy_p1()
    deploy_p2()
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
