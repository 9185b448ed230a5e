"""The data-quality profile of seed section 7.2, measured on the data.

Definitions (the same before and after a phase, so the figures compare):
- referential integrity: share of email references (audit employee/auditor, assignment
  employee/auditor/assigned_by, people supervisor/mentor) that match a users/people email
  exactly, as the legacy joins do. After phase 1: share of employee references resolved to a key.
- orphaned records: share of audit + assignment rows with a reference that matches nobody even
  after normalising case and whitespace.
- duplicate records: share of people rows whose normalised email repeats another row's.
- data completeness: share of the employee fields (EMPLOYEE_FIELDS) present, over the same
  employees on both sides. Before phase 1: the employees the mapping will build (one per
  normalised email of a users or people row whose email passes the employees format check), each
  field read from the rows the mapping reads (its first people row and first users row by the
  precedence of decision 1.6). After: the employees (not deleted, not a phase-2 placeholder).
  A blank value is missing on both sides, and "blank" is what the migration writes a placeholder
  for: a value with no letter or digit, or spelled 'Unassigned' (the 'Unassigned' role,
  department, channel and team; country 'ZZ', ISO's unknown country, included), and a name that is
  only the email's local part (what the migration writes for a blank name). So with no write in
  between, the two figures differ only by values given in a legacy row that the migration could
  not map (a role the params do not map, a country it does not know): data the employees lack.
- audit fields completeness (legacy only, phase 2's concern): share of the audit fields
  (employee/auditor email, interaction_date, channel, passing_status, transcript, submitted_at)
  populated in the audit tables.
"""

from __future__ import annotations

import pandas as pd
import psycopg
from psycopg import sql

from . import legacy_shape

from .db import end_read
from .inventory import Inventory

TARGETS = {  # seed 7.2: metric -> (seed's "current", target, higher is better)
    "referential integrity %": ("85%", ">= 100%", True),
    "data completeness %": ("90%", ">= 95%", True),
    "duplicate records %": ("2-3%", "< 0.1%", False),
    "orphaned records %": ("5-10%", "0%", False),
}
AUDIT_COMPLETENESS = "audit fields completeness %"

# the fields of an employee that completeness counts, before and after phase 1 alike
EMPLOYEE_FIELDS = ("email", "name", "role", "department", "channel", "team", "country")
# the format check of employees.email (create_employees.sql): a row that fails it is quarantined
EMAIL_FORMAT = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"


def _given(value: sql.Composable, *placeholders: str) -> sql.Composable:
    """The legacy text holds a value the migration keeps: cqms_migration.ref_code(value) is not
    'UNASSIGNED' (written out: the function is phase 1's, and this runs before it exists), nor one
    of ``placeholders``."""
    return sql.SQL("coalesce(nullif(btrim(upper(regexp_replace(btrim({}), '[^A-Za-z0-9]+', '_', 'g')), '_'), ''), "
                   "'UNASSIGNED') NOT IN ({})").format(
        value, sql.SQL(", ").join(map(sql.Literal, ("UNASSIGNED", *placeholders))))


def _completeness(counts: tuple) -> dict:
    n, *present = counts
    return {"fields": list(EMPLOYEE_FIELDS), "employees": n, "present": dict(zip(EMPLOYEE_FIELDS, present))}


def _completeness_pct(c: dict) -> float:
    return _pct(sum(c["present"].values()), c["employees"] * len(c["fields"]))


def _pct(a, b) -> float:
    return round(100.0 * a / b, 2) if b else 100.0


