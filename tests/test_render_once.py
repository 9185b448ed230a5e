"""What runs is what the ledger records (issue 22): for every step of every phase in the
registry, deployed one at a time and then reverted one at a time, every statement the runner's
connection executed for the step is either in the text the ledger recorded for it
(cqms_migration.steps.sql_text) or among the statements it recorded as it ran
(cqms_migration.step_statements); and, except for a step whose rendering is only its plan's first
unit (the batched backfill), every recorded statement was executed.

The statements are observed at the connection (a cursor that logs what it sends), not taken from
the step: a step that rendered one text and ran another, or ran a statement it never recorded,
fails here. What is not the step's own work is told apart by its form: the runner's session
settings, its reads, the ledger's bookkeeping, and the step's verify.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from audit_helpers import write_params

LEDGER = re.compile(r"\bcqms_migration\.(runs|steps|applied_steps|checkpoints|batches|batch_decisions|metrics|"
                    r"step_statements)\b")
WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|VACUUM|REINDEX|"
                    r"COMMENT|LOCK|CALL|DO)\b", re.I)
# the runbook's functions that only read (called by renders and verifies)
READERS = re.compile(r"\bcqms_migration\.(p01_expected|to_\w+|vocab_key|ref_code|audit_uuid)\s*\(")


class Trace:
    """Every statement a connection sends through its cursors, as text, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bool]] = []
        trace = self

        class Tracing(psycopg.Cursor):
            def execute(self, query, params=None, **kw):
                if isinstance(query, sql.Composable):
                    text = query.as_string(self.connection)
                else:
                    text = query.decode() if isinstance(query, bytes) else query
                # a statement sent with its lock settings in one round trip
                # (locks.run_in_one_round_trip): the settings, then the statement as rendered
                parts = text.split(";\n", 2) if params is None else []
                if len(parts) == 3 and parts[0].startswith("SET LOCAL lock_timeout") \
                        and parts[1].startswith("SET LOCAL statement_timeout"):
                    trace.log.extend((p, False) for p in parts)
                else:
                    trace.log.append((text, params is not None))
                return super().execute(query, params, **kw)

        self.cursor = Tracing


def _norm(text: str) -> str:
    return text.strip().rstrip(";").strip()


def _code(text: str) -> str:
    """The statement without its leading comment lines (templates open with one)."""
    lines = text.strip().splitlines()
    while lines and lines[0].lstrip().startswith("--"):
        lines.pop(0)
    return "\n".join(lines).strip()


def _not_the_steps_work(text: str, verify_texts: set[str]) -> bool:
    # its code without comments and string literals: a word in them is no statement
    code = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", _code(text)))
    if re.match(r"(SET|RESET|SHOW)\b", code, re.I) or _norm(text) in verify_texts:
        return True
    if re.match(r"SELECT\s+set_config\(", code, re.I):
        return True
    if LEDGER.search(code) and not re.search(r"\bpublic\.", code):
        return True   # the ledger's own rows (history, checkpoints, metrics)
    if re.match(r"(SELECT|WITH)\b", code, re.I):
        functions = [m for m in re.findall(r"\bcqms_migration\.\w+\s*\(", code)]
        return not WRITES.search(code) and all(READERS.match(f) for f in functions)
    return False


def _find(recorded: str, stmt: str, cursor: int) -> int:
    """Where ``stmt`` is one whole statement of ``recorded`` (after ``cursor`` first), or -1."""
    for start in (cursor, 0):
        pos = start
        while (pos := recorded.find(stmt, pos)) >= 0:
            end = pos + len(stmt)
            if (pos == 0 or recorded[:pos].endswith(";\n")) and recorded[end:end + 2] == ";\n":
                return pos
            pos += 1
    return -1


def _check(trace_window, recorded: str, runtime: list[str], verify_texts: set[str], plans_at_run_time: bool,
           what: str) -> list[str]:
    problems = []
    pending = [_norm(t) for t in runtime]
    spans: set[tuple[int, int]] = set()
    cursor = 0
    for text, has_params in trace_window:
        stmt = _norm(text)
        if not has_params and stmt in pending:
            pending.remove(stmt)
            continue
        found = -1 if has_params else _find(recorded, stmt, cursor)
        if found >= 0:
            spans.add((found, found + len(stmt)))
            cursor = found + len(stmt)
        elif not _not_the_steps_work(text, verify_texts):
            problems.append(f"{what}: executed, not recorded: {stmt[:160]!r}")
    if pending:
        problems.append(f"{what}: recorded as run but never executed: {pending[0][:160]!r}")
    if not plans_at_run_time and recorded.strip():
        rebuilt = ";\n".join(recorded[a:b] for a, b in sorted(spans)) + ";\n"
        if rebuilt != recorded:
            problems.append(f"{what}: recorded but not executed ({len(recorded) - len(rebuilt)} characters of "
                            f"{len(recorded)}): {recorded[:160]!r}")
    return problems


