"""Lock-timeout-and-retry, and the advisory lock that serialises operators.

Every transaction that takes a strong lock runs through ``with_lock_retries``: each attempt
sets ``lock_timeout`` locally; on SQLSTATE 55P03 (lock_not_available) the attempt rolls back,
sleeps, and tries with the next, longer timeout (GitLab's with_lock_retries). The application
therefore never queues behind us for longer than the current attempt's timeout, and no attempt
waits longer than half the server's deadlock_timeout (``deadlock_safe_ms``).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import psycopg
from psycopg import errors

from .errors import LockTimeoutExhausted, RunLocked

T = TypeVar("T")

# one key for the whole runbook: hashtext('cqms_migrate') computed once, fixed here
ADVISORY_LOCK_KEY = 0x43514D53  # 'CQMS'


def lock_settings(timeout_ms: int, statement_timeout_s: int) -> list[str]:
    """What every lock-retried transaction runs first (lint renders the same text)."""
    return [f"SET LOCAL lock_timeout = '{int(timeout_ms)}ms'", f"SET LOCAL statement_timeout = '{int(statement_timeout_s)}s'"]


def deadlock_safe_ms(conn: psycopg.Connection) -> int:
    """The longest lock wait that keeps the application safe from our deadlocks: half the
    server's deadlock_timeout. A runbook transaction that holds one lock and waits for another
    an application transaction holds, while that one waits for ours, is a deadlock; the server
    aborts whichever waiter checks first, after deadlock_timeout. Giving up sooner makes the
    runbook the one that yields (and retries), never the application (seen in issue 10: a
    1000 ms attempt on enable_rls deadlocked a login's sync). Cached per connection."""
    cached = getattr(conn, "_cqms_deadlock_safe_ms", None)
    if cached is None:
        ms = conn.execute("SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'").fetchone()[0]
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS and not conn.autocommit:
            conn.commit()
        cached = max(20, int(ms) // 2)
        try:
            conn._cqms_deadlock_safe_ms = cached
        except AttributeError:  # pragma: no cover - a connection class without attributes
            pass
    return cached


def _retrying(conn: psycopg.Connection, attempt: Callable[[int], T], attempts: list[tuple[int, float]],
              what: str, log: Callable[[str], None] | None) -> tuple[T, int]:
    """``attempt(timeout_ms)`` per row of the lock-retry table (each timeout capped at
    deadlock_safe_ms), sleeping after a lock timeout; (result, attempts used), or
    LockTimeoutExhausted once the table is spent."""
    last: Exception | None = None
    cap = deadlock_safe_ms(conn)
    for n, (asked_ms, sleep_s) in enumerate(attempts, start=1):
        timeout_ms = min(int(asked_ms), cap)
        try:
            return attempt(timeout_ms), n
        except errors.LockNotAvailable as e:
            last = e
            if log:
                log(f"{what}: lock not granted within {timeout_ms} ms (attempt {n}/{len(attempts)}); "
                    f"retrying in {sleep_s}s")
            time.sleep(sleep_s)
    raise LockTimeoutExhausted(
        f"{what}: could not get its lock in {len(attempts)} attempts (last lock_timeout "
        f"{min(int(attempts[-1][0]), cap)} ms): {str(last).strip().splitlines()[0] if last else ''}; find the blocker "
        "in pg_stat_activity / pg_locks and retry, or raise lock_retries in params"
    )


def with_lock_retries(conn: psycopg.Connection, work: Callable[[psycopg.Connection], T], *,
                      attempts: list[tuple[int, float]], statement_timeout_s: int = 0,
                      what: str = "statement", log: Callable[[str], None] | None = None) -> tuple[T, int]:
    """Run ``work(conn)`` in one transaction, retrying on lock timeout. Returns (result, attempts used)."""
    if conn.autocommit:
        raise ValueError("with_lock_retries needs a non-autocommit connection")
    if getattr(conn, "_num_transactions", 0):
        raise ValueError("with_lock_retries must own its transaction, not run inside another one")
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        # an implicit transaction left open by a read would turn ours into a savepoint and
        # leave the work uncommitted: close it first
        conn.commit()

    def attempt(timeout_ms: int) -> T:
        with conn.transaction():
            for setting in lock_settings(timeout_ms, statement_timeout_s):
                conn.execute(setting)
            return work(conn)

    return _retrying(conn, attempt, attempts, what, log)


def run_in_one_round_trip(conn: psycopg.Connection, stmt: str, *, attempts: list[tuple[int, float]],
                          statement_timeout_s: int = 0, what: str = "statement",
                          log: Callable[[str], None] | None = None) -> tuple[int, int]:
    """``stmt`` (SQL text, no parameters) in a transaction of its own, retried on lock timeout
    like ``with_lock_retries``, but sent with its lock settings as one simple query: the server
    runs the statements as one implicit transaction and commits it the moment the last one ends.
    No client round trip sits between the locks the statement takes and its commit, so an
    application write that waits for those locks waits for the statement alone, never for the
    runner's process being scheduled (issue 21: a COMMIT waited 2.9 s behind a merge chunk that
    sat "idle in transaction" while the runner was starved of CPU). An error rolls the whole
    query back on the server. Returns (rows the statements reported, attempts used)."""
    if getattr(conn, "_num_transactions", 0):
        raise ValueError("run_in_one_round_trip must own its transaction, not run inside another one")
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.commit()

    def attempt(timeout_ms: int) -> int:
        settings = lock_settings(timeout_ms, statement_timeout_s)
        cur = conn.execute(";\n".join(settings + [stmt.strip().rstrip(";")]))
        rows, results = 0, 0
        while True:
            results += 1
            if results > len(settings) and cur.rowcount and cur.rowcount > 0:
                rows += cur.rowcount
            if not cur.nextset():
                return rows

    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        return _retrying(conn, attempt, attempts, what, log)
    finally:
        conn.autocommit = was_autocommit


def acquire_run_lock(conn: psycopg.Connection) -> None:
    """Session advisory lock: two operators cannot run phases on one database at once."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]
    if not conn.autocommit:
        conn.commit()
    if not got:
        holder = conn.execute(
            "SELECT a.pid, a.usename, a.application_name, a.client_addr::text, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted LIMIT 1",
            (ADVISORY_LOCK_KEY & 0xFFFFFFFF,),
        ).fetchone()
        if not conn.autocommit:
            conn.commit()
        who = f"pid {holder[0]} ({holder[1]}, {holder[2]}, since {holder[4]:%Y-%m-%d %H:%M})" if holder else "another session"
        raise RunLocked(f"another migration run holds the runbook lock: {who}; wait for it to finish")


def release_run_lock(conn: psycopg.Connection) -> None:
    if conn.closed:
        return
    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    if not conn.autocommit:
        conn.commit()
