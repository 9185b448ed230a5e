"""The compat-view builder (compat_views.py, issue 22): a view under a name of the phase's choosing
gets exactly the rights the API roles hold on the legacy table it stands in for, after Supabase's
default grants on the new view are revoked in the same transaction, and it is security_invoker."""

from __future__ import annotations

from psycopg import sql

from cqms_migrate import compat_views

RIGHTS = """
  SELECT r, p FROM unnest(ARRAY['anon', 'authenticated', 'service_role']) r,
                   unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p
  WHERE has_table_privilege(r, %s::regclass, p) ORDER BY 1, 2"""


def test_a_compat_view_mirrors_the_legacy_tables_rights_and_no_more(legacy_db):
    with legacy_db.connect() as c:
        c.execute("CREATE TABLE public.v_legacy (id int PRIMARY KEY, note text)")
        c.execute("REVOKE ALL ON public.v_legacy FROM anon, authenticated, service_role")
        c.execute("GRANT SELECT ON public.v_legacy TO anon")
        c.execute("GRANT SELECT, INSERT, UPDATE ON public.v_legacy TO authenticated")
        c.commit()
        for name, privileges in (("v_read", ("SELECT",)), ("v_write", compat_views.PRIVILEGES)):
            c.execute(compat_views.create_view(name, sql.SQL("SELECT id, note FROM public.v_legacy")))
            # Supabase's default privileges granted the new view to every API role
            assert c.execute("SELECT has_table_privilege('service_role', %s, 'DELETE')", (f"public.{name}",)).fetchone()[0]
            for stmt in compat_views.rights_statements(c, name, "v_legacy", "test view of v_legacy", privileges):
                c.execute(stmt)
            c.commit()
        legacy = c.execute(RIGHTS, ("public.v_legacy",)).fetchall()
        assert c.execute(RIGHTS, ("public.v_write",)).fetchall() == legacy
        assert c.execute(RIGHTS, ("public.v_read",)).fetchall() == [x for x in legacy if x[1] == "SELECT"]
        assert c.execute("SELECT reloptions FROM pg_class WHERE oid = 'public.v_write'::regclass").fetchone()[0] \
            == ["security_invoker=true"]
        assert c.execute("SELECT obj_description('public.v_read'::regclass, 'pg_class')").fetchone()[0] \
            == "test view of v_legacy"
