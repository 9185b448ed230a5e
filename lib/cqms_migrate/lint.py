"""`cqms-migrate lint`: every statement of every phase, rendered as it will run (the dynamic tables
expanded from the connected database, the executor's own settings included), checked with squawk
and with the rules squawk lacks.

A unit is what runs in one transaction (or, for concurrent index builds, one autocommit session).
squawk (PyPI squawk-cli) reads each unit; ``--assume-in-transaction`` for those in a transaction.
Our rules:

  refresh-not-concurrently       REFRESH MATERIALIZED VIEW without CONCURRENTLY
  legacy-ddl-without-lock-retry  DDL on a legacy table in a step not run under the lock-retry helper
  function-without-search-path   a SECURITY DEFINER or trigger function without a fixed search_path
  several-legacy-locks           one transaction taking strong locks on more than one legacy table
                                 (writers queue on the tables already held while it waits for the next)
  no-statement-timeout           a unit that runs without a statement_timeout

Waivers sit next to the statement, with their reason on the line before:
  -- lint waived: <reason>
  -- squawk-ignore <rule>[, <rule>]        (or squawk-ignore-file)
  -- cqms-lint-ignore <rule>               (our rules)
A squawk or cqms ignore without a reason line is itself a finding (waiver-without-reason).
Rule-wide waivers, each with its reason, are in RULE_WAIVERS below.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import inventory, phases
from .errors import CqmsError

# squawk rules waived for whole kinds of unit, with the reason
RULE_WAIVERS: dict[tuple[str, str], str] = {
    ("revert", "ban-drop-table"): "a revert drops the tables its deploy created (never a legacy table)",
    ("revert", "ban-drop-column"): "a revert drops the columns its deploy added",
    ("revert", "ban-drop-function"): "a revert drops the functions its deploy created",
    ("revert", "ban-drop-type"): "a revert drops the types its deploy created (the phase-1 mapping's row types)",
    ("revert", "ban-drop-view"): "a revert drops the views its deploy created (the compat views)",
    ("revert", "ban-drop-constraint"): "a revert drops the constraints its deploy added",
    ("revert", "ban-drop-schema"): "a revert drops the schema its deploy created (cqms_security, empty by then)",
    ("deploy", "prefer-bigint-over-int"): "integer columns as the seed's schema defines them (counts, levels, "
                                          "seconds: far below 2^31)",
    ("deploy", "prefer-bigint-over-smallint"): "as the seed's schema defines them",
    ("deploy", "prefer-identity"): "the seed's schema uses uuid keys; the one serial-like key is an identity",
    ("deploy", "prefer-text-field"): "as the seed's schema defines them",
    ("deploy", "prefer-timestamptz"): "as the seed's schema defines them",
}

STRONG_DDL = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+\S+.*?\bON\s+(?P<t1>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)"
    r"|DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?\S+\s+ON\s+(?P<t2>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)"
    r"|ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<t3>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)"
    r"|LOCK\s+(?:TABLE\s+)?(?P<t4>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)"
    r"|CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF\s+NOT\s+EXISTS\s+)?\S*\s*ON\s+(?:ONLY\s+)?(?P<t5>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)"
    r"|TRUNCATE\s+(?:TABLE\s+)?(?P<t6>(?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?))",
    re.I | re.S)


class LintFailed(CqmsError):
    """`cqms-migrate lint` found a statement that is neither fixed nor waived."""

    exit_code = 12


@dataclass
class Unit:
    phase: str
    step: str
    action: str           # deploy | revert
    index: int
    text: str
    in_transaction: bool
    lock_retried: bool = True


def split_statements(text: str) -> list[str]:
    """Split SQL into statements at top-level semicolons (quotes, dollar quotes, comments honoured)."""
    out, buf, i, n = [], [], 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(text[i:j])
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            buf.append(text[i:j])
            i = j
        elif ch in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i:j + 1])
            i = j + 1
        elif ch == "$" and (m := re.match(r"\$[A-Za-z_]*\$", text[i:])):
            tag = m.group(0)
            j = text.find(tag, i + len(tag))
            j = n if j < 0 else j + len(tag)
            buf.append(text[i:j])
            i = j
        elif ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def _code(stmt: str) -> str:
    """The statement without its leading comment lines."""
    return "\n".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--")).strip()


def _unquote(name: str) -> str:
    return name.split(".")[-1].strip('"')


def units(ctx, phase_names: list[str] | None = None) -> list[Unit]:
    out = []
    for ph in phases.PHASES:
        if phase_names and ph.name not in phase_names:
            continue
        for step in ph.steps(ctx):
            for action in ("deploy", "revert"):
                for i, (text, in_tx) in enumerate(step.execution_units(ctx, action), start=1):
                    out.append(Unit(ph.name, step.name, action, i, text, in_tx, step.lock_retried))
    return out


def _custom(unit: Unit, legacy: set[str]) -> list[dict]:
    found = []
    statements = split_statements(unit.text)

    def add(rule, stmt, detail):
        found.append({"rule": rule, "source": "cqms", "statement": _code(stmt)[:160], "detail": detail})

    touched: dict[str, str] = {}
    for stmt in statements:
        code = _code(stmt)
        if re.match(r"^\s*REFRESH\s+MATERIALIZED\s+VIEW\s+(?!CONCURRENTLY)", code, re.I):
            add("refresh-not-concurrently", stmt, "blocks every reader of the view while it refreshes")
        if re.match(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?FUNCTION", code, re.I):
            head = code[:code.find(" AS ")] if " AS " in code else code
            definer = re.search(r"SECURITY\s+DEFINER", code, re.I)
            trigger = re.search(r"RETURNS\s+trigger", code, re.I)
            if (definer or trigger) and not re.search(r"SET\s+search_path", head + code[-400:], re.I):
                add("function-without-search-path", stmt, "a SECURITY DEFINER or trigger function needs SET search_path")
        m = STRONG_DDL.match(code)
        if m:
            table = _unquote(next(g for g in m.groups() if g))
            if table in legacy:
                touched.setdefault(table, stmt)
                if not unit.lock_retried:
                    add("legacy-ddl-without-lock-retry", stmt, f"DDL on legacy table {table} outside with_lock_retries")
    if unit.in_transaction and len(touched) > 1:
        add("several-legacy-locks", next(iter(touched.values())),
            f"one transaction takes strong locks on {len(touched)} legacy tables: {', '.join(sorted(touched))[:200]}")
    if not re.search(r"statement_timeout", unit.text, re.I) and any(_code(s) for s in statements):
        add("no-statement-timeout", unit.text, "runs without a statement_timeout")
    return found


def _cqms_waived(unit: Unit, rule: str) -> str | None:
    lines = unit.text.splitlines()
    for k, ln in enumerate(lines):
        m = re.match(r"^\s*--\s*cqms-lint-ignore\s+([\w\-, ]+)", ln)
        if m and rule in [r.strip() for r in m.group(1).split(",")]:
            prev = lines[k - 1] if k else ""
            r = re.match(r"^\s*--\s*lint waived:\s*(.+)$", prev)
            return r.group(1).strip() if r else None
    return None


def _unexplained_ignores(unit: Unit) -> list[dict]:
    found = []
    lines = unit.text.splitlines()
    for k, ln in enumerate(lines):
        if re.match(r"^\s*(--|/\*)\s*(squawk-ignore|cqms-lint-ignore)", ln):
            prev = lines[k - 1] if k else ""
            if not re.match(r"^\s*--\s*lint waived:\s*\S", prev):
                found.append({"rule": "waiver-without-reason", "source": "cqms", "statement": ln.strip()[:160],
                              "detail": "put '-- lint waived: <reason>' on the line before"})
    return found


def squawk_binary() -> str:
    """squawk of this Python's environment (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if not found:
        raise CqmsError("squawk is not installed: pip install -r requirements.txt (squawk-cli)")
    return found


