import pytest
from audit_helpers import deploy_p1, deploy_p2, BUILD
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"
A = f"audits <- {T}"
Q = f"quarantine <- {T}"
E = "employees <- users + people"


def ctx(c):
    d = {}
    d["rid"], d["emp"], d["aud"], d["date"] = c.execute(
        "SELECT id, employee_id, auditor_id, interaction_date FROM public.audits WHERE legacy_table = %s AND deleted_at IS NULL "
        "AND validation_status IS NOT NULL AND acknowledgement_status IS NOT NULL AND transcript IS NOT NULL ORDER BY id LIMIT 1", (T,)).fetchone()
    d["other_emp"] = one(c, "SELECT id FROM public.employees WHERE id NOT IN (%s, %s) AND deleted_at IS NULL ORDER BY id LIMIT 1", (d["emp"], d["aud"]))
    d["other_sc"] = one(c, "SELECT s.id FROM public.scorecards s WHERE s.id <> (SELECT scorecard_id FROM public.audits WHERE id = %s) LIMIT 1", (d["rid"],))
    d["err_audit"], d["err_field"] = c.execute("SELECT e.audit_id, e.field_id FROM public.audit_errors e JOIN public.audits a ON a.id = e.audit_id "
                                               "WHERE a.legacy_table = %s ORDER BY 1, 2 LIMIT 1", (T,)).fetchone()
    d["qkey"] = one(c, "SELECT source_key FROM cqms_migration.quarantine WHERE phase = '02_audit_unification' AND source_table = %s "
                       "AND source_key NOT LIKE 'null-id:%%' ORDER BY 1 LIMIT 1", (T,))
    # an employee with a supervisor, a legacy code and a people row
    d["e_id"], d["e_ne"] = c.execute("SELECT id, lower(btrim(email)) FROM public.employees WHERE supervisor_id IS NOT NULL AND deleted_at IS NULL "
                                     "AND employee_id IS NOT NULL AND legacy_snapshot ? 'people' ORDER BY id LIMIT 1").fetchone()
    d["leaf"] = one(c, "SELECT e.id FROM public.employees e WHERE e.deleted_at IS NULL AND e.legacy_snapshot ? 'people' "
                       "AND NOT EXISTS (SELECT 1 FROM public.audits a WHERE a.employee_id = e.id OR a.auditor_id = e.id) "
                       "AND NOT EXISTS (SELECT 1 FROM public.employees r WHERE r.supervisor_id = e.id OR r.quality_mentor_id = e.id) ORDER BY id LIMIT 1")
    d["other_dept"] = one(c, "SELECT id FROM public.departments WHERE id <> (SELECT department_id FROM public.employees WHERE id = %s) LIMIT 1", (d["e_id"],))
    d["other_role"] = one(c, "SELECT id FROM public.roles WHERE id <> (SELECT role_id FROM public.employees WHERE id = %s) "
                             "ORDER BY code LIMIT 1", (d["e_id"],))
    d["field"] = one(c, "SELECT sp.field_id FROM public.scorecard_perameters sp JOIN public.audits a ON a.scorecard_id = sp.scorecard_id "
                        "WHERE a.id = %s AND coalesce(sp.is_active, true) AND coalesce((a.parameter_scores ->> sp.field_id)::numeric, 0) = 0 "
                        "AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = sp.field_id) LIMIT 1", (d["rid"], T))
    d["other_sup"] = one(c, "SELECT id FROM public.employees WHERE id <> %s AND id IS DISTINCT FROM (SELECT supervisor_id FROM public.employees WHERE id = %s) AND deleted_at IS NULL ORDER BY id LIMIT 1", (d["e_id"], d["e_id"]))
    return d


