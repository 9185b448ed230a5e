"""The cutover gate's validation: reconciliation of users and people with employees, the checks,
the quarantine and the hierarchy, in one snapshot; with params, the outcome gate."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from ... import legacy_shape, outcome
from ...db import one_snapshot
from ...errors import CheckFailed
from .shaped import PHASE

PEOPLE_KEYED = """
  SELECT p, md5(p::text) || ':' || row_number() OVER (PARTITION BY md5(p::text)) AS source_key
  FROM public.people p"""


@dataclass
class Validation:
    reconciliation: pd.DataFrame
    checks: pd.DataFrame
    quarantine: pd.DataFrame
    hierarchy: pd.DataFrame
    outcome: "outcome.Outcome | None" = None

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and bool(self.reconciliation["reconciles"].all()) \
            and (self.outcome is None or self.outcome.ok)

    def raise_if_failed(self) -> None:
        if not self.ok:
            bad = (list(self.outcome.failures) if self.outcome is not None else []) + \
                  list(self.checks.loc[~self.checks["ok"], "check"]) + \
                  [f"{t} does not reconcile" for t in self.reconciliation.index[~self.reconciliation["reconciles"]]]
            raise CheckFailed(f"phase {PHASE} validation failed: {'; '.join(bad)}; the feature flag stays off")


def validate(conn: psycopg.Connection, params=None) -> Validation:
    """In one snapshot: the application may be writing users, people or employees meanwhile.
    With ``params``, the outcome gate too: the share of users and people rows quarantined
    against params' ceilings (outcome.py; merged duplicates count as migrated)."""
    with one_snapshot(conn):
        v = _validate(conn)
        if params is not None:
            tables = v.reconciliation.rename(columns={"merged into a duplicate": "merged"}).assign(disposition="migrated")
            v.outcome = outcome.gate(conn, PHASE, tables, params, None, "")
        return v


# the columns of employees that have a legacy home, compared with what the mapping says for the
# current legacy rows (employee_id separately: the first holder of a shared code keeps it)
MAPPED = """ne, auth_user_id, name, avatar_url, role_id, department_id, designation, channel_id, team_id,
            country_code, intercom_admin_alias, is_active, last_login_at, login_count, supervisor_ne, mentor_ne,
            snapshot"""


