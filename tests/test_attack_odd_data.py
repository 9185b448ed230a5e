import psycopg
from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403

T = "chat_audit"


def odd_rows(c, tag):
    emp, aud = c.execute("SELECT employee_email, auditor_email FROM public.chat_audit a WHERE EXISTS (SELECT 1 FROM public.people p "
                         "WHERE lower(btrim(p.email)) = lower(btrim(a.employee_email))) AND EXISTS (SELECT 1 FROM public.people p "
                         "WHERE lower(btrim(p.email)) = lower(btrim(a.auditor_email))) AND lower(btrim(employee_email)) <> lower(btrim(auditor_email)) "
                         "LIMIT 1").fetchone()
    rows = [
        dict(average_score="87.123456789012345678901234567890", transcript="x" * 3_000_000),
        dict(employee_email="  " + emp.upper() + "\t", auditor_email=" " + aud.title() + " ", passing_status="  PASS  ", channel="  chat "),
        dict(passing_status=None, channel=None, transcript=None, average_score=None, validation_status=None, acknowledgement_status=None),
        dict(average_score="NaN"),
        dict(interaction_date="infinity"),
        dict(interaction_date="9999-12-31", submitted_at="infinity", audit_start_time="-infinity", audit_end_time="infinity"),
        dict(average_score="-0.0", audit_duration=0),
        dict(interaction_id="i" * 10000, transcript="emoji \U0001F600 \u0000".replace("\u0000", "") + " tab\tnl\n"),
        dict(channel="Phone", passing_status="fail"),
        dict(channel="E-mail"),
    ]
    ids, errors = [], []
    for r in rows:
        base = dict(employee_email=emp, auditor_email=aud, interaction_date="2025-06-30", channel="Chat", average_score="80",
                    passing_status="Pass", transcript="t", validation_status="pending", acknowledgement_status="pending")
        base.update(r)
        cols = list(base)
        try:
            with c.transaction():
                ids.append(one(c, sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
                    ident(T), sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(sql.Placeholder() * len(cols))),
                    [base[k] for k in cols]))
        except psycopg.Error as e:
            errors.append(f"[{tag}] insert {list(r)} failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    # the legacy schema takes every one of these: the sync triggers must not refuse any
    assert errors == [] and len(ids) == len(rows), errors
    return ids


def each_migrated_or_quarantined(c, ids):
    """Each odd row is in audits or in the quarantine, not both and not neither."""
    where = {i: (one(c, "SELECT count(*) FROM public.audits WHERE id = %s", (i,)),
                 one(c, "SELECT count(*) FROM cqms_migration.quarantine WHERE source_key = %s", (str(i),))) for i in ids}
    assert all(w in ((1, 0), (0, 1)) for w in where.values()), where


def odd_people(c):
    x = c.execute(BOTH).fetchall()[0][0]
    c.execute("INSERT INTO public.people (email, name, role, department, channel, team, is_active, country) "
              "VALUES (%s, 'Dup Upper', '  AGENT ', '   ', ' chat', NULL, false, 'uk')", ("  " + x.upper() + " ",))
    c.execute("INSERT INTO public.people (email, name, role, department, channel, team, is_active, country, team_supervisor) "
              "VALUES ('odd.person@example.com', NULL, NULL, NULL, NULL, NULL, NULL, NULL, ' ODD.PERSON@example.com ')")
    c.execute("INSERT INTO public.people (email, name) VALUES ('odd.person2@example.com', '')")


def test_odd_data_before_migration(legacy_db):
    with legacy_db.connect(autocommit=True) as c:
        ids = odd_rows(c, "pre")
        odd_people(c)
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        each_migrated_or_quarantined(c, ids)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_odd_data_written_live(legacy_db):
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        ids = odd_rows(c, "live")
        odd_people(c)
        each_migrated_or_quarantined(c, ids)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)
    assert p1_problems(legacy_db.url) == []
