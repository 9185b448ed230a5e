"""merge_employees: the mapping applied to every email, a chunk of emails per transaction, and
its revert in chunks (decisions 1.33, 1.34)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...db import end_read
from ...steps import Rendered, SqlStep
from .shaped import HERE

# legacy rows (users + people) per merge chunk: about a thousand people, a fraction of a second;
# and bytes of their text (as the merge reads it: a compressed value costs what it holds): a
# people sheet holding 2 MB names took 4.4 s in one chunk at the 1M-audit rehearsal, a legacy
# writer's wait at commit; the merge costs about 0.3 s per 2 MB row, so a person past 1 MB merges
# alone (decision 1.33)
MERGE_CHUNK_ROWS = 2000
MERGE_CHUNK_BYTES = 1024 * 1024
# the revert waits at most this long for the transactions that could still link to an employee
# it retired (a longer one risks only the runbook's delete, retried by running the revert again)
UNMERGE_WAIT_S = 30


@dataclass
class MergeEmployees(SqlStep):
    """The mapping applied to every email, a chunk of emails per transaction
    (cqms_migration.p01_merge_chunk): a legacy writer waits for one chunk at most. The chunks are
    cut from the rows' counts and sizes (ranges of the normalized email); verify then reconciles
    every row in one snapshot. The revert runs chunk by chunk too (render_revert)."""

    transactional: bool = False
    revert_in_one_transaction: bool | None = False

    def render_revert(self, ctx) -> Rendered:
        """Retire each chunk's employees, wait for the transactions that could still link to
        them, delete each chunk's, then the lock rows and the phase's quarantine (decision 1.34)."""
        exists = ctx.conn.execute("SELECT to_regclass('public.employees') IS NOT NULL").fetchone()[0]
        emails = [r[0] for r in ctx.conn.execute(
            "SELECT DISTINCT lower(btrim(email)) COLLATE \"C\" FROM public.employees ORDER BY 1").fetchall()] \
            if exists else []
        end_read(ctx.conn)
        step = max(1, MERGE_CHUNK_ROWS // 2)   # about as many employees as a merge chunk holds people
        bounds = emails[step - 1:-1:step]
        ranges = list(zip([None] + bounds, bounds + [None]))
        chunk = "SELECT cqms_migration.p01_unmerge_chunk({}, {}, {})"
        lit = lambda v: sql.Literal(v).as_string(ctx.conn)  # noqa: E731
        return Rendered(
            [chunk.format(lit(a), lit(b), "false") for a, b in ranges]
            + [f"SELECT cqms_migration.p01_unmerge_wait({UNMERGE_WAIT_S})"]
            + [chunk.format(lit(a), lit(b), "true") for a, b in ranges]
            + [(HERE / "revert" / "merge_employees.sql").read_text()], separate=True)

    def revert(self, ctx, conn, rendered) -> int:
        return self.run_separately(ctx, conn, rendered, "revert chunk")

    def render_deploy(self, ctx) -> Rendered:
        # per normalized email, in "C" order: its legacy rows and the bytes of their text (a
        # compressed 2 MB value counts 2 MB); cut greedily into ranges of at most MERGE_CHUNK_ROWS
        # rows and MERGE_CHUNK_BYTES bytes (a person bigger than that alone)
        emails = ctx.conn.execute(sql.SQL(
            "SELECT x.ne, count(*), sum(x.bytes) FROM (SELECT coalesce(lower(btrim({pe})), '') AS ne, octet_length(p::text) "
            "AS bytes FROM public.people p UNION ALL SELECT coalesce(lower(btrim({ue})), ''), octet_length(u::text) "
            "FROM public.users u) x GROUP BY 1 ORDER BY x.ne COLLATE \"C\"").format(
                pe=self._email(ctx, "people", "p"), ue=self._email(ctx, "users", "u"))).fetchall()
        end_read(ctx.conn)
        bounds, rows, size, last = [], 0, 0, None
        for ne, n, b in emails:
            if rows and (rows + n > MERGE_CHUNK_ROWS or size + b > MERGE_CHUNK_BYTES):
                bounds.append(last)   # the chunk so far ends at the previous email
                rows, size = 0, 0
            rows, size, last = rows + n, size + b, ne
        ranges = list(zip([None] + bounds, bounds + [None]))
        return Rendered([sql.SQL("SELECT cqms_migration.p01_merge_chunk({}, {})").format(
            sql.Literal(after), sql.Literal(upto)).as_string(ctx.conn) for after, upto in ranges], separate=True)

    @staticmethod
    def _email(ctx, table: str, alias: str):
        from ... import legacy_shape
        return legacy_shape.discover(ctx.conn)[table].raw("email", alias)

    def deploy(self, ctx, conn, rendered) -> int:
        return self.run_separately(ctx, conn, rendered, "chunk")
