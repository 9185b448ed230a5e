"""The ledger schema (cqms_migration): runs, step history, applied steps, checkpoints,
quarantine, legacy checksums, metrics and the application's feature flags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from .db import end_read
from .paths import SQL_DIR

if TYPE_CHECKING:  # pragma: no cover
    from .steps import Rendered, Step

SCHEMA = "cqms_migration"


@dataclass
class Checkpoint:
    """A batched job's saved state (cqms_migration.checkpoints)."""

    job: str
    position: dict | None
    rows_done: int
    batches_done: int
    finished: bool
    next_rows: int | None


def install(conn: psycopg.Connection) -> None:
    """Create the ledger if missing (idempotent), in its own committed transaction."""
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute((SQL_DIR / "ledger.sql").read_text())


def exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('cqms_migration.applied_steps') IS NOT NULL").fetchone()[0]


def json_safe(value):
    """``value`` as JSON can hold it: NaN and infinities (pandas' missing numbers, say a
    reconciliation row of a table excluded by decision) become null, other objects their text."""
    import math

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.loads(json.dumps(clean(json.loads(json.dumps(value, default=str))), allow_nan=False))


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
            "INSERT INTO cqms_migration.applied_steps (phase, step, ordinal, run_id, sql_sha256) VALUES (%s,%s,%s,%s,%s) "
            "ON CONFLICT (phase, step) DO UPDATE SET run_id = EXCLUDED.run_id, sql_sha256 = EXCLUDED.sql_sha256",
            (step.phase, step.name, step.ordinal, self.run_id, rendered.sha256),
        )  # a conflict: a step re-applied because the legacy shape changed (Step.stale)
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

    def record_statement(self, conn, phase: str, step: str, action: str, text: str) -> None:
        """A statement a step decided while it ran (cqms_migration.step_statements), inside
        ``conn``'s transaction (a batch's statements commit with their record) or, in autocommit,
        on its own just after the statement ran."""
        if not self.present:
            return
        from .steps import sha256_text
        conn.execute("INSERT INTO cqms_migration.step_statements (run_id, phase, step, action, sql_sha256, sql_text) "
                     "VALUES (%s,%s,%s,%s,%s,%s)", (self.run_id, phase, step, action, sha256_text(text), text))

    # -- batched jobs: checkpoints, batch log, decisions ---------------------------------------
    def checkpoint(self, job: str) -> "Checkpoint | None":
        if not self.present:
            return None
        row = self.conn.execute(
            "SELECT position, rows_done, batches_done, finished, next_rows FROM cqms_migration.checkpoints "
            "WHERE job = %s", (job,)).fetchone()
        end_read(self.conn)
        return Checkpoint(job, *row) if row else None

    def save_checkpoint(self, conn, *, job: str, phase: str, position: dict, rows: int, batches: int,
                        finished: bool, next_rows: int | None) -> None:
        """Upsert a job's position, adding ``rows`` and ``batches`` to its totals. Called inside the
        batch's own transaction, so the position and the batch's writes commit together."""
        conn.execute(
            "INSERT INTO cqms_migration.checkpoints (job, phase, position, rows_done, batches_done, finished, next_rows) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (job) DO UPDATE SET position = EXCLUDED.position, "
            "rows_done = checkpoints.rows_done + EXCLUDED.rows_done, "
            "batches_done = checkpoints.batches_done + EXCLUDED.batches_done, finished = EXCLUDED.finished, "
            "next_rows = EXCLUDED.next_rows, updated_at = clock_timestamp()",
            (job, phase, Jsonb(position), rows, batches, finished, next_rows))

    def log_batch(self, conn, *, phase: str, job: str, batch: int, position_from: dict, position_to: dict,
                  target_rows: int, rows_read: int, rows_written: int, rows_quarantined: int, seconds: float,
                  next_rows: int) -> None:
        conn.execute(
            "INSERT INTO cqms_migration.batches (run_id, phase, job, batch, position_from, position_to, target_rows, "
            "rows_read, rows_written, rows_quarantined, seconds, next_rows) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (self.run_id, phase, job, batch, Jsonb(position_from), Jsonb(position_to), target_rows, rows_read,
             rows_written, rows_quarantined, seconds, next_rows))

    def log_decision(self, *, phase: str, job: str, batch: int | None, decision: str, reason: str,
                     detail: dict | None = None, conn=None) -> None:
        """Record a batch-engine decision: inside ``conn``'s transaction, or in its own."""
        if not self.present:
            return
        stmt = ("INSERT INTO cqms_migration.batch_decisions (run_id, phase, job, batch, decision, reason, detail) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s)")
        args = (self.run_id, phase, job, batch, decision, reason,
                Jsonb(json.loads(json.dumps(detail, default=str))) if detail is not None else None)
        if conn is not None:
            conn.execute(stmt, args)
        else:
            with self.conn.transaction():
                self.conn.execute(stmt, args)

    def batches(self, phase: str, run_id: str | None = None) -> pd.DataFrame:
        if not self.present:
            return pd.DataFrame()
        return self.frame(
            "SELECT job, batch, target_rows, rows_read, rows_written, rows_quarantined, seconds, next_rows, "
            "finished_at, run_id FROM cqms_migration.batches WHERE phase = %s AND (%s::text IS NULL OR run_id = %s) "
            "ORDER BY id", (phase, run_id, run_id))

    def decisions(self, phase: str, run_id: str | None = None) -> pd.DataFrame:
        if not self.present:
            return pd.DataFrame()
        return self.frame(
            "SELECT job, batch, decision, reason, detail, decided_at FROM cqms_migration.batch_decisions "
            "WHERE phase = %s AND (%s::text IS NULL OR run_id = %s) ORDER BY id", (phase, run_id, run_id))

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
                (self.run_id, phase, name, Jsonb(json_safe(value))),
            )

    def frame(self, query: str, params=None) -> pd.DataFrame:
        cur = self.conn.execute(query, params)
        cols = [d.name for d in cur.description]
        df = pd.DataFrame(cur.fetchall(), columns=cols)
        end_read(self.conn)
        return df


def fail_running_runs(conn: psycopg.Connection, run_id: str, message: str) -> None:
    """Mark the runs of ``run_id`` still 'running' as failed (a notebook that raised never closed its own)."""
    if not exists(conn):
        return
    conn.execute("UPDATE cqms_migration.runs SET status = 'failed', finished_at = clock_timestamp(), message = %s "
                 "WHERE run_id = %s AND status = 'running'", (message[:500], run_id))
    conn.commit()


def flags_frame(conn: psycopg.Connection) -> pd.DataFrame | None:
    """The application's feature flags (None before the ledger exists)."""
    if not conn.execute("SELECT to_regclass('cqms_migration.feature_flags') IS NOT NULL").fetchone()[0]:
        return None
    cur = conn.execute("SELECT flag, enabled, updated_at FROM cqms_migration.feature_flags ORDER BY flag")
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def status_frame(conn: psycopg.Connection) -> pd.DataFrame:
    if not exists(conn):
        return pd.DataFrame(columns=["phase", "step", "applied_at", "run_id"])
    cur = conn.execute(
        "SELECT phase, step, applied_at, run_id, left(sql_sha256, 12) AS sql_sha256 "
        "FROM cqms_migration.applied_steps ORDER BY phase, ordinal"
    )
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

