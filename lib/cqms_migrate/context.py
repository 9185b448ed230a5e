"""PhaseContext: what a phase notebook (or the CLI) holds while it works on a database.

Opening one validates params, checks the confirmation, connects (the URL never leaves this
object), takes the runbook's advisory lock, installs the ledger and records a run row — in
that order, so bad input stops before anything is touched.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import subprocess
import sys
import uuid
from typing import Callable

import pandas as pd
import psycopg

from . import ledger as ledger_mod
from . import prerequisites
from .db import Target, connect, end_read, resolve_target, server_version
from .errors import CheckFailed, CqmsError, PhaseOrderError
from .locks import acquire_run_lock, release_run_lock
from .params import Params, check_confirmation, load_params, redacted
from .paths import project_root

TOOL_VERSION = "0.1.0"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(project_root()), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(project_root()), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


class PhaseContext:
    def __init__(self, phase: str, *, env: str = "local", params_file: str | None = None, run_id: str | None = None,
                 confirm: str | None = None, dry_run: bool = False, action: str = "deploy",
                 log: Callable[[str], None] | None = None, params: Params | None = None, progress: bool = True):
        self.phase = phase
        self.action = "dry_run" if dry_run and action == "deploy" else action
        self.dry_run = dry_run
        self.progress = progress  # progress bars of batched jobs
        self.params = params or load_params(env, params_file or None)
        check_confirmation(self.params, confirm)
        self.env = self.params.env
        self.run_id = run_id or os.environ.get("CQMS_RUN_ID") or new_run_id()
        self._log = log or (lambda m: print(m, flush=True))
        self.target: Target = resolve_target(self.params)
        self.conn: psycopg.Connection = connect(self.target, application_name=f"{self.params.application_name}:{phase}")
        self.conn.execute("SET idle_in_transaction_session_timeout = '10min'")
        end_read(self.conn)
        self._closed = False
        try:
            acquire_run_lock(self.conn)
            # what the phases will use, before anything is written: a run that changes something
            # stops here, naming it; preflight goes on read-only (no ledger) and says NO-GO
            self.prerequisites_missing = (prerequisites.missing(self.conn)
                                          if self.action in ("deploy", "dry_run", "preflight") else [])
            if self.prerequisites_missing and phase != "00_preflight":
                raise CheckFailed(prerequisites.one_line(self.prerequisites_missing))
            if not self.prerequisites_missing and (not dry_run or ledger_mod.exists(self.conn)):
                ledger_mod.install(self.conn)
            self.has_ledger = ledger_mod.exists(self.conn)
            self.ledger = ledger_mod.Ledger(self.conn, self.run_id, present=self.has_ledger)
            end_read(self.conn)
            if self.has_ledger:
                self.ledger.start_run(env=self.env, phase=phase, action=self.action, params=redacted(self.params),
                                      tool_version=TOOL_VERSION, git_commit=git_commit())
        except BaseException:
            self.conn.close()
            raise

    # -- display -------------------------------------------------------------------------
    def log(self, message: str) -> None:
        self._log(f"[{dt.datetime.now():%H:%M:%S}] {message}")

    def describe(self) -> pd.DataFrame:
        c = self.conn
        row = c.execute(
            "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_database()"
        ).fetchone()
        end_read(c)
        info = {
            "phase": self.phase,
            "action": self.action,
            "env": self.env,
            "run_id": self.run_id,
            "database": self.target.description,
            "url_from": self.target.source,
            "server_version": server_version(c),
            "connected_as": row[0],
            "superuser": row[1],
            "dry_run": self.dry_run,
            "tool_version": TOOL_VERSION,
            "git_commit": git_commit(),
            "operator": getpass.getuser(),
        }
        end_read(c)
        return pd.DataFrame({"value": [str(v) for v in info.values()]}, index=list(info.keys()))

    # -- phase ordering --------------------------------------------------------------------
    def require_phase(self, phase_name: str, steps: list[str]) -> None:
        applied = set(self.ledger.applied_steps(phase_name)) if self.has_ledger else set()
        missing = [s for s in steps if s not in applied]
        if missing and self.dry_run:
            self.log(f"dry run: phase {phase_name} is not applied yet; rendering {self.phase} anyway")
            return
        if missing:
            raise PhaseOrderError(
                f"{self.phase} needs phase {phase_name} applied first (missing steps: {', '.join(missing[:3])}"
                f"{'...' if len(missing) > 3 else ''}); run it with `cqms-migrate run --env {self.env} --through {phase_name}`"
            )

    def close(self, status: str = "succeeded", message: str | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.conn.rollback()
            if self.has_ledger:
                self.ledger.finish_run(self.phase, self.action, status, message)
            release_run_lock(self.conn)
        finally:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.close("succeeded")
        else:
            msg = exc.one_line() if isinstance(exc, CqmsError) else f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            try:
                self.close("failed", msg)
            except psycopg.Error:
                pass
        return False


def in_notebook() -> bool:
    return "ipykernel" in sys.modules
