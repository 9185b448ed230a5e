"""Steps: the unit of change. Each has deploy / verify / revert and knows if it is applied.

Rendering is kept apart from execution: ``render_deploy`` / ``render_revert`` return the exact
SQL that will run (dry run, review and lint read it). ``Executor`` renders once, records that text
in the ledger and hands the same object to the step's ``deploy`` / ``revert``, which execute it
and nothing else, except statements only the run can decide (a batch's page range, an index build
retried under a longer lock_timeout): those are recorded as they run (``Step.record``,
cqms_migration.step_statements).

A SQL step's deploy, its verify, and the ledger row recording it commit in ONE transaction:
a crash leaves the step wholly applied or wholly absent, and a verify that raises undoes the
deploy. Steps that cannot be one transaction (batched backfills) subclass ``Step`` and keep
their own checkpoints.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from .errors import CheckFailed, StepError
from .locks import lock_settings, run_in_one_round_trip, with_lock_retries

if TYPE_CHECKING:  # pragma: no cover
    from .context import PhaseContext


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Rendered:
    """What a step will execute, as text (for the ledger, dry runs and lint).

    ``separate``: each element runs in a transaction of its own (a step that touches many
    legacy tables one at a time, a concurrent index build); otherwise the step's statements run
    in one transaction."""

    statements: list[str]
    separate: bool = False

    @property
    def text(self) -> str:
        return ";\n".join(s.strip().rstrip(";") for s in self.statements if s.strip()) + ";\n"

    @property
    def sha256(self) -> str:
        return sha256_text(self.text)


def compose(conn: psycopg.Connection, composed: sql.Composable | str) -> str:
    return composed if isinstance(composed, str) else composed.as_string(conn)


@dataclass
class Step:
    phase: str
    name: str
    summary: str
    ordinal: int = 0

    # -- rendering (no side effects) -------------------------------------------------
    def render_deploy(self, ctx: "PhaseContext") -> Rendered:
        raise NotImplementedError

    def render_revert(self, ctx: "PhaseContext") -> Rendered:
        raise NotImplementedError

    def render_verify(self, ctx: "PhaseContext") -> Rendered:
        return Rendered([])

    # -- execution hooks (override for Python steps): they execute ``rendered``, the object the
    # executor recorded, never a second rendering of it ---------------------------------------
    def deploy(self, ctx: "PhaseContext", conn: psycopg.Connection, rendered: Rendered) -> int:
        return _execute(conn, rendered)

    def verify(self, ctx: "PhaseContext", conn: psycopg.Connection) -> None:
        rendered = self.render_verify(ctx)
        try:
            _execute(conn, rendered)
        except psycopg.errors.RaiseException as e:
            raise CheckFailed(f"{self.phase}/{self.name} verify: {e.diag.message_primary}") from None

    def revert(self, ctx: "PhaseContext", conn: psycopg.Connection, rendered: Rendered) -> int:
        return _execute(conn, rendered)

    def record(self, ctx: "PhaseContext", conn: psycopg.Connection, action: str, statement) -> str:
        """Record a statement decided at run time (see the module's docstring) in ``conn``'s
        transaction; returns its text, which is what the caller then executes."""
        text = compose(conn, statement)
        ctx.ledger.record_statement(conn, self.phase, self.name, action, text)
        return text

    # a step that runs its own transactions (backfill, concurrent indexes, one legacy table at a
    # time) says so; its deploy/revert then get the connection outside any transaction
    transactional: bool = True

    # every transaction of the step runs under locks.with_lock_retries
    lock_retried: bool = True
    # a step whose deploy runs its own transactions may still revert in one (None: as deploy)
    revert_in_one_transaction: bool | None = None
    # its deploy and verify read one snapshot (REPEATABLE READ): for a step that copies what the
    # legacy rows hold now and whose verify checks that copy while the application writes
    one_snapshot: bool = False
    # objects its revert leaves on purpose (a write fence that a later revert removes)
    revert_leaves: tuple[str, ...] = ()
    # its rendered deploy is the plan's first unit (each table's first batch); what runs is
    # decided as it runs and recorded then (Step.record): the batched backfill
    plans_at_run_time: bool = False

    def after_revert_committed(self, ctx: "PhaseContext") -> None:
        """Called once the revert and its ledger row committed (the flag step waits there)."""

    def found_unrecorded(self, ctx: "PhaseContext") -> str | None:
        """Why the rollback must revert this step although the ledger does not record it (None:
        it need not). A step whose work commits before its ledger row (its own transactions) and
        whose leftover would stay behind a rollback says what the catalog shows of it."""
        return None

    def stale(self, ctx: "PhaseContext") -> str | None:
        """Why an applied step must be applied again (None: it need not): a step built from the
        legacy shape says so when that shape changed (a new scorecard table, a column added,
        dropped or retyped). Its deploy then renders and applies only what changed."""
        return None

    @property
    def revert_transactional(self) -> bool:
        return self.transactional if self.revert_in_one_transaction is None else self.revert_in_one_transaction

    def execution_units(self, ctx: "PhaseContext", action: str) -> list[tuple[str, bool]]:
        """What runs, as (SQL text, in a transaction?) per transaction, the executor's own
        settings included: what lint checks."""
        rendered = self.render_deploy(ctx) if action == "deploy" else self.render_revert(ctx)
        pre = ";\n".join(lock_settings(ctx.params.lock_retries[0][0], ctx.params.statement_timeout_s)) + ";\n"
        one = self.transactional if action == "deploy" else self.revert_transactional
        if one or not rendered.separate:
            return [(pre + rendered.text, True)] if rendered.statements else []
        return [(pre + s.strip().rstrip(";") + ";\n", True) for s in rendered.statements if s.strip()]

    def run_separately(self, ctx: "PhaseContext", conn: psycopg.Connection, rendered: Rendered, what: str,
                       attempts: list | None = None, statement_timeout_s: int | None = None) -> int:
        """Each statement of ``rendered`` in its own lock-retried transaction (no statement waits
        for a lock while the previous ones' locks are held), sent with its settings as one
        round trip: it commits on the server the moment it ends (locks.run_in_one_round_trip)."""
        rows = 0
        for i, stmt in enumerate(rendered.statements, start=1):
            if not stmt.strip():
                continue
            n, _ = run_in_one_round_trip(conn, stmt, attempts=attempts or ctx.params.lock_retries,
                                         statement_timeout_s=statement_timeout_s or ctx.params.statement_timeout_s,
                                         what=f"{self.phase}/{self.name} {what} {i}/{len(rendered.statements)}",
                                         log=ctx.log)
            rows += n
        return rows


def _execute(conn: psycopg.Connection, rendered: Rendered) -> int:
    rows = 0
    for stmt in rendered.statements:
        if not stmt.strip():
            continue
        cur = conn.execute(stmt)
        if cur.rowcount and cur.rowcount > 0:
            rows += cur.rowcount
    return rows


@dataclass
class SqlStep(Step):
    """A step whose deploy/verify/revert are SQL files: <phase dir>/{deploy,verify,revert}/<name>.sql"""

    directory: Path = field(default_factory=Path)

    def _file(self, kind: str) -> Path:
        return self.directory / kind / f"{self.name}.sql"

    def _load(self, kind: str) -> Rendered:
        path = self._file(kind)
        if not path.exists():
            return Rendered([])
        return Rendered([path.read_text()])

    def render_deploy(self, ctx) -> Rendered:
        return self._load("deploy")

    def render_verify(self, ctx) -> Rendered:
        return self._load("verify")

    def render_revert(self, ctx) -> Rendered:
        return self._load("revert")


@dataclass
class StepOutcome:
    phase: str
    step: str
    action: str
    status: str  # applied | skipped | reverted | failed | planned
    rows: int = 0
    seconds: float = 0.0
    attempts: int = 0
    message: str = ""


class Executor:
    """Applies and reverts steps through the lock-retry helper, recording each in the ledger."""

    def __init__(self, ctx: "PhaseContext"):
        self.ctx = ctx

    def is_applied(self, step: Step) -> bool:
        return self.ctx.ledger.is_applied(step.phase, step.name)

    def deploy(self, step: Step) -> StepOutcome:
        ctx = self.ctx
        if self.is_applied(step):
            reason = step.stale(ctx)
            if not reason:
                ctx.log(f"{step.name}: already applied, skipping")
                return StepOutcome(step.phase, step.name, "deploy", "skipped", message="already applied")
            ctx.log(f"{step.name}: applied, but out of date ({reason}): applying again")
        rendered = step.render_deploy(ctx)
        if ctx.dry_run:
            ctx.log(f"{step.name}: would deploy (sha256 {rendered.sha256[:12]}):\n{rendered.text}")
            return StepOutcome(step.phase, step.name, "deploy", "planned", message=rendered.text)
        started = time.time()
        started_db = ctx.ledger.now()
        try:
            if step.transactional:
                def work(conn):
                    if step.one_snapshot:   # the lock settings before it take no snapshot
                        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    conn.execute("SELECT set_config('cqms.run_id', %s, true)", (ctx.run_id,))
                    rows = step.deploy(ctx, conn, rendered)
                    step.verify(ctx, conn)
                    ctx.ledger.mark_applied(conn, step, rendered, started_db, rows)
                    return rows
                rows, attempts = with_lock_retries(
                    ctx.conn, work, attempts=ctx.params.lock_retries,
                    statement_timeout_s=ctx.params.statement_timeout_s, what=f"{step.phase}/{step.name}",
                    log=ctx.log)
            else:
                rows = step.deploy(ctx, ctx.conn, rendered)
                attempts = 1
                def finish(conn):
                    step.verify(ctx, conn)
                    ctx.ledger.mark_applied(conn, step, rendered, started_db, rows)
                with_lock_retries(ctx.conn, finish, attempts=ctx.params.lock_retries,
                                  statement_timeout_s=ctx.params.statement_timeout_s,
                                  what=f"{step.phase}/{step.name} verify", log=ctx.log)
        except Exception as e:
            self._record_failure(step, "deploy", rendered, started_db, e)
            raise
        secs = time.time() - started
        ctx.log(f"{step.name}: applied ({rows} rows, {secs:.2f}s, attempt {attempts})")
        return StepOutcome(step.phase, step.name, "deploy", "applied", rows, secs, attempts)

    def revert(self, step: Step) -> StepOutcome:
        ctx = self.ctx
        if not self.is_applied(step):
            found = step.found_unrecorded(ctx)
            if not found:
                ctx.log(f"{step.name}: not applied, nothing to revert")
                return StepOutcome(step.phase, step.name, "revert", "skipped", message="not applied")
            ctx.log(f"{step.name}: not recorded as applied, but {found}: reverting it")
        rendered = step.render_revert(ctx)
        if ctx.dry_run:
            ctx.log(f"{step.name}: would revert (sha256 {rendered.sha256[:12]}):\n{rendered.text}")
            return StepOutcome(step.phase, step.name, "revert", "planned", message=rendered.text)
        started = time.time()
        started_db = ctx.ledger.now()
        try:
            if step.revert_transactional:
                def work(conn):
                    conn.execute("SELECT set_config('cqms.run_id', %s, true)", (ctx.run_id,))
                    rows = step.revert(ctx, conn, rendered)
                    ctx.ledger.mark_reverted(conn, step, rendered, started_db, rows)
                    return rows
                rows, attempts = with_lock_retries(
                    ctx.conn, work, attempts=ctx.params.lock_retries,
                    statement_timeout_s=ctx.params.statement_timeout_s, what=f"revert {step.phase}/{step.name}",
                    log=ctx.log)
            else:  # the step runs its own transactions; the ledger row follows them
                rows = step.revert(ctx, ctx.conn, rendered)
                attempts = 1
                with_lock_retries(ctx.conn, lambda c: ctx.ledger.mark_reverted(c, step, rendered, started_db, rows),
                                  attempts=ctx.params.lock_retries, statement_timeout_s=ctx.params.statement_timeout_s,
                                  what=f"revert {step.phase}/{step.name} ledger", log=ctx.log)
        except Exception as e:
            self._record_failure(step, "revert", rendered, started_db, e)
            raise
        step.after_revert_committed(ctx)
        secs = time.time() - started
        ctx.log(f"{step.name}: reverted ({rows} rows, {secs:.2f}s)")
        return StepOutcome(step.phase, step.name, "revert", "reverted", rows, secs, attempts)

    def _record_failure(self, step: Step, action: str, rendered: Rendered, started_db, error: Exception) -> None:
        ctx = self.ctx
        if ctx.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            ctx.conn.rollback()
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        try:
            ctx.ledger.record_failure(step, action, rendered, started_db, message)
        except psycopg.Error:
            ctx.conn.rollback()
        if not isinstance(error, (StepError, CheckFailed)) and isinstance(error, psycopg.Error):
            raise StepError(f"{step.phase}/{step.name} {action} failed: {message}") from error

