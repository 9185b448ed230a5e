"""DDL helpers phases share: concurrent index builds, on a table or on every partition of one.

CREATE INDEX CONCURRENTLY refuses a transaction, so these statements run in autocommit under
the lock-retry table of params: on a lock timeout the invalid index the failed build left is
dropped and the build retried with the next, longer lock_timeout; each statement has a statement
timeout (params.index_statement_timeout_s). An index that already exists is skipped (IF NOT
EXISTS), an invalid one left by a killed run is rebuilt. Statements come from a phase's .sql file
of plain `CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> ON <table> <definition>;` lines.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from .common_steps import template
from .db import end_read
from .errors import LockTimeoutExhausted
from .steps import Rendered, Step, compose

_INDEX = re.compile(r"^CREATE INDEX CONCURRENTLY IF NOT EXISTS (\w+) ON public\.(\w+) (.+)$", re.S)


def read_indexes(path: Path) -> list[tuple[str, str, str]]:
    """(name, table, definition) of each statement of an index file."""
    from .lint import split_statements
    out = []
    for stmt in split_statements(path.read_text()):
        code = "\n".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--")).strip()
        m = _INDEX.match(code)
        if not m:
            raise ValueError(f"{path.name}: not a `CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON public.t ...`: {code[:80]}")
        out.append((m.group(1), m.group(2), m.group(3).strip()))
    return out


@dataclass
class ConcurrentIndexes(Step):
    """Builds the indexes of ``index_file``; ``partitions(ctx)`` names the partitions when the
    table is partitioned (then: ON ONLY the parent, concurrently per partition, ATTACH)."""

    index_file: Path = field(default_factory=Path)
    transactional: bool = False

    def partitions(self, ctx) -> list[str]:
        return []

    def _session(self, ctx, lock_timeout_ms: int) -> sql.Composable:
        return template("index_session").format(lock_timeout=sql.Literal(f"{int(lock_timeout_ms)}ms"),
                                                statement_timeout=sql.Literal(f"{int(ctx.params.index_statement_timeout_s)}s"))

    def _builds(self, ctx) -> list[sql.Composable]:
        parts = self.partitions(ctx)
        out: list[sql.Composable] = []
        for name, table, definition in read_indexes(self.index_file):
            d = sql.SQL(definition)   # our own file's text, never data
            if not parts:
                out.append(template("index_partition").format(name=sql.Identifier(name),
                                                              table=sql.Identifier("public", table), definition=d))
                continue
            out.append(template("index_parent").format(name=sql.Identifier(name), table=sql.Identifier("public", table),
                                                       definition=d))
            for p in parts:
                child = f"{name[:40]}_{p.removeprefix(table + '_')}"
                out.append(template("index_partition").format(name=sql.Identifier(child),
                                                              table=sql.Identifier("public", p), definition=d))
                out.append(template("index_attach").format(parent=sql.Identifier("public", name),
                                                           child=sql.Identifier("public", child)))
        return out

    def _drops(self, ctx) -> list[sql.Composable]:
        # a partitioned index cannot be dropped concurrently: dropping the parent's drops the
        # partitions' (a short lock on each, under the lock-retry table)
        how = sql.SQL("" if self.partitions(ctx) else "CONCURRENTLY")
        return [template("index_drop").format(concurrently=how, name=sql.Identifier("public", name))
                for name, _, _ in read_indexes(self.index_file)]

    def render_deploy(self, ctx) -> Rendered:
        # each statement commits on its own; this is the first attempt, with the first lock_timeout
        return Rendered([compose(ctx.conn, s) for s in [self._session(ctx, ctx.params.lock_retries[0][0]),
                                                         *self._builds(ctx)]], separate=True)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, s) for s in [self._session(ctx, ctx.params.lock_retries[0][0]),
                                                         *self._drops(ctx)]], separate=True)

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        # autocommit: one session, its SETs apply to every statement after them
        rendered = self.render_deploy(ctx) if action == "deploy" else self.render_revert(ctx)
        return [(rendered.text, False)]

    def deploy(self, ctx, conn, rendered) -> int:
        return self._run(ctx, conn, rendered, "deploy", "indexes", progress=ctx.progress)

    def revert(self, ctx, conn, rendered) -> int:
        self._run(ctx, conn, rendered, "revert", "drop indexes")
        return 0

    def _invalid(self, conn) -> list[str]:
        tables = sorted({t for _, t, _ in read_indexes(self.index_file)})
        return [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "LEFT JOIN pg_inherits h ON h.inhrelid = t.oid LEFT JOIN pg_class parent ON parent.oid = h.inhparent "
            "WHERE n.nspname = 'public' AND NOT i.indisvalid AND t.relkind = 'r' "
            "  AND (t.relname = ANY(%s) OR parent.relname = ANY(%s))", (tables, tables)).fetchall()]

    def _run(self, ctx, conn: psycopg.Connection, rendered: Rendered, action: str, what: str,
             progress: bool = False) -> int:
        """``rendered``: the session's settings for the first attempt, then the statements. A
        retry's longer lock_timeout, the drop of what a failed build left and the rebuild of an
        invalid index are decided here, and recorded as they run (Step.record)."""
        from .progress import iterate
        session, *statements = rendered.statements
        last = [session]
        end_read(conn)
        conn.autocommit = True
        try:
            for text in iterate(statements, what, unit="statements", enabled=progress):
                if " ATTACH PARTITION " in text and conn.execute(
                        "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE c.relname = %s)", (text.rsplit(".", 1)[1].strip().rstrip(";").strip('"'),)).fetchone()[0]:
                    continue
                self._retried(ctx, conn, action, last, lambda text=text: conn.execute(text), text, drop_invalid=True)
            # an interrupted concurrent build (a killed runner) leaves an INVALID index: rebuild it
            for name in self._invalid(conn):
                stmt = sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier("public", name))
                self._retried(ctx, conn, action, last, lambda stmt=stmt: conn.execute(self.record(ctx, conn, action, stmt)),
                              compose(conn, stmt), drop_invalid=False)
            conn.execute("RESET lock_timeout")
            conn.execute("RESET statement_timeout")
        finally:
            conn.autocommit = False
        return len(statements)

    def _retried(self, ctx, conn: psycopg.Connection, action: str, last: list[str], work, text: str,
                 drop_invalid: bool) -> None:
        """``work()`` under each lock_timeout of params.lock_retries in turn. Before each attempt:
        the session's settings (recorded when they differ from the ones that ran last), and, for a
        build, the drop of any INVALID index a failed build left (CREATE INDEX ... IF NOT EXISTS
        would take it for built); that drop waits for locks too, so it is inside the attempt."""
        for n, (timeout_ms, sleep_s) in enumerate(ctx.params.lock_retries, start=1):
            current = compose(conn, self._session(ctx, timeout_ms))
            conn.execute(current if current == last[0] else self.record(ctx, conn, action, current))
            last[0] = current
            try:
                if drop_invalid:
                    for name in self._invalid(conn):
                        conn.execute(self.record(ctx, conn, action, template("index_drop").format(
                            concurrently=sql.SQL("CONCURRENTLY"), name=sql.Identifier("public", name))))
                work()
                return
            except psycopg.errors.LockNotAvailable:
                if n == len(ctx.params.lock_retries):
                    raise LockTimeoutExhausted(
                        f"{self.phase}/{self.name}: `{text[:80]}` could not get its lock in {n} attempts; "
                        "find the blocker in pg_stat_activity / pg_locks and re-run (built indexes are kept)"
                    ) from None
                ctx.log(f"{self.name}: lock not granted within {timeout_ms} ms (attempt {n}); retrying in {sleep_s}s")
                time.sleep(sleep_s)


@dataclass
class LegacyTableDdl(Step):
    """DDL on tables the application uses (the legacy ones): each script (one per table, or one
    change that must be atomic, such as a rename and the view that takes the old name) in a
    transaction of its own, under params.legacy_lock_retries: many short attempts, because while
    an ALTER or a CREATE TRIGGER waits for its lock every reader of the table queues behind it.
    A re-run after a partial install replays the scripts, so they are written to replay (OR
    REPLACE, IF EXISTS). Subclasses say what: ``install`` and ``remove``."""

    transactional: bool = False

    def install(self, ctx) -> list[str]:
        raise NotImplementedError

    def remove(self, ctx) -> list[str]:
        raise NotImplementedError

    def render_deploy(self, ctx) -> Rendered:
        return Rendered(self.install(ctx), separate=True)

    def render_revert(self, ctx) -> Rendered:
        return Rendered(self.remove(ctx), separate=True)

    def deploy(self, ctx, conn, rendered) -> int:
        return self.run_separately(ctx, conn, rendered, "table", ctx.params.legacy_lock_retries)

    def revert(self, ctx, conn, rendered) -> int:
        return self.run_separately(ctx, conn, rendered, "table", ctx.params.legacy_lock_retries)
