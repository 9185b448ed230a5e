"""Helpers and assertions the test files share (the fixtures are in conftest.py)."""

from __future__ import annotations

import time


def one(conn, query, params=None):
    """The first column of the first row."""
    return conn.execute(query, params).fetchone()[0]


def wait_until_waiting(conn, pid: int, *, unless=None, timeout: float = 10.0) -> bool:
    """Poll pg_stat_activity until backend ``pid`` waits for a lock, instead of sleeping and hoping
    it does. ``conn`` must be in autocommit: the activity view is read once per transaction.

    ``unless``: a thread running the statement that may finish without waiting; once it has
    ended, return False. Without it, a backend that does not wait within ``timeout`` seconds
    fails the test; with it, so does a thread that neither waits nor ends."""
    assert conn.autocommit, "pg_stat_activity is a snapshot per transaction: poll in autocommit"
    deadline = time.monotonic() + timeout
    while True:
        if conn.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (pid,)).fetchone() == (True,):
            return True
        if unless is not None and not unless.is_alive():
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"backend {pid} did not wait for a lock within {timeout} s"
                                 + ("" if unless is None else " and its statement did not end"))
        time.sleep(0.01)