def _validate(conn: psycopg.Connection) -> Validation:
    q = lambda s, p=None: conn.execute(s, p).fetchone()
    found = legacy_shape.discover(conn)
    shaped = lambda text: legacy_shape.fill(text, found, phase=sql.Literal(PHASE))  # noqa: E731
    recon = []
    for table in ("users", "people"):
        legacy = q(f"SELECT count(*) FROM public.{table}")[0]
        migrated, merged = q("SELECT count(*) FILTER (WHERE disposition = 'migrated'), "
                             "count(*) FILTER (WHERE disposition = 'merged_duplicate') "
                             "FROM cqms_migration.employee_sources WHERE source_table = %s", (table,))
        quarantined = q("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                        (PHASE, table))[0]
        recon.append({"legacy table": table, "legacy rows": legacy, "migrated": migrated,
                      "merged into a duplicate": merged, "quarantined": quarantined,
                      "reconciles": legacy == migrated + merged + quarantined})
    reconciliation = pd.DataFrame(recon).set_index("legacy table")

    checks = []

    def check(name, bad_count, detail=""):
        checks.append({"check": name, "violations": int(bad_count), "ok": bad_count == 0, "detail": detail})

    # compat views return the legacy rows: EXCEPT ALL both ways, differences explained
    people_unexplained = q(f"""
      WITH keyed AS ({PEOPLE_KEYED}),
           explained AS (SELECT source_key FROM cqms_migration.employee_sources
                           WHERE source_table = 'people' AND disposition = 'merged_duplicate'
                         UNION ALL SELECT source_key FROM cqms_migration.quarantine
                           WHERE phase = '{PHASE}' AND source_table = 'people')
      SELECT (SELECT count(*) FROM (SELECT (k.p).* FROM keyed k
                                    WHERE k.source_key NOT IN (SELECT source_key FROM explained)
                                    EXCEPT ALL SELECT * FROM public.people_compat) a),
             (SELECT count(*) FROM (SELECT * FROM public.people_compat EXCEPT ALL SELECT * FROM public.people) b)""")
    check("people_compat: every unexplained legacy people row returned", people_unexplained[0],
          "legacy rows minus merged/quarantined, EXCEPT ALL people_compat")
    check("people_compat: returns no row people lacks", people_unexplained[1], "people_compat EXCEPT ALL people")
    users_unexplained = q(shaped("""
      WITH explained AS (SELECT source_key FROM cqms_migration.employee_sources
                           WHERE source_table = 'users' AND disposition = 'merged_duplicate'
                         UNION ALL SELECT source_key FROM cqms_migration.quarantine
                           WHERE phase = {phase} AND source_table = 'users')
      SELECT (SELECT count(*) FROM (SELECT * FROM public.users u
                                    WHERE ({users.u.id.raw})::text NOT IN (SELECT source_key FROM explained)
                                    EXCEPT ALL SELECT * FROM public.users_compat) a),
             (SELECT count(*) FROM (SELECT * FROM public.users_compat EXCEPT ALL SELECT * FROM public.users) b)"""))
    check("users_compat: every unexplained legacy users row returned", users_unexplained[0])
    check("users_compat: returns no row users lacks", users_unexplained[1])

    # foreign-key integrity 100% (the constraints exist; this proves no NOT VALID shortcut hides rows)
    fk_bad = q("""
      SELECT (SELECT count(*) FROM public.employees e WHERE e.supervisor_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.employees s WHERE s.id = e.supervisor_id))
           + (SELECT count(*) FROM public.employees e WHERE e.quality_mentor_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.employees s WHERE s.id = e.quality_mentor_id))
           + (SELECT count(*) FROM public.employees e WHERE NOT EXISTS (SELECT 1 FROM public.roles r WHERE r.id = e.role_id))
           + (SELECT count(*) FROM public.employees e WHERE e.auth_user_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM auth.users a WHERE a.id = e.auth_user_id))""")[0]
    check("foreign-key integrity (supervisor, mentor, role, auth user)", fk_bad)
    not_valid = q("SELECT count(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                  "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND t.relname IN "
                  "('employees','roles','departments','teams','channels','countries') AND NOT c.convalidated")[0]
    check("no constraint left NOT VALID", not_valid)
    dup = q("SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.employees")[0]
    check("one employee per normalized email", dup)
    unmapped = q(shaped("""
      SELECT count(*) FROM (
        SELECT lower(btrim({users.u.email})) ne FROM public.users u WHERE {users.u.email} IS NOT NULL
        UNION SELECT lower(btrim({people.p.email})) FROM public.people p WHERE {people.p.email} IS NOT NULL) l
      WHERE NOT EXISTS (SELECT 1 FROM cqms_migration.employee_email_map m WHERE m.normalized_email = l.ne)
        AND NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q WHERE q.phase = {phase}
                        AND lower(btrim(CASE q.source_table WHEN 'users' THEN {users.q.email}
                                                            ELSE {people.q.email} END)) = l.ne)"""))[0]
    check("every legacy email resolves (email map) or is quarantined", unmapped)
    users_without_auth_link = q("SELECT count(*) FROM cqms_migration.employee_sources s WHERE s.source_table = 'users' "
                                "AND s.disposition = 'migrated' AND NOT EXISTS (SELECT 1 FROM public.employees e "
                                "WHERE e.id = s.employee_id AND e.auth_user_id = cqms_migration.to_uuid(s.source_key))")[0]
    check("every migrated users row is linked to its auth user", users_without_auth_link)

    # employees are what the mapping says for the current legacy rows (the sync kept them so)
    drift = q(f"""
      WITH expected AS (
        SELECT x.ne, x.auth_user_id, x.name, x.avatar_url, x.role_id, x.department_id, x.designation, x.channel_id,
               x.team_id, x.country_code, x.intercom_admin_alias, x.is_active, x.last_login_at, x.login_count,
               CASE WHEN x.supervisor_ne <> x.ne AND sup.id IS NOT NULL THEN x.supervisor_ne END AS supervisor_ne,
               CASE WHEN x.mentor_ne <> x.ne AND qm.id IS NOT NULL THEN x.mentor_ne END AS mentor_ne,
               x.legacy_snapshot - 'version' AS snapshot
        FROM cqms_migration.p01_expected(NULL) x
        LEFT JOIN public.employees sup ON lower(btrim(sup.email)) = x.supervisor_ne AND sup.deleted_at IS NULL
        LEFT JOIN public.employees qm ON lower(btrim(qm.email)) = x.mentor_ne AND qm.deleted_at IS NULL),
      actual AS (
        SELECT lower(btrim(e.email)) AS ne, e.auth_user_id, e.name, e.avatar_url, e.role_id, e.department_id,
               e.designation, e.channel_id, e.team_id, e.country_code, e.intercom_admin_alias, e.is_active,
               e.last_login_at, e.login_count, lower(btrim(s.email)) AS supervisor_ne, lower(btrim(m.email)) AS mentor_ne,
               e.legacy_snapshot - 'version' AS snapshot
        FROM public.employees e
        LEFT JOIN public.employees s ON s.id = e.supervisor_id
        LEFT JOIN public.employees m ON m.id = e.quality_mentor_id
        WHERE e.deleted_at IS NULL AND e.legacy_snapshot IS NOT NULL AND NOT e.legacy_snapshot ? 'placeholder_phase')
      SELECT (SELECT count(*) FROM (SELECT {MAPPED} FROM expected EXCEPT ALL SELECT {MAPPED} FROM actual) a),
             (SELECT count(*) FROM (SELECT {MAPPED} FROM actual EXCEPT ALL SELECT {MAPPED} FROM expected) b),
             (SELECT count(*) FROM cqms_migration.p01_expected(NULL) x JOIN public.employees e
                ON lower(btrim(e.email)) = x.ne
              WHERE e.employee_id IS DISTINCT FROM x.legacy_employee_id AND (e.employee_id IS NOT NULL OR NOT EXISTS (
                SELECT 1 FROM public.employees h WHERE h.employee_id = x.legacy_employee_id AND h.id <> e.id)))""")
    check("employees: what the mapping says for the current legacy rows", drift[0],
          "mapping of users + people now, EXCEPT ALL employees (columns with a legacy home)")
    check("employees: no employee the current legacy rows do not explain", drift[1],
          "employees EXCEPT ALL the mapping of users + people now")
    check("employees: employee_id is the legacy code (or NULL: another employee holds it)", drift[2])

    # the independent verification (cqms-migrate verify), in this snapshot: every mapped column
    from ... import verify
    checks += verify.checks(verify.run(conn, PHASE))

    quarantine = pd.DataFrame(conn.execute(
        "SELECT source_table, reason, count(*) AS rows FROM cqms_migration.quarantine WHERE phase = %s "
        "GROUP BY 1, 2 ORDER BY 1, 2", (PHASE,)).fetchall(), columns=["source table", "reason", "rows"])

    hier = conn.execute(shaped("""
      WITH p AS (SELECT e.id, lower(btrim({people.e.team_supervisor})) AS sup,
                        lower(btrim({people.e.quality_mentor})) AS qm,
                        lower(btrim(e.email)) AS ne, e.supervisor_id, e.quality_mentor_id
                 FROM public.employees e WHERE e.legacy_snapshot ? 'people')
      SELECT 'supervisor: self-reference set to NULL', count(*) FROM p WHERE sup = ne
      UNION ALL SELECT 'supervisor: unknown email left NULL', count(*) FROM p
        WHERE sup <> '' AND sup <> ne AND supervisor_id IS NULL
      UNION ALL SELECT 'mentor: self-reference set to NULL', count(*) FROM p WHERE qm = ne
      UNION ALL SELECT 'mentor: unknown email left NULL', count(*) FROM p
        WHERE qm <> '' AND qm <> ne AND quality_mentor_id IS NULL
      UNION ALL SELECT 'supervisor cycles (kept, listed for review)', count(*) FROM (
        WITH RECURSIVE walk(start, cur, depth, path) AS (
          SELECT id, supervisor_id, 1, ARRAY[id] FROM public.employees WHERE supervisor_id IS NOT NULL
          UNION ALL
          SELECT w.start, e.supervisor_id, w.depth + 1, w.path || e.id FROM walk w
          JOIN public.employees e ON e.id = w.cur
          WHERE e.supervisor_id IS NOT NULL AND w.depth < 50 AND NOT e.id = ANY(w.path))
        SELECT DISTINCT start FROM walk WHERE cur = start) c
      UNION ALL SELECT 'shared legacy employee_id kept by one employee', count(*) FROM p
        JOIN public.employees e USING (id) WHERE {people.e.employee_id} IS NOT NULL AND e.employee_id IS NULL
    """)).fetchall()
    hierarchy = pd.DataFrame(hier, columns=["finding", "employees"]).set_index("finding")
    return Validation(reconciliation, pd.DataFrame(checks), quarantine, hierarchy)
