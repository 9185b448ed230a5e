"""Row-level security of phase 1 as Supabase's roles see it.

A superuser connection impersonates PostgREST: ``SET ROLE <role>`` plus the request's JWT claims
in ``request.jwt.claims`` (what auth.uid() reads). The owner role bypasses RLS (table owner, not
forced), so expected figures are computed through it.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1
from helpers import one  # noqa: E402


@pytest.fixture
def deployed(legacy_db):
    with PhaseContext("01_foundation", env="local") as ctx:
        out = phases.deploy(ctx, p1.steps(ctx))
    assert {o.status for o in out} == {"applied"}
    return legacy_db


@pytest.fixture
def admin(deployed):
    with deployed.admin(autocommit=True) as conn:
        yield conn


def act_as(conn: psycopg.Connection, role: str, claims: dict | None) -> None:
    conn.execute("RESET ROLE")
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps(claims) if claims else "",))
    conn.execute(f"SET ROLE {role}")  # role names are constants of this file


def reset(conn: psycopg.Connection) -> None:
    conn.execute("RESET ROLE")
    conn.execute("SELECT set_config('request.jwt.claims', '', false)")




def pick(owner, access_level: str, *, with_people: bool = False, exclude=()) -> tuple:
    """(employee id, auth user id, email) of an active employee with a login."""
    row = owner.execute(
        "SELECT id, auth_user_id, email FROM public.employees WHERE auth_user_id IS NOT NULL AND is_active "
        "AND deleted_at IS NULL AND access_level = %s AND (NOT %s OR legacy_snapshot ? 'people') "
        "AND NOT (id = ANY(%s)) ORDER BY id LIMIT 1",
        (access_level, with_people, list(exclude))).fetchone()
    assert row is not None, f"the dataset has no active {access_level} employee with a login"
    return row


def claims_for(auth_user_id) -> dict:
    return {"sub": str(auth_user_id), "role": "authenticated"}


def test_standard_employee_sees_own_and_related_rows_and_edits_only_self_service_columns(deployed, admin):
    with deployed.connect() as owner:
        emp_id, uid, email = pick(owner, "standard", with_people=True)
        total = one(owner, "SELECT count(*) FROM public.employees")
        # whom they may see: themself, their supervisor, mentor, manager, and the people they
        # supervise or mentor (phase 1; audit counterparts come with phase 2)
        visible = {r[0] for r in owner.execute(
            "SELECT x FROM public.employees me, unnest(ARRAY[me.id, me.supervisor_id, me.quality_mentor_id, "
            "me.reporting_manager_id]) x WHERE me.id = %s AND x IS NOT NULL "
            "UNION SELECT e.id FROM public.employees e WHERE e.supervisor_id = %s OR e.quality_mentor_id = %s",
            (emp_id, emp_id, emp_id)).fetchall()}
        other = one(owner, "SELECT id FROM public.employees WHERE NOT (id = ANY(%s)) ORDER BY id LIMIT 1",
                    (list(visible),))
    assert total > 100 and emp_id in visible

    act_as(admin, "authenticated", claims_for(uid))
    try:
        assert one(admin, "SELECT auth.uid()") == uid
        assert {r[0] for r in admin.execute("SELECT id FROM public.employees").fetchall()} == visible
        assert uid in {r[0] for r in admin.execute("SELECT id FROM public.users_compat").fetchall()}
        assert email in {r[0] for r in admin.execute("SELECT email FROM public.people_compat").fetchall()}
        assert one(admin, "SELECT count(*) FROM public.people_compat") == len(visible) - \
            one(admin, "SELECT count(*) FROM public.employees WHERE NOT legacy_snapshot ? 'people'")
        # nobody else's row, whatever the statement
        assert admin.execute("UPDATE public.employees SET name = 'Hacked' WHERE id = %s", (other,)).rowcount == 0
        assert admin.execute("DELETE FROM public.employees").rowcount == 0
        # their own row: self-service columns yes, anything else (their name, role, access) no
        assert admin.execute("UPDATE public.employees SET timezone = 'Europe/Lisbon' WHERE id = %s",
                             (emp_id,)).rowcount == 1
        for column, value in (("name", "Hacked"), ("access_level", "admin"), ("is_active", False)):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only an admin may change"):
                admin.execute(f"UPDATE public.employees SET {column} = %s WHERE id = %s", (value, emp_id))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute("INSERT INTO public.roles (name, code, level) VALUES ('X', 'X', 1)")
        # reference tables are readable by every signed-in user
        assert one(admin, "SELECT count(*) FROM public.roles") == 8
        assert one(admin, "SELECT count(*) FROM public.countries") > 30
        assert one(admin, "SELECT cqms_security.current_access_level()") == "standard"
    finally:
        reset(admin)
    with deployed.connect() as owner:
        assert one(owner, "SELECT count(*) FROM public.employees WHERE name = 'Hacked'") == 0
        assert one(owner, "SELECT access_level FROM public.employees WHERE id = %s", (emp_id,)) == "standard"
        assert one(owner, "SELECT timezone FROM public.employees WHERE id = %s", (emp_id,)) == "Europe/Lisbon"
        assert one(owner, "SELECT count(*) FROM public.employees") == total


def test_elevated_employee_sees_everyone_but_cannot_write(deployed, admin):
    with deployed.connect() as owner:
        emp_id, uid, _ = pick(owner, "elevated")
        total = one(owner, "SELECT count(*) FROM public.employees")
        compat_people = one(owner, "SELECT count(*) FROM public.people_compat")
        compat_users = one(owner, "SELECT count(*) FROM public.users_compat")
    act_as(admin, "authenticated", claims_for(uid))
    try:
        assert one(admin, "SELECT count(*) FROM public.employees") == total
        assert one(admin, "SELECT count(*) FROM public.people_compat") == compat_people
        assert one(admin, "SELECT count(*) FROM public.users_compat") == compat_users
        assert admin.execute("UPDATE public.employees SET designation = 'x' WHERE id <> %s",
                             (emp_id,)).rowcount == 0
    finally:
        reset(admin)


def test_inactive_elevated_employee_sees_only_own_row(deployed, admin):
    with deployed.connect() as owner:
        emp_id, uid, _ = pick(owner, "elevated")
        owner.execute("UPDATE public.employees SET is_active = false WHERE id = %s", (emp_id,))
        owner.commit()
    act_as(admin, "authenticated", claims_for(uid))
    try:
        assert admin.execute("SELECT id FROM public.employees").fetchall() == [(emp_id,)]
    finally:
        reset(admin)


def test_admin_can_update_another_employee(deployed, admin):
    with deployed.connect() as owner:
        admin_id, uid, _ = pick(owner, "standard")
        target_id, _, _ = pick(owner, "standard", exclude=[admin_id])
        owner.execute("UPDATE public.employees SET access_level = 'admin' WHERE id = %s", (admin_id,))
        owner.commit()
        version = one(owner, "SELECT version FROM public.employees WHERE id = %s", (target_id,))
        total = one(owner, "SELECT count(*) FROM public.employees")

    act_as(admin, "authenticated", claims_for(uid))
    try:
        assert one(admin, "SELECT count(*) FROM public.employees") == total
        cur = admin.execute("UPDATE public.employees SET designation = 'Promoted by admin' WHERE id = %s",
                            (target_id,))
        assert cur.rowcount == 1
    finally:
        reset(admin)
    with deployed.connect() as owner:
        assert owner.execute("SELECT designation, version FROM public.employees WHERE id = %s",
                             (target_id,)).fetchone() == ("Promoted by admin", version + 1)


def test_anon_has_no_access(deployed, admin):
    with deployed.connect() as owner:
        _, uid, _ = pick(owner, "standard")
    act_as(admin, "anon", {"role": "anon", "sub": str(uid)})
    try:
        for relation in ("public.employees", "public.users_compat", "public.people_compat", "public.roles"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(f"SELECT count(*) FROM {relation}")
        # the application's feature flags are the one thing anon may read
        assert one(admin, "SELECT count(*) FROM cqms_migration.feature_flags "
                          "WHERE flag = 'USE_UNIFIED_EMPLOYEES_TABLE' AND enabled") == 1
    finally:
        reset(admin)


def test_service_role_sees_all_rows(deployed, admin):
    with deployed.connect() as owner:
        total = one(owner, "SELECT count(*) FROM public.employees")
        compat_users = one(owner, "SELECT count(*) FROM public.users_compat")
        target = one(owner, "SELECT id FROM public.employees ORDER BY id LIMIT 1")
    act_as(admin, "service_role", {"role": "service_role"})
    try:
        assert one(admin, "SELECT count(*) FROM public.employees") == total
        assert one(admin, "SELECT count(*) FROM public.users_compat") == compat_users
        assert admin.execute("UPDATE public.employees SET designation = designation WHERE id = %s",
                             (target,)).rowcount == 1
    finally:
        reset(admin)


@pytest.mark.parametrize("claims", [{"role": "authenticated"}, None], ids=["no-sub", "no-claims"])
def test_authenticated_without_a_user_sees_nothing(deployed, admin, claims):
    act_as(admin, "authenticated", claims)
    try:
        assert one(admin, "SELECT auth.uid()") is None
        assert one(admin, "SELECT count(*) FROM public.employees") == 0
        assert one(admin, "SELECT count(*) FROM public.users_compat") == 0
        assert one(admin, "SELECT count(*) FROM public.people_compat") == 0
        assert admin.execute("UPDATE public.employees SET name = 'x'").rowcount == 0
    finally:
        reset(admin)


def test_unknown_user_sees_nothing(deployed, admin):
    act_as(admin, "authenticated", claims_for("00000000-0000-0000-0000-000000000001"))
    try:
        assert one(admin, "SELECT count(*) FROM public.employees") == 0
    finally:
        reset(admin)


def test_rls_is_enabled_with_expected_policies(deployed):
    with deployed.connect() as owner:
        rows = owner.execute(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname = ANY(%s) ORDER BY 1",
            (["employees", "roles", "departments", "teams", "channels", "countries"],)).fetchall()
        assert rows == [(t, True) for t in sorted(["employees", "roles", "departments", "teams", "channels",
                                                    "countries"])]
        policies = {r[0] for r in owner.execute(
            "SELECT policyname FROM pg_policies WHERE schemaname = 'public' AND tablename = 'employees'").fetchall()}
        assert policies == {"employees_select", "employees_insert", "employees_update", "employees_delete"}
        assert owner.execute("SELECT has_table_privilege('anon', 'public.employees', 'SELECT'), "
                             "has_table_privilege('authenticated', 'public.employees', 'SELECT')").fetchone() == \
            (False, True)
