"""Writes the legacy database accepts still commit while the sync is on (issue 21): hostile but
legal values (a 3,000-character email or team, a 2 MB name or transcript, a huge interaction
id) are migrated or quarantined, never a failed application write; a legacy NULL stays NULL in
the compat view."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from cqms_migrate.phases import p02_audit_unification as p2
from audit_helpers import deploy_p1, deploy_p2, ident, one

# incompressible (an index stores a compressed key when it can: 3,000 x's would fit)
LONG = "".join(uuid.uuid5(uuid.NAMESPACE_URL, str(i)).hex for i in range(94))[:3000]
HUGE = " ".join(uuid.uuid5(uuid.NAMESPACE_DNS, str(i)).hex for i in range(64000))   # about 2 MB of words


def _people_writes(c) -> list[tuple[str, str, tuple]]:
    """(label, statement, args): legal on the legacy schema (no index on these columns)."""
    # a person who is an employee (their writes reach employees)
    base = one(c, "SELECT p.email FROM public.people p JOIN public.employees e ON lower(btrim(e.email)) = "
                  "lower(btrim(p.email)) WHERE e.legacy_snapshot -> 'people' ->> 'email' = p.email ORDER BY 1 LIMIT 1")
    out = []
    for col in ("team", "department", "channel", "team_supervisor", "quality_mentor", "designation"):
        out.append((f"people.{col} of 3,000 characters",
                    sql.SQL("UPDATE public.people SET {} = %s WHERE email = %s").format(sql.Identifier(col)), (LONG, base)))
    out.append(("people.name of 2 MB", sql.SQL("UPDATE public.people SET name = %s WHERE email = %s"), (HUGE, base)))
    out.append(("a person hired with an email of 3,000 characters",
                sql.SQL("INSERT INTO public.people (email, name) VALUES (%s, 'Long Email')"), (LONG + "@example.com",)))
    out.append(("a person hired with a team of 3,000 characters",
                sql.SQL("INSERT INTO public.people (email, name, team, channel) VALUES (%s, 'Long Team', %s, %s)"),
                (f"long-team-{uuid.uuid4().hex[:6]}@example.com", LONG + "t", LONG + "c")))
    return out


def _audit_writes(c) -> list[tuple[str, str, tuple]]:
    row = one(c, "SELECT t.id FROM public.chat_audit t JOIN public.audits a ON a.id = t.id ORDER BY 1 LIMIT 1")
    t = ident("chat_audit")
    return [
        ("an audit's transcript of 2 MB", sql.SQL("UPDATE {} SET transcript = %s WHERE id = %s").format(t), (HUGE, row)),
        ("an audit's interaction_id of 3,000 characters",
         sql.SQL("UPDATE {} SET interaction_id = %s WHERE id = %s").format(t), (LONG, row)),
        ("an audit's interaction_id of 2 MB", sql.SQL("UPDATE {} SET interaction_id = %s WHERE id = %s").format(t),
         (HUGE, row)),
    ]


def test_hostile_but_legal_legacy_writes_commit_while_both_syncs_are_on(legacy_db):
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    failed = []
    with legacy_db.connect(autocommit=True) as c:
        writes = _people_writes(c) + _audit_writes(c)
        for label, stmt, args in writes:
            try:
                with c.transaction():
                    n = c.execute(stmt, args).rowcount
                assert n == 1, (label, n)
            except psycopg.Error as e:
                failed.append(f"{label}: {e.diag.message_primary}")
        assert not failed, failed
        # what the legacy rows hold, the compat views return
        assert one(c, "SELECT count(*) FROM public.people_compat WHERE name = %s", (HUGE,)) == 1
        assert one(c, "SELECT count(*) FROM public.chat_audit_compat WHERE interaction_id = %s", (HUGE,)) == 1
        # an email no employee can hold is quarantined, not lost
        assert one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE source_table = 'people' "
                      "AND original_row ->> 'email' = %s", (LONG + "@example.com",)) == 1


def test_a_legacy_null_created_at_stays_null_in_the_compat_view(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        rid = one(c, "SELECT id FROM public.chat_audit ORDER BY id LIMIT 1")
        c.execute("UPDATE public.chat_audit SET created_at = NULL WHERE id = %s", (rid,))
    deploy_p1()
    deploy_p2(names=p2.BUILD_STEPS + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        assert one(c, "SELECT created_at FROM public.chat_audit_compat WHERE id = %s", (rid,)) is None
        # a legacy write keeps it NULL, and so does a write through audits
        c.execute("UPDATE public.chat_audit SET average_score = 77 WHERE id = %s", (rid,))
        assert one(c, "SELECT created_at FROM public.chat_audit_compat WHERE id = %s", (rid,)) is None
        c.execute("UPDATE public.audits SET total_score = 78 WHERE id = %s", (rid,))
        assert one(c, "SELECT created_at FROM public.chat_audit WHERE id = %s", (rid,)) is None
        assert one(c, "SELECT created_at FROM public.chat_audit_compat WHERE id = %s", (rid,)) is None


def _login_while_one_employee_is_slow(legacy_db, slow: str, other: str, event: str, run_step) -> tuple[float, dict]:
    """A test trigger sleeps 1.5 s on the employee of ``slow`` (BEFORE ``event``) while
    ``run_step`` runs in the background; once that sleep is under way, a login on ``other``.
    Returns how long the login waited, and what the step returned (``done["outcome"]``)."""
    import threading
    import time

    row = "OLD" if event == "DELETE" else "NEW"
    with legacy_db.admin(autocommit=True) as a:
        a.execute("CREATE FUNCTION public.test_slow_employee() RETURNS trigger LANGUAGE plpgsql AS $$ "
                  f"BEGIN IF lower(btrim({row}.email)) = " + "'" + slow.replace("'", "''") + "'" +
                  f" THEN PERFORM pg_sleep(1.5); END IF; RETURN {row}; END $$")
        a.execute(f"CREATE TRIGGER test_slow_employee BEFORE {event} ON public.employees FOR EACH ROW "
                  "EXECUTE FUNCTION public.test_slow_employee()")
    done: dict = {}
    t = threading.Thread(target=lambda: done.update(outcome=run_step()))
    t.start()
    try:
        with legacy_db.admin(autocommit=True) as a:
            deadline = time.monotonic() + 60
            while not one(a, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"):
                assert time.monotonic() < deadline, "the slow chunk never ran"
                time.sleep(0.02)
        with legacy_db.connect(autocommit=True) as c:
            t0 = time.perf_counter()
            c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 WHERE email = %s", (other,))
            waited = time.perf_counter() - t0
    finally:
        t.join(timeout=120)
    return waited, done


def test_a_legacy_writer_waits_for_one_merge_chunk_never_for_the_whole_merge(legacy_db, monkeypatch):
    """merge_employees takes one chunk of emails per transaction (issue 21, item 8). One
    employee of the last chunk is made slow to write (a test trigger sleeps 1.5 s on it): while
    that chunk runs, a login on a person of the first chunk commits at once. With the old
    whole-table lock it waited for the whole merge."""
    from cqms_migrate import phases
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1

    monkeypatch.setattr(p1.merge, "MERGE_CHUNK_ROWS", 40)
    with PhaseContext(p1.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name in p1.BUILD_STEPS[:p1.BUILD_STEPS.index("merge_employees")]])
        n = len(next(s for s in p1.steps(ctx) if s.name == "merge_employees").render_deploy(ctx).statements)
    assert n >= 4, n
    # chunks are ranges of the normalized email in "C" order: the last email is in the last chunk,
    # the first in the first
    with legacy_db.connect(autocommit=True) as c:
        slow = one(c, "SELECT lower(btrim(email)) FROM public.people WHERE email LIKE '%%@%%.%%' "
                      "ORDER BY lower(btrim(email)) COLLATE \"C\" DESC LIMIT 1")
        other = one(c, "SELECT email FROM public.people WHERE email LIKE '%%@%%.%%' AND lower(btrim(email)) ~ '^[a-z]' "
                       "ORDER BY lower(btrim(email)) COLLATE \"C\" LIMIT 1")

    def merge():
        with PhaseContext(p1.PHASE, env="local") as ctx:
            return phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name == "merge_employees"])

    waited, done = _login_while_one_employee_is_slow(legacy_db, slow, other, "INSERT", merge)
    assert done.get("outcome"), done
    assert waited < 0.5, waited
    with legacy_db.connect() as c:
        assert one(c, "SELECT count(*) FROM public.employees WHERE lower(btrim(email)) = %s", (slow,)) == 1


def test_a_merge_chunk_commits_on_the_server_whatever_the_runner_does_next(legacy_db, monkeypatch):
    """A chunk's locks end with its statement, not when the runner's process gets the CPU back
    (issue 21: at the 1M-audit rehearsal a COMMIT waited 2.9 s behind a merge chunk "idle in
    transaction"). The runner is made to stall 1.5 s after the first chunk's statement returns;
    a login on a person of that chunk commits at once. Sent as BEGIN, chunk, COMMIT in separate
    round trips, it waited for the stall."""
    import threading
    import time

    from cqms_migrate import phases
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1

    monkeypatch.setattr(p1.merge, "MERGE_CHUNK_ROWS", 40)
    with PhaseContext(p1.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name in p1.BUILD_STEPS[:p1.BUILD_STEPS.index("merge_employees")]])
    with legacy_db.connect(autocommit=True) as c:
        first = one(c, "SELECT email FROM public.people WHERE email LIKE '%%@%%.%%' AND lower(btrim(email)) ~ '^[a-z]' "
                       "ORDER BY lower(btrim(email)) COLLATE \"C\" LIMIT 1")
    stalled, resume = threading.Event(), threading.Event()
    real_execute = psycopg.Connection.execute

    def execute(self, query, *args, **kwargs):
        cur = real_execute(self, query, *args, **kwargs)
        if "p01_merge_chunk" in str(query) and not stalled.is_set():
            stalled.set()
            resume.wait(5)   # the runner's process off the CPU, its chunk done
        return cur

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    done: dict = {}

    def merge():
        with PhaseContext(p1.PHASE, env="local") as ctx:
            done["outcome"] = phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name == "merge_employees"])

    t = threading.Thread(target=merge)
    t.start()
    try:
        assert stalled.wait(60), "the merge never ran a chunk"
        timer = threading.Timer(1.5, resume.set)
        timer.start()
        with legacy_db.connect(autocommit=True) as c:
            t0 = time.perf_counter()
            c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1 WHERE email = %s", (first,))
            waited = time.perf_counter() - t0
    finally:
        resume.set()
        t.join(timeout=120)
    assert done.get("outcome"), done
    assert waited < 0.5, waited


def test_merge_chunks_are_bounded_in_bytes_as_well_as_rows(legacy_db, monkeypatch):
    """A people sheet holding 2 MB names (legal: the legacy column is text) merged in one chunk of
    a few hundred rows held a legacy writer 4.4 s at the 1M-audit rehearsal: the chunks are sized
    by bytes too (here a 256 kB bound, and names that do not compress)."""
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1
    monkeypatch.setattr(p1.merge, "MERGE_CHUNK_BYTES", 256 * 1024)
    with legacy_db.connect(autocommit=True) as c:
        # (names that compress to almost nothing: the merge reads what they hold, so do the chunks)
        c.execute("UPDATE public.people p SET name = p.name || repeat('n', 128000) WHERE email IN "
                  "(SELECT email FROM public.people WHERE email LIKE '%@%.%' ORDER BY email LIMIT 20)")
        size = one(c, "SELECT (SELECT sum(octet_length(p::text)) FROM public.people p) + "
                      "(SELECT sum(octet_length(u::text)) FROM public.users u)")
    assert size > 3 * p1.merge.MERGE_CHUNK_BYTES, size
    with PhaseContext(p1.PHASE, env="local") as ctx:
        step = next(s for s in p1.steps(ctx) if s.name == "merge_employees")
        n = len(step.render_deploy(ctx).statements)
    assert n >= size // p1.merge.MERGE_CHUNK_BYTES >= 3, (n, size)


def test_a_person_bigger_than_a_merge_chunk_is_a_chunk_of_their_own(legacy_db, monkeypatch):
    """Chunks are ranges of emails cut by rows and bytes: the person holding a large name is
    merged alone, so a writer of another person never waits for that row."""
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1
    monkeypatch.setattr(p1.merge, "MERGE_CHUNK_BYTES", 256 * 1024)
    with legacy_db.connect(autocommit=True) as c:
        big = one(c, "SELECT email FROM public.people WHERE email LIKE '%%@%%.%%' ORDER BY email OFFSET 10 LIMIT 1")
        c.execute("UPDATE public.people p SET name = p.name || (SELECT string_agg(md5(random()::text || g), '') "
                  "FROM generate_series(1, 20000) g) WHERE email = %s", (big,))
    with PhaseContext(p1.PHASE, env="local") as ctx:
        statements = next(s for s in p1.steps(ctx) if s.name == "merge_employees").render_deploy(ctx).statements
    ne = big.strip().lower()
    alone = [st for st in statements if f"'{ne}')" in st and st.count(f"'{ne}'") == 1]
    # its chunk ends at it and the one after starts after it: (previous, big] then (big, ...]
    assert any(st.endswith(f", '{ne}')") for st in statements) and any(f"('{ne}'," in st for st in statements), statements
    assert alone, statements


def test_a_sign_in_before_ones_merge_chunk_keeps_ones_role_and_no_untrusted_role_is_adopted(legacy_db):
    """Phase 01's merge runs in chunks while the application writes (issue 21, item 8). A person
    who signs in (as themselves: an untrusted writer) before the merge reaches their email keeps
    the role their legacy rows give; it used to be held at the default role for review, so an
    auditor lost the right to create audits. What an untrusted writer could give, the merge still
    holds: an agent's own role written 'Admin', and an admin's people row moved to another email."""
    import json

    from cqms_migrate import phases
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1

    with PhaseContext(p1.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name in p1.BUILD_STEPS[:p1.BUILD_STEPS.index("merge_employees")]])

    def person(c, role):
        return c.execute(
            "SELECT p.email, u.id::text FROM public.people p JOIN public.users u ON u.email = p.email "
            "WHERE lower(p.role) = %s AND p.email = lower(btrim(p.email)) AND p.email ~ '^[a-z0-9._-]+@[a-z0-9.-]+[.][a-z]+$' "
            "AND (SELECT count(*) FROM public.people q WHERE lower(btrim(q.email)) = p.email) = 1 "
            "AND (SELECT count(*) FROM public.users v WHERE lower(btrim(v.email)) = p.email) = 1 "
            "ORDER BY p.email LIMIT 1", (role,)).fetchone()

    def as_user(c, uid, statement, args):
        with c.transaction():
            c.execute("SET LOCAL ROLE authenticated")
            c.execute("SELECT set_config('request.jwt.claims', %s, true)",
                      (json.dumps({"role": "authenticated", "sub": uid}),))
            assert c.execute(statement, args).rowcount == 1

    stolen = f"moved.{uuid.uuid4().hex[:8]}@example.com"
    with legacy_db.connect(autocommit=True) as c:
        (analyst, analyst_uid), (agent, agent_uid), (admin, _) = \
            person(c, "quality analyst"), person(c, "agent"), person(c, "admin")
        # a sign-in, on both legacy tables, as the analyst
        as_user(c, analyst_uid, "UPDATE public.users SET sign_in_count = coalesce(sign_in_count, 0) + 1, "
                "last_sign_in_at = now() WHERE id = %s", (analyst_uid,))
        as_user(c, analyst_uid, "UPDATE public.people SET login_count = coalesce(login_count, 0) + 1, "
                "last_login = now() WHERE email = %s", (analyst,))
        # what the legacy grants let an agent do: their own role, another person's row
        as_user(c, agent_uid, "UPDATE public.people SET role = 'Admin' WHERE email = %s", (agent,))
        as_user(c, agent_uid, "UPDATE public.people SET email = %s WHERE email = %s", (stolen, admin))
    with PhaseContext(p1.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name == "merge_employees"])
    with legacy_db.connect() as c:
        level = {e: one(c, "SELECT access_level FROM public.employees WHERE email = %s AND deleted_at IS NULL", (e,))
                 for e in (analyst, agent, stolen)}
        held = {r[0] for r in c.execute("SELECT ne FROM cqms_migration.p01_role_holds").fetchall()}
    assert level[analyst] == "elevated", level
    assert analyst not in held
    assert level[agent] == "standard" and agent in held, (level, held)
    assert level[stolen] != "admin" and stolen in held, (level, held)


def test_a_legacy_writer_waits_for_one_revert_chunk_never_for_the_whole_revert(legacy_db, monkeypatch):
    """merge_employees' revert runs chunk by chunk too (decision 1.34). The delete of one employee
    of the last chunk is made slow (a test trigger sleeps 1.5 s): while it runs, a login on a
    person of the first chunk commits at once, and its employee, re-created by the sync that is
    still on, is the only one left. With the whole-table lock the login waited for the whole
    revert (8.5 s at 5,000 people, tools/merge_stall.py)."""
    from cqms_migrate import phases
    from cqms_migrate.context import PhaseContext
    from cqms_migrate.phases import p01_foundation as p1

    monkeypatch.setattr(p1.merge, "MERGE_CHUNK_ROWS", 40)
    with PhaseContext(p1.PHASE, env="local") as ctx:
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name in p1.BUILD_STEPS[:p1.BUILD_STEPS.index("merge_employees") + 1]])
        n = len(next(s for s in p1.steps(ctx) if s.name == "merge_employees").render_revert(ctx).statements)
    assert n >= 2 * 4 + 2, n   # retire and delete per chunk, the wait, the lock rows
    with legacy_db.connect(autocommit=True) as c:
        slow = one(c, "SELECT lower(btrim(email)) FROM public.employees ORDER BY lower(btrim(email)) COLLATE \"C\" DESC LIMIT 1")
        other = one(c, "SELECT p.email FROM public.people p JOIN public.employees e ON e.email = p.email "
                       "WHERE lower(btrim(p.email)) ~ '^[a-z]' ORDER BY lower(btrim(p.email)) COLLATE \"C\" LIMIT 1")

    def revert():
        with PhaseContext(p1.PHASE, env="local") as ctx:
            return phases.revert(ctx, [s for s in p1.steps(ctx) if s.name == "merge_employees"])

    waited, done = _login_while_one_employee_is_slow(legacy_db, slow, other, "DELETE", revert)
    assert done.get("outcome") and done["outcome"][0].status == "reverted", done
    assert waited < 0.5, waited
    with legacy_db.connect() as c:
        left = [r[0] for r in c.execute("SELECT lower(btrim(email)) FROM public.employees").fetchall()]
        assert left == [other.lower().strip()], left
        assert one(c, "SELECT count(*) FROM cqms_migration.employee_sources s LEFT JOIN public.employees e "
                      "ON e.id = s.employee_id WHERE e.id IS NULL") == 0
