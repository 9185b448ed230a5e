"""Phase 1 (foundation): reference tables and one employees table from users + people,
validated, reversible, with backward-compatible views. Seed sections 2.1, 2.2, 3.2, 3.4.

Steps (deploy in order, revert in reverse):
  snapshot_legacy          checksum every legacy table (compared after a revert)
  create_reference_tables  roles, departments, teams, channels, countries
  create_employees         employees, provenance and the legacy email map
  add_circular_keys        departments.manager_id, teams.supervisor_id (after employees exists)
  load_reference_data      roles from params; departments/channels/teams/countries from legacy
  enable_rls               policies and grants for the Supabase roles (before anything writes the tables)
  install_sync_triggers    the mapping as functions; users/people writes reach employees live
  merge_employees          the mapping applied to every email; duplicates merged; bad rows quarantined
  create_compat_views      users_compat, people_compat (security_invoker)
  install_reverse_sync     employees writes reach users/people (revert: fence, then drop)
  enable_feature_flag      USE_UNIFIED_EMPLOYEES_TABLE on — only after validate() passes
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from ... import legacy_shape, outcome, quality
from ...common_steps import ComparesLegacyOnRevert, FlagStep, SnapshotLegacy, legacy_unchanged  # noqa: F401 - tests use it
from ...common_steps import saved_checksums as _saved_checksums
from ...db import end_read, one_snapshot
from ...errors import CheckFailed
from ...steps import Rendered, SqlStep, Step, compose
from ...triggers import PerTableTriggers
from ..base import Phase
from . import compat, legacy_writes

PHASE = "01_foundation"
FLAG = "USE_UNIFIED_EMPLOYEES_TABLE"
HERE = Path(__file__).resolve().parent


def shapes(ctx) -> dict[str, legacy_shape.TableShape]:
    """users and people as the catalog has them now (legacy_shape)."""
    found = legacy_shape.discover(ctx.conn)
    end_read(ctx.conn)
    return found


@dataclass
class ShapedSqlStep(SqlStep):
    """A step whose SQL files name users and people columns through placeholders
    ({people.p.email}, ...; literal braces doubled), filled from the discovered shape."""

    def _load(self, kind: str, ctx=None) -> Rendered:
        path = self._file(kind)
        if not path.exists():
            return Rendered([])
        found = shapes(ctx)
        return Rendered([compose(ctx.conn, legacy_shape.fill(path.read_text(), found, **self.statements(found)))])

    def statements(self, found: dict[str, legacy_shape.TableShape]) -> dict[str, sql.Composable]:
        """Placeholders composed whole for this step (beyond the column reads)."""
        return {}

    def render_deploy(self, ctx) -> Rendered:
        return self._load("deploy", ctx)

    def render_verify(self, ctx) -> Rendered:
        return self._load("verify", ctx)

    def render_revert(self, ctx) -> Rendered:
        return self._load("revert", ctx)


@dataclass
class LoadReferenceData(ShapedSqlStep):
    """Roles and the role mapping come from params (templates/, filled with literals: the ledger
    records exactly what ran), then the reference rows from the legacy values (deploy/)."""

    def render_deploy(self, ctx) -> Rendered:
        conn, p = ctx.conn, ctx.params
        stmts = [compose(conn, template("insert_role").format(
            name=sql.Literal(r.name), code=sql.Literal(r.code), level=sql.Literal(r.level),
            access_level=sql.Literal(r.access_level))) for r in p.roles]
        mapping = role_mapping(p)
        mapping["*default*"] = p.default_role
        stmts += [compose(conn, template("insert_role_mapping").format(legacy_role=sql.Literal(legacy),
                                                                       role_code=sql.Literal(code)))
                  for legacy, code in sorted(mapping.items())]
        stmts += [compose(conn, template("insert_country_map").format(legacy=sql.Literal(legacy), code=sql.Literal(code)))
                  for legacy, code in sorted(p.country_map.items())]
        return Rendered(stmts + super().render_deploy(ctx).statements)


def role_mapping(p) -> dict[str, str]:
    """legacy role key (vocab.key) -> role code: params' role_mapping, and every role's own name
    and code (a blank role takes default_role; any other spelling not here is unmapped)."""
    from ... import vocab
    mapping = dict(p.role_mapping)
    for r in p.roles:
        mapping.setdefault(vocab.key(r.name), r.code)
        mapping.setdefault(vocab.key(r.code), r.code)
    return mapping


@dataclass
class SyncTriggers(PerTableTriggers):
    """users + people -> employees, live: the mapping functions (templates/sync_functions.sql),
    then the statement-level triggers, one legacy table per transaction. Revert: the triggers,
    one table per transaction, then the functions and whatever the triggers wrote."""

    def install(self, ctx) -> list[str]:
        functions = compose(ctx.conn, legacy_shape.fill((HERE / "templates" / "sync_functions.sql").read_text(),
                                                        shapes(ctx))).strip().rstrip(";")
        return [functions + ";\n" + self._each(ctx, "sync_triggers", "users"),
                self._each(ctx, "sync_triggers", "people")]

    def remove(self, ctx) -> list[str]:
        return [self._each(ctx, "drop_sync_triggers", "people"), self._each(ctx, "drop_sync_triggers", "users"),
                (HERE / "templates" / "drop_sync_functions.sql").read_text()]

    def render_verify(self, ctx) -> Rendered:
        return Rendered([(HERE / "templates" / "verify_sync_triggers.sql").read_text()])

    @staticmethod
    def _each(ctx, name: str, table: str) -> str:
        return compose(ctx.conn, template(name).format(table=sql.Identifier("public", table)))


@dataclass
class CompatViews(ShapedSqlStep):
    """users_compat / people_compat composed for the discovered shape (compat.py)."""

    def statements(self, found):
        return compat.placeholders(found)


@dataclass
class ReverseSync(ShapedSqlStep):
    """employees -> users + people, installed before cutover (deploy/install_reverse_sync.sql).
    Its revert fences employees (the trigger stays behind the fence); create_employees' revert
    drops both with the table."""

    def statements(self, found):
        return legacy_writes.placeholders(found)

    revert_leaves: tuple[str, ...] = ("cqms_p01_fence", "p01_fence", "cqms_p01_reverse_sync", "p01_reverse_sync",
                                      "cqms_p01_access_follows_role", "p01_access_follows_role", "p01_access_grants")


def template(name: str) -> sql.SQL:
    return sql.SQL((HERE / "templates" / f"{name}.sql").read_text())


def _sql(name: str, summary: str, cls=SqlStep) -> SqlStep:
    return cls(PHASE, name, summary, directory=HERE)


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

    def revert(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_revert(ctx), "revert chunk")

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

    def deploy(self, ctx, conn) -> int:
        return self.run_separately(ctx, conn, self.render_deploy(ctx), "chunk")


BUILD_STEPS = ["snapshot_legacy", "create_reference_tables", "create_employees", "add_circular_keys",
               "load_reference_data", "enable_rls", "install_sync_triggers", "merge_employees",
               "create_compat_views", "install_reverse_sync"]
CUTOVER_STEPS = ["enable_feature_flag"]


def plan(ctx) -> list[Step]:
    return [
        SnapshotLegacy(PHASE, "snapshot_legacy", "checksum every legacy table (compared after revert)"),
        _sql("create_reference_tables", "roles, departments, teams, channels, countries"),
        _sql("create_employees", "employees + provenance + legacy email map"),
        _sql("add_circular_keys", "departments.manager_id and teams.supervisor_id foreign keys"),
        _sql("load_reference_data", "roles from params; reference rows from legacy values", LoadReferenceData),
        # policies before the sync: CREATE POLICY locks tables the sync writes; while nothing writes
        # them yet it waits for no one
        _sql("enable_rls", "row level security and grants for anon/authenticated/service_role"),
        SyncTriggers(PHASE, "install_sync_triggers", "users + people -> employees, live (statement triggers)"),
        _sql("merge_employees", "users + people -> employees, a chunk of emails per transaction; duplicates "
             "merged; invalid rows quarantined", MergeEmployees),
        _sql("create_compat_views", "users_compat and people_compat (security_invoker)", CompatViews),
        _sql("install_reverse_sync", "employees -> users + people (a rollback after cutover loses nothing)",
             ReverseSync),
        FlagStep(PHASE, "enable_feature_flag", f"{FLAG} on (only after validation)", flag=FLAG),
    ]


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------

PEOPLE_KEYED = """
  SELECT p, md5(p::text) || ':' || row_number() OVER (PARTITION BY md5(p::text)) AS source_key
  FROM public.people p"""


@dataclass
class Validation:
    reconciliation: pd.DataFrame
    checks: pd.DataFrame
    quarantine: pd.DataFrame
    hierarchy: pd.DataFrame
    outcome: "outcome.Outcome | None" = None

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all()) and bool(self.reconciliation["reconciles"].all()) \
            and (self.outcome is None or self.outcome.ok)

    def raise_if_failed(self) -> None:
        if not self.ok:
            bad = (list(self.outcome.failures) if self.outcome is not None else []) + \
                  list(self.checks.loc[~self.checks["ok"], "check"]) + \
                  [f"{t} does not reconcile" for t in self.reconciliation.index[~self.reconciliation["reconciles"]]]
            raise CheckFailed(f"phase {PHASE} validation failed: {'; '.join(bad)}; the feature flag stays off")


def validate(conn: psycopg.Connection, params=None) -> Validation:
    """In one snapshot: the application may be writing users, people or employees meanwhile.
    With ``params``, the outcome gate too: the share of users and people rows quarantined
    against params' ceilings (outcome.py; merged duplicates count as migrated)."""
    with one_snapshot(conn):
        v = _validate(conn)
        if params is not None:
            tables = v.reconciliation.rename(columns={"merged into a duplicate": "merged"}).assign(disposition="migrated")
            v.outcome = outcome.gate(conn, PHASE, tables, params, None, "")
        return v