def legacy_completeness(conn: psycopg.Connection, people, users) -> dict:
    """EMPLOYEE_FIELDS over the employees phase 1 will build, read as its mapping reads the legacy
    rows (cqms_migration.p01_sources and p01_expected_of, same precedence, same fallbacks).

    A column of another type is read through the ledger's conversion functions, which a dry run
    on a never-migrated database does not have: there such a column is left unread (listed under
    "unread"): duplicates rank by the rest of the precedence, and a users id counts when present."""
    convertible = conn.execute("SELECT to_regprocedure('cqms_migration.to_integer(text)') IS NOT NULL").fetchone()[0]
    unread: list[str] = []

    def read(shape, canonical: str, alias: str) -> sql.Composable:
        m = shape.mapped[canonical]
        if m.usable and m.kind == "checked" and not convertible:
            unread.append(f"{shape.table}.{m.column.name}")
            return sql.SQL("NULL::{}").format(sql.SQL(m.target))
        return shape.ident(canonical, alias)

    p_email, u_email = read(people, "email", "p"), read(users, "email", "u")
    m_id = users.mapped["id"]
    u_id = (sql.SQL("({})::text").format(users.raw("id", "u")) if m_id.usable and m_id.kind == "checked" and not convertible
            else users.ident("id", "u"))
    q = sql.SQL("""
      WITH pe AS (
        SELECT coalesce(lower(btrim({p_email})), '') AS ne, {name} AS name, {role} AS role, {department} AS department,
               {channel} AS channel, {team} AS team, {country} AS country,
               row_number() OVER (PARTITION BY coalesce(lower(btrim({p_email})), '')
                                  ORDER BY {is_active} DESC NULLS LAST, {last_login} DESC NULLS LAST,
                                           {login_count} DESC NULLS LAST,
                                           ({p_email} = coalesce(lower(btrim({p_email})), '')) DESC, md5(p::text)) AS rank
        FROM public.people p WHERE btrim({p_email}) ~* {email_format}
      ), us AS (
        SELECT coalesce(lower(btrim({u_email})), '') AS ne, {full_name} AS full_name,
               row_number() OVER (PARTITION BY coalesce(lower(btrim({u_email})), '')
                                  ORDER BY {last_sign_in_at} DESC NULLS LAST,
                                           ({u_email} = coalesce(lower(btrim({u_email})), '')) DESC, {u_id}) AS rank
        FROM public.users u WHERE {u_id} IS NOT NULL AND btrim({u_email}) ~* {email_format}
      ), per AS (
        SELECT coalesce(u.ne, p.ne) AS ne, coalesce(nullif(btrim(p.name), ''), nullif(btrim(u.full_name), '')) AS name,
               p.role, p.department, p.channel, p.team, p.country
        FROM (SELECT * FROM us WHERE rank = 1) u FULL JOIN (SELECT * FROM pe WHERE rank = 1) p ON p.ne = u.ne
      )
      SELECT count(*), count(*),
             count(*) FILTER (WHERE per.name <> split_part(per.ne, '@', 1)),
             count(*) FILTER (WHERE {role_given}), count(*) FILTER (WHERE {department_given}),
             count(*) FILTER (WHERE {channel_given}), count(*) FILTER (WHERE {team_given}),
             count(*) FILTER (WHERE {country_given})
      FROM per
    """).format(
        p_email=p_email, u_email=u_email, email_format=sql.Literal(EMAIL_FORMAT),
        **{c: read(people, c, "p") for c in ("name", "role", "department", "channel", "team", "country",
                                             "is_active", "last_login", "login_count")},
        full_name=read(users, "full_name", "u"), last_sign_in_at=read(users, "last_sign_in_at", "u"), u_id=u_id,
        **{f"{c}_given": _given(sql.SQL("per.{}").format(sql.Identifier(c)), *(("ZZ",) if c == "country" else ()))
           for c in ("role", "department", "channel", "team", "country")})
    out = _completeness(conn.execute(q).fetchone())
    if unread:
        out["unread"] = sorted(set(unread))
    return out


def employee_completeness(conn: psycopg.Connection) -> dict:
    """EMPLOYEE_FIELDS over the employees, a placeholder counted as missing (see legacy_completeness)."""
    return _completeness(conn.execute("""
      SELECT count(*), count(*) FILTER (WHERE btrim(e.email) <> ''),
             count(*) FILTER (WHERE e.name <> split_part(lower(btrim(e.email)), '@', 1)),
             count(*) FILTER (WHERE r.code <> 'UNASSIGNED'), count(*) FILTER (WHERE d.code <> 'UNASSIGNED'),
             count(*) FILTER (WHERE c.code <> 'UNASSIGNED'), count(*) FILTER (WHERE t.code NOT LIKE 'UNASSIGNED@%'),
             count(*) FILTER (WHERE e.country_code <> 'ZZ')
      FROM public.employees e JOIN public.roles r ON r.id = e.role_id
      LEFT JOIN public.departments d ON d.id = e.department_id LEFT JOIN public.channels c ON c.id = e.channel_id
      LEFT JOIN public.teams t ON t.id = e.team_id
      WHERE e.deleted_at IS NULL AND NOT coalesce(e.legacy_snapshot ? 'placeholder_phase', false)
    """).fetchone())


def _refs_union(inv: Inventory, people) -> sql.Composable:
    """(row_kind, row_key, email) for every email reference in the legacy data."""
    parts = [
        sql.SQL("SELECT 'assignment'::text AS kind, id::text AS k, e AS email FROM public.audit_assignments, "
                "LATERAL (VALUES (employee_email), (auditor_email), (assigned_by)) v(e)"),
        sql.SQL("SELECT 'people', NULL, e FROM public.people p, LATERAL (VALUES ({}), ({})) v(e)").format(
            people.ident("team_supervisor", "p"), people.ident("quality_mentor", "p")),
    ]
    for t in inv.tables:
        if t.exists and t.identifier_problem is None and "employee_email" in t.columns and "auditor_email" in t.columns:
            parts.append(sql.SQL("SELECT {}::text, id::text, e FROM {} x, LATERAL (VALUES (x.employee_email), (x.auditor_email)) v(e)")
                         .format(sql.Literal("audit:" + t.table_name), sql.Identifier("public", t.table_name)))
    return sql.SQL(" UNION ALL ").join(parts)