U = "UPDATE public.audits SET {} WHERE id = %(rid)s"
# columns with no legacy home (max_possible_score, passing_threshold, status, quarter, week) are not
# verified: the legacy rows cannot say what they must hold once the application writes them.
# Each case: the tampering statement, the comparison that must catch it, and what that comparison
# finds (missing rows, extra rows, or a column).
CASES = {
    "auditor_id": (U.format("auditor_id = %(other_emp)s"), A, "auditor_id"),
    "scorecard_id": (U.format("scorecard_id = %(other_sc)s"), A, "scorecard_id"),
    "interaction_type": (U.format("interaction_type = CASE WHEN interaction_type = 'ticket' THEN 'email' ELSE 'ticket' END"), A, "interaction_type"),
    "transcript": (U.format("transcript = transcript || ' '"), A, "transcript"),
    "interaction_date": (U.format("interaction_date = interaction_date + 1"), A, "interaction_date"),
    "validation_status": (U.format("validation_status = CASE WHEN validation_status = 'rejected' THEN 'approved' ELSE 'rejected' END"), A, "validation_status"),
    "acknowledgement_status": (U.format("acknowledgement_status = CASE WHEN acknowledgement_status = 'disputed' THEN 'pending' ELSE 'disputed' END"), A, "acknowledgement_status"),
    "error_count": ("UPDATE public.audit_errors SET error_count = error_count + 1 WHERE audit_id = %(err_audit)s AND field_id = %(err_field)s", A, "errors"),
    "extra_error_row": ("INSERT INTO public.audit_errors (audit_id, interaction_date, scorecard_parameter_id, field_id, parameter_type, error_count, penalty_points) "
                        "SELECT a.id, a.interaction_date, sp.id, sp.field_id, sp.parameter_type, 1, sp.penalty_points FROM public.audits a "
                        "JOIN public.scorecard_perameters sp ON sp.scorecard_id = a.scorecard_id AND sp.field_id = %(field)s WHERE a.id = %(rid)s LIMIT 1", A, "errors"),
    "extra_error_row_unknown_field": ("INSERT INTO public.audit_errors (audit_id, interaction_date, field_id, parameter_type, error_count, penalty_points) "
                        "SELECT a.id, a.interaction_date, 'bogus_field', 'critical', 5, 50 FROM public.audits a WHERE a.id = %(rid)s", A, "errors"),
    "error_penalty_points": ("UPDATE public.audit_errors SET penalty_points = penalty_points + 100 WHERE audit_id = %(err_audit)s AND field_id = %(err_field)s", A, "errors"),
    "error_parameter_type": ("UPDATE public.audit_errors SET parameter_type = 'bogus', scorecard_parameter_id = NULL WHERE audit_id = %(err_audit)s AND field_id = %(err_field)s", A, "errors"),
    "extra_audit": ("INSERT INTO public.audits (id, legacy_table, legacy_id, employee_id, auditor_id, scorecard_id, interaction_date, parameter_scores) "
                    "SELECT gen_random_uuid(), legacy_table, NULL, employee_id, auditor_id, scorecard_id, interaction_date, parameter_scores "
                    "FROM public.audits WHERE id = %(rid)s", A, "extra"),
    "extra_audit_no_legacy_table": ("INSERT INTO public.audits (id, legacy_table, legacy_id, employee_id, auditor_id, scorecard_id, interaction_date, parameter_scores) "
                    "SELECT gen_random_uuid(), NULL, NULL, employee_id, auditor_id, scorecard_id, interaction_date, parameter_scores "
                    "FROM public.audits WHERE id = %(rid)s", "audits without a legacy table", "extra"),
    "audit_soft_deleted": (U.format("deleted_at = now()"), A, "missing"),
    "audit_moved_table": (U.format("legacy_table = 'email_audit'"), "audits <- email_audit", "extra"),
    "quarantine_deleted": ("DELETE FROM cqms_migration.quarantine WHERE source_key = %(qkey)s", Q, "missing"),
    "quarantine_reason": ("UPDATE cqms_migration.quarantine SET reason = 'self_audit' WHERE source_key = %(qkey)s", Q, "reason"),
    "legacy_values_email": (U.format("legacy_values = legacy_values || '{\"employee_email\": \"someone.else@example.com\"}'"),
                            f"{T}_compat <- {T}", "employee_email"),
    "emp_supervisor_id": ("UPDATE public.employees SET supervisor_id = %(other_sup)s WHERE id = %(e_id)s", E, "supervisor"),
    "emp_supervisor_null": ("UPDATE public.employees SET supervisor_id = NULL WHERE id = %(e_id)s", E, "supervisor"),
    "emp_department_id": ("UPDATE public.employees SET department_id = %(other_dept)s WHERE id = %(e_id)s", E, "department_id"),
    "emp_role_id": ("UPDATE public.employees SET role_id = %(other_role)s WHERE id = %(e_id)s", E, "role_id"),
    "emp_is_active": ("UPDATE public.employees SET is_active = NOT is_active WHERE id = %(e_id)s", E, "is_active"),
    "emp_deleted": ("DELETE FROM public.employees WHERE id = %(leaf)s", E, "missing"),
    "emp_soft_deleted": ("UPDATE public.employees SET deleted_at = now() WHERE id = %(leaf)s", E, "missing"),
    "emp_legacy_code": ("UPDATE public.employees SET employee_id = 'TAMPERED-1' WHERE id = %(e_id)s", E, "employee_id"),
    "emp_email_case": ("UPDATE public.employees SET email = upper(email) WHERE id = %(e_id)s", E, "email"),
    "emp_avatar": ("UPDATE public.employees SET avatar_url = 'https://evil.example/x.png' WHERE id = %(e_id)s", E, "avatar_url"),
    "emp_snapshot_removed": ("UPDATE public.employees SET legacy_snapshot = NULL WHERE id = %(e_id)s", E, "missing"),
    "emp_placeholder_mark": ("UPDATE public.employees SET legacy_snapshot = legacy_snapshot || '{\"placeholder_phase\": \"02\"}' WHERE id = %(e_id)s", E, "missing"),
    "audit_employee_to_deleted": ("UPDATE public.employees SET deleted_at = now() WHERE id = %(emp)s", E, "missing"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tamper(legacy_db, case):
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    r0 = vresult(legacy_db.url)
    assert r0.ok, vsummary(r0)
    stmt, comp, col = CASES[case]
    with legacy_db.connect() as c:
        d = ctx(c)
    n = tamper(legacy_db, stmt, d)
    r = vresult(legacy_db.url)
    assert n >= 1
    assert not r.ok, f"{case} not caught"
    # caught where it was done: the named comparison finds the named kind of difference
    found = {x.name: x for x in r.comparisons}
    assert comp in found, sorted(found)
    x = found[comp]
    what = {"missing": x.missing, "extra": x.extra}.get(col, x.per_column.get(col, 0))
    assert what > 0, (case, vsummary(r))
