"""The email-join report (issue 22): every view, function, trigger, policy and rule that still
compares one email with another, read from the catalog, runbook's and application's apart."""

from __future__ import annotations

import pytest

from cqms_migrate import email_joins, review
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p03_relationships as p3

# as the catalog deparses them, and as people write them in function bodies
JOINS = [
    "SELECT * FROM a JOIN b ON a.email = b.email",
    "JOIN people p ON ((lower(TRIM(BOTH FROM p.email)) = lower(TRIM(BOTH FROM a.employee_email))))",
    "WHERE ((e.email)::text = (u.email)::text)",
    "USING ((email = auth.email()))",
    "LEFT JOIN employees e ON e.email = employee_email",
    "where lower(btrim(x.email)) = lower(btrim(NEW.auditor_email))",
    "JOIN users USING (id, email)",
    'WHERE "Email" = v_email',
    "WHERE coalesce(lower(p.email), '') = any(v_emails)",
    "WHERE p.email ILIKE new.email",
    "USING ((email = (auth.jwt() ->> 'email'::text)))",
    "WHERE lower(u.email) = lower(current_setting('request.jwt.claims', true)::jsonb ->> 'email')",
]
NOT_JOINS = [
    "WHERE interaction_type = 'email'",
    "SELECT email, client_email FROM t",
    "WHERE email = $1",
    "WHERE t.id = p_id AND t.email IS NOT NULL",
    "-- a.email = b.email\nSELECT 1",
    "/* u.email = p.email */ SELECT 1",
    "WHERE source = 'email_audit'",
    "WHERE a.id = b.id AND c.email_verified = true",
    "WHERE (auth.jwt() ->> 'role') = 'admin'",
]


@pytest.mark.parametrize("text", JOINS)
def test_a_comparison_of_two_emails_is_a_join(text):
    assert email_joins.evidence(text), text


@pytest.mark.parametrize("text", NOT_JOINS)
def test_a_lookup_a_literal_or_a_comment_is_not(text):
    assert email_joins.evidence(text) is None, text


def test_after_phase_03_only_the_runbook_joins_on_email_and_the_applications_joins_are_named(db_after):
    db = db_after("03_relationships")
    with db.connect() as c:
        before = email_joins.scan(c)
    # the runbook's transition objects, by name: the syncs that map legacy emails to ids
    assert not before.empty and set(before["whose"]) == {"runbook"}, before.to_dict("records")
    names = set(before["object"])
    assert any(n.startswith("cqms_migration.p03_apply(") for n in names), names
    assert any(n.startswith("public.") and ": " in n for n in names), names   # a trigger on a table
    # another team's objects, as their application would have them
    with db.admin(autocommit=True) as a:
        a.execute("CREATE VIEW public.audit_people AS SELECT t.id, p.name FROM public.chat_audit t "
                  "JOIN public.people p ON lower(p.email) = lower(t.employee_email)")
        a.execute("CREATE VIEW public.email_channel AS SELECT id FROM public.chat_audit WHERE interaction_id = 'email'")
        a.execute("CREATE FUNCTION public.people_of_user(p_user uuid) RETURNS SETOF public.people LANGUAGE plpgsql AS $$ "
                  "BEGIN RETURN QUERY SELECT p.* FROM public.people p JOIN public.users u ON u.email = p.email "
                  "WHERE u.id = p_user; END $$")
        a.execute("CREATE FUNCTION public.touch_person() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "UPDATE public.people SET updated_at = now() WHERE email = NEW.email; RETURN NEW; END $$")
        a.execute("CREATE TRIGGER touch_person AFTER UPDATE ON public.users FOR EACH ROW "
                  "EXECUTE FUNCTION public.touch_person()")
        a.execute("ALTER TABLE public.people ENABLE ROW LEVEL SECURITY")
        a.execute("CREATE POLICY own_person ON public.people FOR SELECT TO authenticated USING (email = (auth.jwt() ->> 'email'))")
    with db.connect() as c:
        after = email_joins.scan(c)
    app = after[after["whose"] == "application"]
    assert set(app["object"]) == {"public.audit_people", "public.people_of_user(p_user uuid)",
                                  "public.touch_person()", "public.users: touch_person", "public.people: own_person"}, \
        app.to_dict("records")
    assert set(after[after["whose"] == "runbook"]["object"]) == names
    s = email_joins.summary(after)
    assert s["application"] == 5 and s["runbook"] == len(names)
    # the phase records it and the review page shows it
    with PhaseContext(p3.PHASE, env="local", log=lambda m: None, progress=False) as ctx:
        phase = p3.Relationships()
        v = phase.validate(ctx)
        assert v.ok and len(v.email_joins[v.email_joins["whose"] == "application"]) == 5
    with db.connect() as c:
        value = c.execute("SELECT value FROM cqms_migration.metrics WHERE phase = %s AND name = 'email_joins' "
                          "ORDER BY id DESC LIMIT 1", (p3.PHASE,)).fetchone()[0]
    text = review.key_figures({"email_joins": value})["email joins left"]
    assert text.startswith("5 in the application's objects (") and "view public.audit_people" in text, text
    assert f"; {len(names)} in the runbook's transition objects" in text, text