# the columns of employees that have a legacy home, compared with what the mapping says for the
# current legacy rows (employee_id separately: the first holder of a shared code keeps it)
MAPPED = """ne, auth_user_id, name, avatar_url, role_id, department_id, designation, channel_id, team_id,
            country_code, intercom_admin_alias, is_active, last_login_at, login_count, supervisor_ne, mentor_ne,
            snapshot"""


def _validate(conn: psycopg.Connection) -> Validation:
    q = lambda s, p=None: conn.execute(s, p).fetchone()
    found = legacy_shape.discover(conn)
    shaped = lambda text: legacy_shape.fill(text, found, phase=sql.Literal(PHASE))  # noqa: E731
    recon = []
    for table in ("users", "people"):
        legacy = q(f"SELECT count(*) FROM public.{table}")[0]
        migrated, merged = q("SELECT count(*) FILTER (WHERE disposition = 'migrated'), "
                             "count(*) FILTER (WHERE disposition = 'merged_duplicate') "
                             "FROM cqms_migration.employee_sources WHERE source_table = %s", (table,))
        quarantined = q("SELECT count(*) FROM cqms_migration.quarantine WHERE phase = %s AND source_table = %s",
                        (PHASE, table))[0]
        recon.append({"legacy table": table, "legacy rows": legacy, "migrated": migrated,
                      "merged into a duplicate": merged, "quarantined": quarantined,
                      "reconciles": legacy == migrated + merged + quarantined})
    reconciliation = pd.DataFrame(recon).set_index("legacy table")

    checks = []

    def check(name, bad_count, detail=""):
        checks.append({"check": name, "violations": int(bad_count), "ok": bad_count == 0, "detail": detail})

    # compat views return the legacy rows: EXCEPT ALL both ways, differences explained
    people_unexplained = q(f"""
      WITH keyed AS ({PEOPLE_KEYED}),
           explained AS (SELECT source_key FROM cqms_migration.employee_sources
                           WHERE source_table = 'people' AND disposition = 'merged_duplicate'
                         UNION ALL SELECT source_key FROM cqms_migration.quarantine
                           WHERE phase = '{PHASE}' AND source_table = 'people')
      SELECT (SELECT count(*) FROM (SELECT (k.p).* FROM keyed k
                                    WHERE k.source_key NOT IN (SELECT source_key FROM explained)
                                    EXCEPT ALL SELECT * FROM public.people_compat) a),
             (SELECT count(*) FROM (SELECT * FROM public.people_compat EXCEPT ALL SELECT * FROM public.people) b)""")
    check("people_compat: every unexplained legacy people row returned", people_unexplained[0],
          "legacy rows minus merged/quarantined, EXCEPT ALL people_compat")
    check("people_compat: returns no row people lacks", people_unexplained[1], "people_compat EXCEPT ALL people")
    users_unexplained = q(shaped("""
      WITH explained AS (SELECT source_key FROM cqms_migration.employee_sources
                           WHERE source_table = 'users' AND disposition = 'merged_duplicate'
                         UNION ALL SELECT source_key FROM cqms_migration.quarantine
                           WHERE phase = {phase} AND source_table = 'users')
      SELECT (SELECT count(*) FROM (SELECT * FROM public.users u
                                    WHERE ({users.u.id.raw})::text NOT IN (SELECT source_key FROM explained)
                                    EXCEPT ALL SELECT * FROM public.users_compat) a),
             (SELECT count(*) FROM (SELECT * FROM public.users_compat EXCEPT ALL SELECT * FROM public.users) b)"""))
    check("users_compat: every unexplained legacy users row returned", users_unexplained[0])
    check("users_compat: returns no row users lacks", users_unexplained[1])

    # foreign-key integrity 100% (the constraints exist; this proves no NOT VALID shortcut hides rows)
    fk_bad = q("""
      SELECT (SELECT count(*) FROM public.employees e WHERE e.supervisor_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.employees s WHERE s.id = e.supervisor_id))
           + (SELECT count(*) FROM public.employees e WHERE e.quality_mentor_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM public.employees s WHERE s.id = e.quality_mentor_id))
           + (SELECT count(*) FROM public.employees e WHERE NOT EXISTS (SELECT 1 FROM public.roles r WHERE r.id = e.role_id))
           + (SELECT count(*) FROM public.employees e WHERE e.auth_user_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM auth.users a WHERE a.id = e.auth_user_id))""")[0]
    check("foreign-key integrity (supervisor, mentor, role, auth user)", fk_bad)
    not_valid = q("SELECT count(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                  "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND t.relname IN "
                  "('employees','roles','departments','teams','channels','countries') AND NOT c.convalidated")[0]
    check("no constraint left NOT VALID", not_valid)
    dup = q("SELECT count(*) - count(DISTINCT lower(btrim(email))) FROM public.employees")[0]
    check("one employee per normalized email", dup)
    unmapped = q(shaped("""
      SELECT count(*) FROM (
        SELECT lower(btrim({users.u.email})) ne FROM public.users u WHERE {users.u.email} IS NOT NULL
        UNION SELECT lower(btrim({people.p.email})) FROM public.people p WHERE {people.p.email} IS NOT NULL) l
      WHERE NOT EXISTS (SELECT 1 FROM cqms_migration.employee_email_map m WHERE m.normalized_email = l.ne)
        AND NOT EXISTS (SELECT 1 FROM cqms_migration.quarantine q WHERE q.phase = {phase}
                        AND lower(btrim(CASE q.source_table WHEN 'users' THEN {users.q.email}
                                                            ELSE {people.q.email} END)) = l.ne)"""))[0]
    check("every legacy email resolves (email map) or is quarantined", unmapped)
    users_without_auth_link = q("SELECT count(*) FROM cqms_migration.employee_sources s WHERE s.source_table = 'users' "
                                "AND s.disposition = 'migrated' AND NOT EXISTS (SELECT 1 FROM public.employees e "
                                "WHERE e.id = s.employee_id AND e.auth_user_id = cqms_migration.to_uuid(s.source_key))")[0]
    check("every migrated users row is linked to its auth user", users_without_auth_link)

    # employees are what the mapping says for the current legacy rows (the sync kept them so)
    drift = q(f"""
      WITH expected AS (
        SELECT x.ne, x.auth_user_id, x.name, x.avatar_url, x.role_id, x.department_id, x.designation, x.channel_id,
               x.team_id, x.country_code, x.intercom_admin_alias, x.is_active, x.last_login_at, x.login_count,
               CASE WHEN x.supervisor_ne <> x.ne AND sup.id IS NOT NULL THEN x.supervisor_ne END AS supervisor_ne,
               CASE WHEN x.mentor_ne <> x.ne AND qm.id IS NOT NULL THEN x.mentor_ne END AS mentor_ne,
               x.legacy_snapshot - 'version' AS snapshot
        FROM cqms_migration.p01_expected(NULL) x
        LEFT JOIN public.employees sup ON lower(btrim(sup.email)) = x.supervisor_ne AND sup.deleted_at IS NULL
        LEFT JOIN public.employees qm ON lower(btrim(qm.email)) = x.mentor_ne AND qm.deleted_at IS NULL),
      actual AS (
        SELECT lower(btrim(e.email)) AS ne, e.auth_user_id, e.name, e.avatar_url, e.role_id, e.department_id,
               e.designation, e.channel_id, e.team_id, e.country_code, e.intercom_admin_alias, e.is_active,
               e.last_login_at, e.login_count, lower(btrim(s.email)) AS supervisor_ne, lower(btrim(m.email)) AS mentor_ne,
               e.legacy_snapshot - 'version' AS snapshot
        FROM public.employees e
        LEFT JOIN public.employees s ON s.id = e.supervisor_id
        LEFT JOIN public.employees m ON m.id = e.quality_mentor_id
        WHERE e.deleted_at IS NULL AND e.legacy_snapshot IS NOT NULL AND NOT e.legacy_snapshot ? 'placeholder_phase')
      SELECT (SELECT count(*) FROM (SELECT {MAPPED} FROM expected EXCEPT ALL SELECT {MAPPED} FROM actual) a),
             (SELECT count(*) FROM (SELECT {MAPPED} FROM actual EXCEPT ALL SELECT {MAPPED} FROM expected) b),
             (SELECT count(*) FROM cqms_migration.p01_expected(NULL) x JOIN public.employees e
                ON lower(btrim(e.email)) = x.ne
              WHERE e.employee_id IS DISTINCT FROM x.legacy_employee_id AND (e.employee_id IS NOT NULL OR NOT EXISTS (
                SELECT 1 FROM public.employees h WHERE h.employee_id = x.legacy_employee_id AND h.id <> e.id)))""")
    check("employees: what the mapping says for the current legacy rows", drift[0],
          "mapping of users + people now, EXCEPT ALL employees (columns with a legacy home)")
    check("employees: no employee the current legacy rows do not explain", drift[1],
          "employees EXCEPT ALL the mapping of users + people now")
    check("employees: employee_id is the legacy code (or NULL: another employee holds it)", drift[2])

    # the independent verification (cqms-migrate verify), in this snapshot: every mapped column
    from ... import verify
    checks += verify.checks(verify.run(conn, PHASE))

    quarantine = pd.DataFrame(conn.execute(
        "SELECT source_table, reason, count(*) AS rows FROM cqms_migration.quarantine WHERE phase = %s "
        "GROUP BY 1, 2 ORDER BY 1, 2", (PHASE,)).fetchall(), columns=["source table", "reason", "rows"])

    hier = conn.execute(shaped("""
      WITH p AS (SELECT e.id, lower(btrim({people.e.team_supervisor})) AS sup,
                        lower(btrim({people.e.quality_mentor})) AS qm,
                        lower(btrim(e.email)) AS ne, e.supervisor_id, e.quality_mentor_id
                 FROM public.employees e WHERE e.legacy_snapshot ? 'people')
      SELECT 'supervisor: self-reference set to NULL', count(*) FROM p WHERE sup = ne
      UNION ALL SELECT 'supervisor: unknown email left NULL', count(*) FROM p
        WHERE sup <> '' AND sup <> ne AND supervisor_id IS NULL
      UNION ALL SELECT 'mentor: self-reference set to NULL', count(*) FROM p WHERE qm = ne
      UNION ALL SELECT 'mentor: unknown email left NULL', count(*) FROM p
        WHERE qm <> '' AND qm <> ne AND quality_mentor_id IS NULL
      UNION ALL SELECT 'supervisor cycles (kept, listed for review)', count(*) FROM (
        WITH RECURSIVE walk(start, cur, depth, path) AS (
          SELECT id, supervisor_id, 1, ARRAY[id] FROM public.employees WHERE supervisor_id IS NOT NULL
          UNION ALL
          SELECT w.start, e.supervisor_id, w.depth + 1, w.path || e.id FROM walk w
          JOIN public.employees e ON e.id = w.cur
          WHERE e.supervisor_id IS NOT NULL AND w.depth < 50 AND NOT e.id = ANY(w.path))
        SELECT DISTINCT start FROM walk WHERE cur = start) c
      UNION ALL SELECT 'shared legacy employee_id kept by one employee', count(*) FROM p
        JOIN public.employees e USING (id) WHERE {people.e.employee_id} IS NOT NULL AND e.employee_id IS NULL
    """)).fetchall()
    hierarchy = pd.DataFrame(hier, columns=["finding", "employees"]).set_index("finding")
    return Validation(reconciliation, pd.DataFrame(checks), quarantine, hierarchy)


