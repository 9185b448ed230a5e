"""What the notebook shows beside the validation: the lookup benchmark (users + people by email
against one query on employees, in the same run), data quality before and after, the legacy
checksums."""

from __future__ import annotations

import statistics
import time

import pandas as pd
import psycopg

from ... import quality
from ...common_steps import saved_checksums as _saved_checksums
from ...db import end_read
from .shaped import PHASE

def lookup_benchmark(conn: psycopg.Connection, samples: int = 300, seed: int = 7) -> pd.DataFrame:
    emails = [r[0] for r in conn.execute(
        "SELECT email FROM cqms_migration.employee_email_map WHERE source = 'both' "
        "ORDER BY md5(email || %s::text) LIMIT %s", (seed, samples)).fetchall()]
    end_read(conn)
    if not emails:
        return pd.DataFrame()

    def legacy(email):
        u = conn.execute("SELECT * FROM public.users WHERE email = %s", (email,)).fetchone()
        p = conn.execute("SELECT * FROM public.people WHERE email = %s", (email,)).fetchall()
        merged = {}
        if p:
            merged.update(dict(zip(["email", "name", "role", "department"], p[0][:4])))
        if u:
            merged.setdefault("name", u[2])
            merged["auth_user_id"] = u[0]
        return merged

    def unified(email):
        return conn.execute(
            "SELECT e.*, r.name AS role FROM public.employees e JOIN public.roles r ON r.id = e.role_id "
            "WHERE lower(btrim(e.email)) = lower(btrim(%s))", (email,)).fetchone()

    def timed(fn):
        out = []
        for e in emails:
            t0 = time.perf_counter()
            fn(e)
            out.append((time.perf_counter() - t0) * 1000)
        end_read(conn)
        return out

    timed(legacy), timed(unified)  # warm both paths
    leg, uni = timed(legacy), timed(unified)
    df = pd.DataFrame([
        {"path": "legacy: users + people by email, merged in Python", "lookups": len(leg),
         "median ms": round(statistics.median(leg), 3), "p95 ms": round(sorted(leg)[int(len(leg) * .95) - 1], 3),
         "round trips per lookup": 2},
        {"path": "unified: one query on employees", "lookups": len(uni),
         "median ms": round(statistics.median(uni), 3), "p95 ms": round(sorted(uni)[int(len(uni) * .95) - 1], 3),
         "round trips per lookup": 1},
    ]).set_index("path")
    df.attrs["ratio"] = round(statistics.median(leg) / statistics.median(uni), 2)
    return df


def quality_before_after(ctx, before: dict) -> pd.DataFrame:
    after = None if ctx.dry_run else quality.employee_profile(ctx.conn)
    if after is not None:
        ctx.ledger.record_metric(PHASE, "quality", {"before": before, "after": after})
    return quality.profile_frame(before, after)


def benchmark(ctx) -> pd.DataFrame:
    if ctx.dry_run:
        return pd.DataFrame()
    df = lookup_benchmark(ctx.conn)
    if not df.empty:
        ctx.ledger.record_metric(PHASE, "employee_lookup_ratio", {"legacy_over_unified": df.attrs["ratio"],
                                                                  "table": df.reset_index().to_dict("records")})
    return df


def saved_checksums(conn, phase: str = PHASE) -> pd.DataFrame:
    """The legacy checksums taken before a phase (this one by default)."""
    return _saved_checksums(conn, phase)
