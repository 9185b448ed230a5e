"""The data-quality profile of seed section 7.2, measured on the data.

Definitions (the same before and after a phase, so the figures compare):
- referential integrity: share of email references (audit employee/auditor, assignment
  employee/auditor/assigned_by, people supervisor/mentor) that match a users/people email
  exactly, as the legacy joins do. After phase 1: share of employee references resolved to a key.
- orphaned records: share of audit + assignment rows with a reference that matches nobody even
  after normalising case and whitespace.
- duplicate records: share of people rows whose normalised email repeats another row's.
- completeness: share of required fields populated (people: email, name, role, department,
  channel, team, country; audits: employee/auditor email, interaction_date, channel,
  passing_status, transcript, submitted_at).
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
    required = ["email", "name", "role", "department", "channel", "team", "country"]
    people_filled, people_fields = conn.execute(sql.SQL("SELECT sum({}), count(*) * {} FROM public.people p").format(
        sql.SQL(" + ").join(sql.SQL("({0} IS NOT NULL AND btrim({0}) <> '')::int").format(people.ident(c, "p"))
                            for c in required), sql.Literal(len(required)))).fetchone()
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
    pct = lambda a, b: round(100.0 * a / b, 2) if b else 100.0
    return {
        "referential integrity %": pct(n_exact, n_refs),
        "data completeness %": pct((people_filled or 0) + audit_filled, (people_fields or 0) + audit_fields),
        "duplicate records %": pct(dup_extra, dup_total),
        "orphaned records %": pct(n_orphan_rows, n_rows),
        "_counts": {"email_refs": n_refs, "exact_matches": n_exact, "rows_with_refs": n_rows,
                    "orphan_rows": n_orphan_rows, "people_rows": dup_total, "duplicate_people_rows": dup_extra},
    }


def employee_profile(conn: psycopg.Connection) -> dict:
    """The same four metrics on the unified employee model (after phase 1)."""
    (n, refs, resolved, dups, filled, fields) = conn.execute("""
      SELECT (SELECT count(*) FROM public.employees),
             (SELECT count(*) FROM public.employees WHERE supervisor_id IS NOT NULL)
               + (SELECT count(*) FROM public.employees WHERE quality_mentor_id IS NOT NULL),
             (SELECT count(*) FROM public.employees e JOIN public.employees s ON s.id = e.supervisor_id)
               + (SELECT count(*) FROM public.employees e JOIN public.employees s ON s.id = e.quality_mentor_id),
             (SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.employees),
             (SELECT sum(1 + 1 + (r.code <> 'UNASSIGNED')::int + (d.code <> 'UNASSIGNED')::int
                       + (c.code <> 'UNASSIGNED')::int + (t.code <> 'UNASSIGNED@UNASSIGNED' AND t.name <> 'Unassigned')::int
                       + (e.country_code <> 'ZZ')::int)
                FROM public.employees e JOIN public.roles r ON r.id = e.role_id
                JOIN public.departments d ON d.id = e.department_id JOIN public.channels c ON c.id = e.channel_id
                JOIN public.teams t ON t.id = e.team_id),
             (SELECT count(*) * 7 FROM public.employees)
    """).fetchone()
    end_read(conn)
    pct = lambda a, b: round(100.0 * a / b, 2) if b else 100.0
    return {
        "referential integrity %": pct(resolved, refs),
        "data completeness %": pct(filled or 0, fields),
        "duplicate records %": pct(dups, n),
        "orphaned records %": 0.0 if refs == resolved else pct(refs - resolved, refs),
        "_counts": {"employees": n, "references": refs, "resolved": resolved, "duplicates": dups},
    }


def profile_frame(before: dict, after: dict | None = None) -> pd.DataFrame:
    rows = []
    for metric, (current, target, _) in TARGETS.items():
        row = {"metric": metric, "seed 'current'": current, "seed target": target, "measured": before[metric]}
        if after is not None:
            row = {"metric": metric, "seed 'current'": current, "seed target": target,
                   "before (legacy)": before[metric], "after (unified)": after[metric]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")