# ---------------------------------------------------------------------------------------
# benchmark: the legacy lookup (users by email + people by email + merge in Python)
# vs one query on employees — measured in the same run
# ---------------------------------------------------------------------------------------

def lookup_benchmark(conn: psycopg.Connection, samples: int = 300, seed: int = 7) -> pd.DataFrame:
    emails = [r[0] for r in conn.execute(
        "SELECT email FROM cqms_migration.employee_email_map WHERE source = 'both' "
        "ORDER BY md5(email || %s::text) LIMIT %s", (seed, samples)).fetchall()]
    end_read(conn)
    if not emails:
        return pd.DataFrame()

    def legacy(email):
        u = conn.execute("SELECT * FROM public.users WHERE email = %s", (email,)).fetchone()
        p = conn.execute("SELECT * FROM public.people WHERE email = %s", (email,)).fetchall()
        merged = {}
        if p:
            merged.update(dict(zip(["email", "name", "role", "department"], p[0][:4])))
        if u:
            merged.setdefault("name", u[2])
            merged["auth_user_id"] = u[0]
        return merged

    def unified(email):
        return conn.execute(
            "SELECT e.*, r.name AS role FROM public.employees e JOIN public.roles r ON r.id = e.role_id "
            "WHERE lower(btrim(e.email)) = lower(btrim(%s))", (email,)).fetchone()

    def timed(fn):
        out = []
        for e in emails:
            t0 = time.perf_counter()
            fn(e)
            out.append((time.perf_counter() - t0) * 1000)
        end_read(conn)
        return out

    timed(legacy), timed(unified)  # warm both paths
    leg, uni = timed(legacy), timed(unified)
    df = pd.DataFrame([
        {"path": "legacy: users + people by email, merged in Python", "lookups": len(leg),
         "median ms": round(statistics.median(leg), 3), "p95 ms": round(sorted(leg)[int(len(leg) * .95) - 1], 3),
         "round trips per lookup": 2},
        {"path": "unified: one query on employees", "lookups": len(uni),
         "median ms": round(statistics.median(uni), 3), "p95 ms": round(sorted(uni)[int(len(uni) * .95) - 1], 3),
         "round trips per lookup": 1},
    ]).set_index("path")
    df.attrs["ratio"] = round(statistics.median(leg) / statistics.median(uni), 2)
    return df