def _recorded(db, run_id: str, phase: str, step: str, action: str) -> tuple[str, list[str]]:
    with db.connect(autocommit=True) as c:
        text = c.execute("SELECT sql_text FROM cqms_migration.steps WHERE run_id = %s AND phase = %s AND step = %s "
                         "AND action = %s ORDER BY id DESC LIMIT 1", (run_id, phase, step, action)).fetchone()[0]
        runtime = [r[0] for r in c.execute(
            "SELECT sql_text FROM cqms_migration.step_statements WHERE run_id = %s AND phase = %s AND step = %s "
            "AND action = %s ORDER BY id", (run_id, phase, step, action)).fetchall()]
    return text, runtime


@pytest.mark.parametrize("partition", ["none", "yearly"])
def test_every_step_executes_exactly_what_the_ledger_records(server, legacy_db, tmp_path, partition):
    if partition == "none" and server.kind != "system-15":
        pytest.skip("the unpartitioned shape once, on PostgreSQL 15 (the partitioned one on both)")
    # small batches: the backfill runs several per table, sized as it goes (not the rendered first)
    pfile = write_params(tmp_path, partition_audits=partition, batch_size=100, batch_min_rows=50)
    problems: list[str] = []
    checked = runtime_total = 0
    with_steps = [ph for ph in phases.PHASES if ph.name != "00_preflight"]
    assert len(with_steps) >= 2
    for ph in with_steps:
        with PhaseContext(ph.name, env="local", params_file=pfile) as ctx:
            trace = Trace()
            ctx.conn.cursor_factory = trace.cursor
            for step in ph.steps(ctx):
                start = len(trace.log)
                assert phases.deploy(ctx, [step])[0].status == "applied", step.name
                verify_texts = {_norm(s) for s in step.render_verify(ctx).statements}
                text, runtime = _recorded(legacy_db, ctx.run_id, ph.name, step.name, "deploy")
                runtime_total += len(runtime)
                problems += _check(trace.log[start:len(trace.log)], text, runtime, verify_texts, step.plans_at_run_time,
                                   f"{ph.name}/{step.name} deploy")
                checked += 1
    for ph in reversed(with_steps):
        with PhaseContext(ph.name, env="local", params_file=pfile, action="rollback") as ctx:
            trace = Trace()
            ctx.conn.cursor_factory = trace.cursor
            for step in reversed(ph.steps(ctx)):
                start = len(trace.log)
                assert phases.revert(ctx, [step])[0].status == "reverted", step.name
                text, runtime = _recorded(legacy_db, ctx.run_id, ph.name, step.name, "revert")
                problems += _check(trace.log[start:], text, runtime, set(), False, f"{ph.name}/{step.name} revert")
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 40
    # the backfill's batches, the baseline and the index builds' sessions were recorded as they ran
    assert runtime_total > 0


def test_the_check_fails_on_a_statement_run_but_not_recorded():
    """The comparison itself: a step that ran one more statement than it recorded, or recorded
    one it never ran, is caught."""
    recorded = "CREATE TABLE public.a (x int);\nCREATE TABLE public.b (x int);\n"
    ran = [("CREATE TABLE public.a (x int)", False), ("CREATE TABLE public.b (x int)", False)]
    assert _check(ran, recorded, [], set(), False, "ok") == []
    assert _check(ran + [("DROP TABLE public.c", False)], recorded, [], set(), False, "extra")
    assert _check(ran[:1], recorded, [], set(), False, "missing")
    assert _check(ran[:1], recorded, [], set(), True, "planned") == []
    assert _check(ran, recorded, ["REINDEX INDEX public.i"], set(), False, "runtime never ran")
    assert _check(ran + [("SELECT cqms_migration.p01_merge_chunk(NULL, NULL)", False)], recorded, [], set(), False,
                  "a writing function")
    assert _check(ran + [("SELECT count(*) FROM public.people", False), ("SET lock_timeout = '1s'", False)],
                  recorded, [], set(), False, "reads and settings") == []
