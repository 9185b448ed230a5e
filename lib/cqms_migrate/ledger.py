"""The ledger schema (cqms_migration): runs, step history, applied steps, checkpoints,
quarantine, legacy checksums, metrics and the application's feature flags."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from .db import end_read
from .paths import SQL_DIR

if TYPE_CHECKING:  # pragma: no cover
    from .steps import Rendered, Step

SCHEMA = "cqms_migration"


def install(conn: psycopg.Connection) -> None:
    """Create the ledger if missing (idempotent), in its own committed transaction."""
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute((SQL_DIR / "ledger.sql").read_text())


def exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('cqms_migration.applied_steps') IS NOT NULL").fetchone()[0]


class Ledger:
    """The ledger of one run. ``present`` is False only in a dry run on a database that has
    never been migrated (a dry run creates nothing): reads then answer "nothing applied" and
    recordings are skipped."""

    def __init__(self, conn: psycopg.Connection, run_id: str, present: bool = True):
        self.conn = conn
        self.run_id = run_id
        self.present = present

    def now(self):
        value = self.conn.execute("SELECT clock_timestamp()").fetchone()[0]
        end_read(self.conn)
        return value

    # -- runs --------------------------------------------------------------------------
    def start_run(self, *, env: str, phase: str, action: str, params: dict, tool_version: str,
                  git_commit: str | None) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO cqms_migration.runs (run_id, env, phase, action, params, tool_version, git_commit, client_host) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, inet_client_addr()::text) "
                "ON CONFLICT (run_id, phase, action) DO UPDATE SET status = 'running', started_at = clock_timestamp(), "
                "finished_at = NULL, message = NULL",
                (self.run_id, env, phase, action, Jsonb(params), tool_version, git_commit),
            )

    def finish_run(self, phase: str, action: str, status: str, message: str | None = None) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE cqms_migration.runs SET status = %s, message = %s, finished_at = clock_timestamp() "
                "WHERE run_id = %s AND phase = %s AND action = %s",
                (status, message, self.run_id, phase, action),
            )

    # -- steps -------------------------------------------------------------------------
    def is_applied(self, phase: str, step: str) -> bool:
        if not self.present:
            return False
        row = self.conn.execute(
            "SELECT 1 FROM cqms_migration.applied_steps WHERE phase = %s AND step = %s", (phase, step)
        ).fetchone()
        end_read(self.conn)
        return row is not None

    def applied_steps(self, phase: str | None = None) -> list[str]:
        if not self.present:
            return []
        rows = self.conn.execute(
            "SELECT step FROM cqms_migration.applied_steps WHERE %s::text IS NULL OR phase = %s ORDER BY ordinal",
            (phase, phase),
        ).fetchall()
        end_read(self.conn)
        return [r[0] for r in rows]

    def mark_applied(self, conn, step: "Step", rendered: "Rendered", started_at, rows: int) -> None:
        conn.execute(
            "INSERT INTO cqms_migration.applied_steps (phase, step, ordinal, run_id, sql_sha256) VALUES (%s,%s,%s,%s,%s)",
            (step.phase, step.name, step.ordinal, self.run_id, rendered.sha256),
        )
        self._history(conn, step, "deploy", "applied", rendered, started_at, rows, None)

    def mark_reverted(self, conn, step: "Step", rendered: "Rendered", started_at, rows: int) -> None:
        conn.execute("DELETE FROM cqms_migration.applied_steps WHERE phase = %s AND step = %s",
                     (step.phase, step.name))
        self._history(conn, step, "revert", "reverted", rendered, started_at, rows, None)

    def record_failure(self, step: "Step", action: str, rendered: "Rendered", started_at, message: str) -> None:
        with self.conn.transaction():
            self._history(self.conn, step, action, "failed", rendered, started_at, None, message)

    def _history(self, conn, step, action, status, rendered, started_at, rows, message) -> None:
        conn.execute(
            "INSERT INTO cqms_migration.steps (run_id, phase, step, action, status, started_at, rows_affected, "
            "sql_sha256, sql_text, message) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (self.run_id, step.phase, step.name, action, status, started_at, rows, rendered.sha256,
             rendered.text, message),
        )

    # -- flags, metrics, checksums ---------------------------------------------------------
    def set_flag(self, flag: str, enabled: bool, conn: psycopg.Connection | None = None) -> None:
        c = conn or self.conn
        c.execute(
            "UPDATE cqms_migration.feature_flags SET enabled = %s, updated_at = clock_timestamp(), "
            "updated_by_run = %s WHERE flag = %s",
            (enabled, self.run_id, flag),
        )
        if conn is None:
            end_read(self.conn)

    def flag(self, flag: str) -> bool:
        if not self.present:
            return False
        v = self.conn.execute("SELECT enabled FROM cqms_migration.feature_flags WHERE flag = %s", (flag,)).fetchone()
        end_read(self.conn)
        return bool(v and v[0])

    def record_metric(self, phase: str, name: str, value) -> None:
        if not self.present:
            return
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO cqms_migration.metrics (run_id, phase, name, value) VALUES (%s,%s,%s,%s)",
                (self.run_id, phase, name, Jsonb(json.loads(json.dumps(value, default=str)))),
            )

    def frame(self, query: str, params=None) -> pd.DataFrame:
        cur = self.conn.execute(query, params)
        cols = [d.name for d in cur.description]
        df = pd.DataFrame(cur.fetchall(), columns=cols)
        end_read(self.conn)
        return df


def status_frame(conn: psycopg.Connection) -> pd.DataFrame:
    if not exists(conn):
        return pd.DataFrame(columns=["phase", "step", "applied_at", "run_id"])
    cur = conn.execute(
        "SELECT phase, step, applied_at, run_id, left(sql_sha256, 12) AS sql_sha256 "
        "FROM cqms_migration.applied_steps ORDER BY phase, ordinal"
    )
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

