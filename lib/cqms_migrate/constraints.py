"""Constraints on tables that already hold rows the application writes, added without stopping it.

A foreign key or a CHECK added plainly scans the whole table under a lock that blocks its writers
(ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables for the scan). Here each is added
``NOT VALID`` first (the lock only for the catalog change, under the lock-retry table: new rows
are checked from then on), then validated in a transaction of its own: VALIDATE CONSTRAINT takes
SHARE UPDATE EXCLUSIVE on the table (writers go on) and ROW SHARE on the referenced one.

A validation that finds rows breaking the constraint drops what the step added and fails with the
count and an example: nothing is left half-done, and the phase's quarantine (which should have
taken those rows first) is where to look. A NOT NULL is a validated CHECK (col IS NOT NULL) the
same way; PostgreSQL 12+ then sets NOT NULL without a scan, which a phase does in its own step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .errors import CheckFailed
from .locks import lock_settings, with_lock_retries
from .steps import Rendered, Step, compose


@dataclass(frozen=True)
class ForeignKey:
    table: str                       # in public
    name: str
    columns: tuple[str, ...]
    ref_table: str                   # in public
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"     # NO ACTION | RESTRICT | CASCADE | SET NULL
    on_update: str = "NO ACTION"

    def definition(self) -> sql.Composable:
        for what, action in (("DELETE", self.on_delete), ("UPDATE", self.on_update)):
            if action not in ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL"):
                raise ValueError(f"{self.name}: ON {what} {action}?")
        return sql.SQL("FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}").format(
            sql.SQL(", ").join(map(sql.Identifier, self.columns)), sql.Identifier("public", self.ref_table),
            sql.SQL(", ").join(map(sql.Identifier, self.ref_columns)), sql.SQL(self.on_delete), sql.SQL(self.on_update))

    def violations(self) -> sql.Composable:
        """Rows of the table whose key is set and matches no referenced row (MATCH SIMPLE)."""
        on = sql.SQL(" AND ").join(sql.SQL("r.{} = t.{}").format(sql.Identifier(rc), sql.Identifier(c))
                                   for c, rc in zip(self.columns, self.ref_columns))
        set_ = sql.SQL(" AND ").join(sql.SQL("t.{} IS NOT NULL").format(sql.Identifier(c)) for c in self.columns)
        return sql.SQL("SELECT count(*), min(row(t.*)::text) FROM {} t WHERE {} AND NOT EXISTS "
                       "(SELECT 1 FROM {} r WHERE {})").format(
            sql.Identifier("public", self.table), set_, sql.Identifier("public", self.ref_table), on)


@dataclass(frozen=True)
class Check:
    table: str
    name: str
    expression: str                  # our own SQL text, never data: "employee_id IS NOT NULL"

    def definition(self) -> sql.Composable:
        return sql.SQL("CHECK ({})").format(sql.SQL(self.expression))

    def violations(self) -> sql.Composable:
        return sql.SQL("SELECT count(*), min(row(t.*)::text) FROM {} t WHERE NOT coalesce(({}), true)").format(
            sql.Identifier("public", self.table), sql.SQL(self.expression))


@dataclass
class ValidatedConstraints(Step):
    """Adds ``constraints`` NOT VALID (one lock-retried transaction each), then validates each in
    a transaction of its own. Revert: drops them, one table per transaction. Re-run after a crash
    between the two: the add drops and re-adds the constraint in one ALTER (idempotent)."""

    constraints: tuple[ForeignKey | Check, ...] = field(default_factory=tuple)
    transactional: bool = False
    revert_in_one_transaction: bool | None = False

    def _alter(self, c, clause: sql.Composable) -> sql.Composable:
        return sql.SQL("ALTER TABLE {} {}").format(sql.Identifier("public", c.table), clause)

    def _add(self, c) -> sql.Composable:
        # the drop is of this very constraint, left NOT VALID by an attempt that stopped before
        # its validation: the re-add is the same definition (idempotent), no rows are unchecked
        return sql.SQL("-- lint waived: re-adds the same constraint a stopped attempt left NOT VALID\n"
                       "-- squawk-ignore ban-drop-constraint\n{}").format(
            self._alter(c, sql.SQL("DROP CONSTRAINT IF EXISTS {name}, ADD CONSTRAINT {name} {definition} NOT VALID")
                        .format(name=sql.Identifier(c.name), definition=c.definition())))

    def _drop(self, c) -> sql.Composable:
        return self._alter(c, sql.SQL("DROP CONSTRAINT IF EXISTS {}").format(sql.Identifier(c.name)))

    def render_deploy(self, ctx) -> Rendered:
        adds = [compose(ctx.conn, self._add(c)) for c in self.constraints]
        validates = [compose(ctx.conn, self._alter(c, sql.SQL("VALIDATE CONSTRAINT {}").format(sql.Identifier(c.name))))
                     for c in self.constraints]
        return Rendered(adds + validates, separate=True)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, self._drop(c)) for c in reversed(self.constraints)], separate=True)

    def render_verify(self, ctx) -> Rendered:
        names = sql.SQL(", ").join(sql.Literal(f"{c.table}.{c.name}") for c in self.constraints)
        return Rendered([compose(ctx.conn, sql.SQL(
            "DO $$ DECLARE missing text; BEGIN SELECT string_agg(x, ', ') INTO missing FROM unnest(ARRAY[{}]) x "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' "
            "AND t.relname || '.' || k.conname = x AND k.convalidated); "
            "IF missing IS NOT NULL THEN RAISE EXCEPTION 'constraints missing or not validated: %', missing; END IF; "
            "END $$").format(names))]) if self.constraints else Rendered([])

    def execution_units(self, ctx, action: str) -> list[tuple[str, bool]]:
        """Each statement in its own transaction; the validations under the index build's
        statement timeout (a scan of the table), as deploy runs them."""
        rendered = self.render_deploy(ctx) if action == "deploy" else self.render_revert(ctx)
        catalog_only = len(self.constraints) if action == "deploy" else len(rendered.statements)
        out = []
        for i, stmt in enumerate(rendered.statements):
            timeout = ctx.params.statement_timeout_s if i < catalog_only else ctx.params.index_statement_timeout_s
            pre = ";\n".join(lock_settings(ctx.params.lock_retries[0][0], timeout))
            out.append((pre + ";\n" + stmt.strip().rstrip(";") + ";\n", True))
        return out

    def deploy(self, ctx, conn: psycopg.Connection, rendered: Rendered) -> int:
        n = len(self.constraints)
        adds, validates = Rendered(rendered.statements[:n], True), Rendered(rendered.statements[n:], True)
        try:
            self.run_separately(ctx, conn, adds, "add NOT VALID")
            # a long scan: the statement timeout of an index build, not of a catalog change
            self.run_separately(ctx, conn, validates, "validate", statement_timeout_s=ctx.params.index_statement_timeout_s)
        except Exception as e:
            # whatever stopped it (a breaking row, locks not granted), nothing stays half-added: a
            # NOT VALID constraint left behind would refuse new writes without being validated
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            broken = isinstance(e, (psycopg.errors.ForeignKeyViolation, psycopg.errors.CheckViolation))
            found = self._first_violation(conn) if broken else None
            self._drop_all(ctx, conn)
            if broken:
                raise CheckFailed(f"{self.phase}/{self.name}: {found or str(e).splitlines()[0]}; the constraints were "
                                  "dropped again (quarantine those rows first)") from None
            raise
        return n

    def revert(self, ctx, conn: psycopg.Connection, rendered: Rendered) -> int:
        return self.run_separately(ctx, conn, rendered, "drop")

    def _drop_all(self, ctx, conn: psycopg.Connection) -> None:
        """Decided at run time (a deploy that failed): each constraint dropped in a lock-retried
        transaction of its own, recorded as it runs (Step.record)."""
        for c in self.constraints:
            stmt = self._drop(c)
            with_lock_retries(conn, lambda k, stmt=stmt: k.execute(self.record(ctx, k, "deploy", stmt)),
                              attempts=ctx.params.lock_retries, statement_timeout_s=ctx.params.statement_timeout_s,
                              what=f"{self.phase}/{self.name} drop after a failed deploy", log=ctx.log)

    def _first_violation(self, conn: psycopg.Connection) -> str | None:
        for c in self.constraints:
            count, example = conn.execute(c.violations()).fetchone()
            conn.rollback()
            if count:
                return f"{c.name}: {count} rows of public.{c.table} break it, e.g. {(example or '')[:200]}"
        return None