def legacy_profile(conn: psycopg.Connection, inv: Inventory) -> dict:
    shapes = legacy_shape.discover(conn)
    people, users = shapes["people"], shapes["users"]
    refs = _refs_union(inv, people)
    q = sql.SQL("""
      WITH known_exact AS (SELECT {user_email} AS email FROM public.users u WHERE {user_email} IS NOT NULL
                           UNION SELECT {people_email} FROM public.people p WHERE {people_email} IS NOT NULL),
           known_norm AS (SELECT lower(btrim(email)) AS ne FROM known_exact),
           refs AS ({refs}),
           nonblank AS (SELECT * FROM refs WHERE email IS NOT NULL AND btrim(email) <> '')
      SELECT
        (SELECT count(*) FROM nonblank),
        (SELECT count(*) FROM nonblank r WHERE EXISTS (SELECT 1 FROM known_exact k WHERE k.email = r.email)),
        (SELECT count(DISTINCT (kind, k)) FROM refs WHERE kind <> 'people'),
        (SELECT count(DISTINCT (kind, k)) FROM nonblank r WHERE kind <> 'people'
            AND NOT EXISTS (SELECT 1 FROM known_norm n WHERE n.ne = lower(btrim(r.email))))
    """).format(refs=refs, user_email=users.ident("email", "u"), people_email=people.ident("email", "p"))
    n_refs, n_exact, n_rows, n_orphan_rows = conn.execute(q).fetchone()
    dup_total, dup_extra = conn.execute(sql.SQL(
        "SELECT count(*), count(*) - count(DISTINCT lower(btrim({0}))) FROM public.people p WHERE {0} IS NOT NULL"
    ).format(people.ident("email", "p"))).fetchone()
    completeness = legacy_completeness(conn, people, users)
    audit_filled, audit_fields = 0, 0
    wanted = ["employee_email", "auditor_email", "interaction_date", "channel", "passing_status", "transcript", "submitted_at"]
    for t in inv.tables:
        if not (t.exists and t.identifier_problem is None):
            continue
        present = [c for c in wanted if c in t.columns]
        if not present:
            continue
        terms = sql.SQL(" + ").join(sql.SQL("({} IS NOT NULL)::int").format(sql.Identifier(c)) for c in present)
        f, n = conn.execute(sql.SQL("SELECT coalesce(sum({}), 0), count(*) FROM {}").format(
            terms, sql.Identifier("public", t.table_name))).fetchone()
        audit_filled += int(f)
        audit_fields += int(n) * len(wanted)  # a missing column counts as unfilled
    end_read(conn)
    return {
        "referential integrity %": _pct(n_exact, n_refs),
        "data completeness %": _completeness_pct(completeness),
        "duplicate records %": _pct(dup_extra, dup_total),
        "orphaned records %": _pct(n_orphan_rows, n_rows),
        AUDIT_COMPLETENESS: _pct(audit_filled, audit_fields),
        "_counts": {"email_refs": n_refs, "exact_matches": n_exact, "rows_with_refs": n_rows,
                    "orphan_rows": n_orphan_rows, "people_rows": dup_total, "duplicate_people_rows": dup_extra},
        "_completeness": completeness,
    }


def employee_profile(conn: psycopg.Connection) -> dict:
    """The same four metrics on the unified employee model (after phase 1)."""
    (n, refs, resolved, dups) = conn.execute("""
      SELECT (SELECT count(*) FROM public.employees),
             (SELECT count(*) FROM public.employees WHERE supervisor_id IS NOT NULL)
               + (SELECT count(*) FROM public.employees WHERE quality_mentor_id IS NOT NULL),
             (SELECT count(*) FROM public.employees e JOIN public.employees s ON s.id = e.supervisor_id)
               + (SELECT count(*) FROM public.employees e JOIN public.employees s ON s.id = e.quality_mentor_id),
             (SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.employees)
    """).fetchone()
    completeness = employee_completeness(conn)
    end_read(conn)
    return {
        "referential integrity %": _pct(resolved, refs),
        "data completeness %": _completeness_pct(completeness),
        "duplicate records %": _pct(dups, n),
        "orphaned records %": 0.0 if refs == resolved else _pct(refs - resolved, refs),
        "_counts": {"employees": n, "references": refs, "resolved": resolved, "duplicates": dups},
        "_completeness": completeness,
    }


def profile_frame(before: dict, after: dict | None = None) -> pd.DataFrame:
    rows = []
    for metric, (current, target, _) in TARGETS.items():
        row = {"metric": metric, "seed 'current'": current, "seed target": target, "measured": before[metric]}
        if after is not None:
            row = {"metric": metric, "seed 'current'": current, "seed target": target,
                   "before (legacy)": before[metric], "after (unified)": after[metric]}
        rows.append(row)
    if after is None and AUDIT_COMPLETENESS in before:  # the audits are phase 2's: no 'after' here
        rows.append({"metric": AUDIT_COMPLETENESS, "seed 'current'": "", "seed target": "",
                     "measured": before[AUDIT_COMPLETENESS]})
    unread = (before.get("_completeness") or {}).get("unread")
    if unread:
        for row in rows:
            row["note"] = ("duplicates ranked without " + ", ".join(unread) + " (their conversion comes with the "
                           "ledger: not in a dry run of a never-migrated database)"
                           if row["metric"] == "data completeness %" else "")
    return pd.DataFrame(rows).set_index("metric")
