"""A supervisor's row appearing or going while a report is edited (issue 21, item 6): the
report's supervisor_id follows, whatever order the two commits land in. The attack saw 10 of 60
appearances leave NULL and 20 of 60 departures leave the departed supervisor; here each race is
run 100 times in each direction."""

from __future__ import annotations

import threading

from audit_helpers import deploy_p1, one

ROUNDS = 100


def _race(url, first: str, first_args, second: str, second_args) -> None:
    import psycopg
    barrier = threading.Barrier(2)
    errors = []

    def run(stmt, args):
        try:
            with psycopg.connect(url, autocommit=True) as c:
                barrier.wait(timeout=10)
                c.execute(stmt, args)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(first, first_args)),
               threading.Thread(target=run, args=(second, second_args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_a_report_edited_while_its_supervisor_appears_or_goes_links_right(legacy_db):
    deploy_p1()
    sup = "racing.supervisor@example.com"
    with legacy_db.connect(autocommit=True) as c:
        report = one(c, "SELECT p.email FROM public.people p JOIN public.employees e ON lower(btrim(e.email)) = "
                        "lower(btrim(p.email)) WHERE e.deleted_at IS NULL AND e.legacy_snapshot -> 'people' ->> 'email' = p.email "
                        "ORDER BY 1 LIMIT 1")
        c.execute("UPDATE public.people SET team_supervisor = %s WHERE email = %s", (sup, report))
        assert one(c, "SELECT supervisor_id FROM public.employees WHERE lower(btrim(email)) = lower(btrim(%s))",
                   (report,)) is None
    wrong = {"appears": 0, "goes": 0}
    edit = "UPDATE public.people SET designation = %s WHERE email = %s"
    for i in range(ROUNDS):
        # the supervisor is hired while the report is edited
        _race(legacy_db.url, "INSERT INTO public.people (email, name, is_active) VALUES (%s, 'Racing Supervisor', true)",
              (sup,), edit, (f"appears {i}", report))
        with legacy_db.connect() as c:
            got, want = c.execute(
                "SELECT r.supervisor_id, (SELECT s.id FROM public.employees s WHERE s.email = %s AND s.deleted_at IS NULL) "
                "FROM public.employees r WHERE lower(btrim(r.email)) = lower(btrim(%s))", (sup, report)).fetchone()
            wrong["appears"] += want is None or got != want
        # the supervisor leaves while the report is edited
        _race(legacy_db.url, "DELETE FROM public.people WHERE email = %s", (sup,), edit, (f"goes {i}", report))
        with legacy_db.connect() as c:
            wrong["goes"] += one(c, "SELECT supervisor_id FROM public.employees WHERE lower(btrim(email)) = "
                                    "lower(btrim(%s))", (report,)) is not None
    assert wrong == {"appears": 0, "goes": 0}, wrong