# ---------------------------------------------------------------------------------------
# what the notebook calls (dry-run aware)
# ---------------------------------------------------------------------------------------

def quality_before_after(ctx, before: dict) -> pd.DataFrame:
    after = None if ctx.dry_run else quality.employee_profile(ctx.conn)
    if after is not None:
        ctx.ledger.record_metric(PHASE, "quality", {"before": before, "after": after})
    return quality.profile_frame(before, after)


def benchmark(ctx) -> pd.DataFrame:
    if ctx.dry_run:
        return pd.DataFrame()
    df = lookup_benchmark(ctx.conn)
    if not df.empty:
        ctx.ledger.record_metric(PHASE, "employee_lookup_ratio", {"legacy_over_unified": df.attrs["ratio"],
                                                                  "table": df.reset_index().to_dict("records")})
    return df


def saved_checksums(conn, phase: str = PHASE) -> pd.DataFrame:
    """The legacy checksums taken before a phase (this one by default)."""
    return _saved_checksums(conn, phase)


# ---------------------------------------------------------------------------------------
# the phase
# ---------------------------------------------------------------------------------------

class Foundation(ComparesLegacyOnRevert, Phase):
    name = PHASE
    title = "Foundation: reference tables, employees, compat views"
    flag = FLAG
    build = tuple(BUILD_STEPS)
    cutover_steps = tuple(CUTOVER_STEPS)
    figures = ("outcome", "reconciliation", "checks", "quality", "advisor")
    creates_tables = ("roles", "departments", "teams", "channels", "countries", "employees")
    creates_views = ("users_compat", "people_compat")

    def plan(self, ctx) -> list[Step]:
        return plan(ctx)

    def validate(self, ctx) -> Validation:
        v = validate(ctx.conn, ctx.params)
        ctx.ledger.record_metric(PHASE, "outcome", v.outcome.record())
        ctx.ledger.record_metric(PHASE, "reconciliation", v.reconciliation.reset_index().to_dict("records"))
        ctx.ledger.record_metric(PHASE, "checks", v.checks.to_dict("records"))
        return v

    def notebook(self) -> list:
        from .notebook import cells
        return cells()


PHASE_OBJECT = Foundation()


def steps(ctx) -> list[Step]:
    """The phase's steps with their ordinals (the phase object's plan)."""
    return PHASE_OBJECT.steps(ctx)
