"""Database health signals the batch engine checks between batches (GitLab's batched
background migrations pause on the same kind of signal).

Everything here works as Supabase's ``postgres`` role, which is not a superuser and may lack
pg_read_all_stats: pg_locks is readable by every role, so maintenance and lock waits are read
from it; the backend type of another session is used only where it is visible; replication lag
only where pg_stat_replication shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from .db import end_read


@dataclass(frozen=True)
class Signal:
    kind: str      # maintenance | lock_waits | replication_lag
    message: str


def signals(conn: psycopg.Connection, relations: list[str], policy) -> list[Signal]:
    """The busy signals on now for ``relations`` (qualified names), as ``policy`` (params.health)
    asks. An empty list means: go on."""
    out: list[Signal] = []
    oids = [r[0] for r in conn.execute(
        "SELECT to_regclass(n)::oid FROM unnest(%s::text[]) n WHERE to_regclass(n) IS NOT NULL",
        (relations,)).fetchall()]
    if oids and policy.maintenance:
        rows = conn.execute(
            # VACUUM, ANALYZE and concurrent index builds hold ShareUpdateExclusiveLock on the table
            "SELECT format('%%I.%%I', n.nspname, c.relname), a.backend_type "
            "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'ShareUpdateExclusiveLock' "
            "  AND l.relation = ANY(%s::oid[]) AND l.pid <> pg_backend_pid()",
            (oids,)).fetchall()
        for rel, backend in rows:
            who = "autovacuum" if backend == "autovacuum worker" else \
                "maintenance (VACUUM, ANALYZE or a concurrent index build)"
            out.append(Signal("maintenance", f"{who} is working on {rel}"))
    if oids and policy.lock_waits:
        rows = conn.execute(
            # a session that works on the table (holds or wants a lock on it) and waits for a lock:
            # on the table, on one of its rows (a transaction id), on anything
            "SELECT DISTINCT w.pid, format('%%I.%%I', n.nspname, c.relname) "
            "FROM pg_locks w JOIN pg_locks h ON h.pid = w.pid AND h.relation = ANY(%s::oid[]) "
            "JOIN pg_class c ON c.oid = h.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT w.granted AND w.pid <> pg_backend_pid() "
            # a wait shorter than lock_wait_ms is ordinary contention between application sessions
            "  AND (w.waitstart IS NULL OR w.waitstart < clock_timestamp() - make_interval(secs => %s))",
            (oids, policy.lock_wait_ms / 1000)).fetchall()
        if rows:
            tables = sorted({r[1] for r in rows})
            n = len({r[0] for r in rows})
            out.append(Signal("lock_waits", f"{n} session(s) working on {', '.join(tables)} wait for a lock"))
    if policy.max_replication_lag_s:
        lag = conn.execute(
            "SELECT max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))) FROM pg_stat_replication"
        ).fetchone()[0]
        if lag is not None and float(lag) > policy.max_replication_lag_s:
            out.append(Signal("replication_lag", f"replication lag {float(lag):.1f}s exceeds "
                                                 f"{policy.max_replication_lag_s:g}s"))
    end_read(conn)
    return out
