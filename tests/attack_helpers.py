"""Helpers of the independent attack on live sync and verify (issue 10/11): its scripts are kept
as regression tests (tests/test_attack_*.py)."""
import threading, time
import psycopg
from psycopg import sql
from helpers import one, wait_until_waiting
from audit_helpers import tamper  # noqa: F401 - shared with test_verify.py
from cqms_migrate import verify
from cqms_migrate.phases import p01_foundation as p1

BOTH = ("SELECT lower(btrim(u.email)) FROM public.users u JOIN public.people p ON lower(btrim(p.email)) = lower(btrim(u.email)) "
        "WHERE (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(u.email))) = 1 "
        "ORDER BY 1 LIMIT 4")
PEOPLE_ONLY = ("SELECT lower(btrim(p.email)) FROM public.people p WHERE p.email = lower(btrim(p.email)) AND "
               "(SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = lower(btrim(p.email))) = 1 "
               "AND EXISTS (SELECT 1 FROM public.employees e WHERE e.email = p.email AND e.deleted_at IS NULL) ORDER BY 1 LIMIT 4")


def bg(fn):
    out = {}
    def run():
        try:
            out["ok"] = fn()
        except Exception as e:
            out["err"] = e
    t = threading.Thread(target=run, daemon=True); t.start()
    return t, out


def p1_problems(url):
    with psycopg.connect(url) as c:
        v = p1.validate(c)
        return v.checks[~v.checks["ok"]].to_dict("records")


def vresult(url, phase=None):
    with psycopg.connect(url) as c:
        r = verify.run(c, phase)
    return r


def vsummary(r):
    return [(c.name, c.missing, c.extra, {k: v for k, v in c.per_column.items() if v}, c.examples[:4])
            for c in r.comparisons if not c.ok]