def _squawk(batch: list[tuple[int, Unit]], in_transaction: bool, workdir: Path) -> dict[int, list[dict]]:
    if not batch:
        return {}
    files = {}
    for key, unit in batch:
        path = workdir / f"u{key:04d}.sql"
        path.write_text(unit.text.rstrip().rstrip(";") + ";\n")
        files[path.name] = key
    cfg = workdir / ".squawk.toml"   # explicit, so no config above the checkout applies
    cfg.write_text('pg_version = "15.0"\n')
    args = [squawk_binary(), "-c", str(cfg), "--reporter", "json"]
    if in_transaction:
        args.append("--assume-in-transaction")
    r = subprocess.run(args + sorted(files), cwd=workdir, capture_output=True, text=True, timeout=300)
    if r.returncode not in (0, 1):
        raise CqmsError(f"squawk failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[:300]}")
    out: dict[int, list[dict]] = {}
    for item in json.loads(r.stdout or "[]"):
        key = files.get(Path(item["file"]).name)
        if key is None:
            continue
        unit = dict(batch)[key]
        lines = unit.text.splitlines()
        line = lines[item["line"]] if 0 <= item["line"] < len(lines) else ""
        out.setdefault(key, []).append({"rule": item["rule_name"], "source": "squawk", "statement": line.strip()[:160],
                                        "detail": item["message"][:200], "level": item.get("level")})
    return out


def run(ctx, phase_names: list[str] | None = None) -> pd.DataFrame:
    """Every finding: phase, step, action, unit, rule, source, statement, detail, waived, reason."""
    inv = inventory.discover(ctx.conn, with_counts=False)
    # and the names phases give legacy tables (the revert of a rename alters the table under its new name)
    legacy = set(inv.legacy_table_names()) | {new for _, new in phases.renamed_tables()}
    all_units = units(ctx, phase_names)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cqms-lint-") as tmp:
        work = Path(tmp)
        keyed = list(enumerate(all_units))
        squawked = {**_squawk([(k, u) for k, u in keyed if u.in_transaction], True, work),
                    **_squawk([(k, u) for k, u in keyed if not u.in_transaction], False, work)}
    for k, unit in keyed:
        for f in squawked.get(k, []) + _custom(unit, legacy) + _unexplained_ignores(unit):
            reason = None
            if f["source"] == "squawk":
                reason = RULE_WAIVERS.get((unit.action, f["rule"]))
            elif f["rule"] != "waiver-without-reason":
                reason = _cqms_waived(unit, f["rule"])
            rows.append({"phase": unit.phase, "step": unit.step, "action": unit.action, "unit": unit.index,
                         "rule": f["rule"], "source": f["source"], "statement": f["statement"],
                         "detail": f["detail"], "waived": reason is not None, "reason": reason or ""})
    df = pd.DataFrame(rows, columns=["phase", "step", "action", "unit", "rule", "source", "statement", "detail",
                                     "waived", "reason"])
    df.attrs["units"] = len(all_units)
    return df


def raise_if_unwaived(findings: pd.DataFrame) -> None:
    bad = findings[~findings["waived"]] if len(findings) else findings
    if len(bad):
        first = bad.iloc[0]
        raise LintFailed(f"lint: {len(bad)} unwaived finding(s); first: {first['rule']} in {first['phase']}/"
                         f"{first['step']} {first['action']}: {first['statement'][:80]!r} — fix it or waive it "
                         "with a reason next to the statement")
