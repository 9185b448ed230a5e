"""The Express CQMS application, simulated: what its users do, from several connections, as the
personas of the security model (docs/security.md), the way PostgREST runs a request: one
transaction, ``SET LOCAL ROLE authenticated`` and ``request.jwt.claims`` with the user's id.

Before each operation a worker reads the feature flags, as the seed's adapters do (section 4),
and takes the legacy path (the per-scorecard tables, users and people) or the unified one
(``audits``, ``employees``) per flag. Every write that got a commit is recorded with its key and
the content it wrote (``WriteLog``): "nothing lost" is then checked against the database through
whichever path the flags say is current, and through the other one too (both are kept in sync).

The legacy tables are written as the catalog has them (legacy_shape.discover), as an application
built on that database would: columns by their own names and types (a text login count, a text
is_active spelled as the rows spell it), audit columns cast to their own types.

Keys are partitioned between workers (a person, an audit, an assignment belongs to one worker),
so the last write a worker records for a key is the last one committed: the check needs no
global order. Operations and their personas:

  read_fanout  agent     the seed's section 1.2: the person's audits in every scorecard table by
                         email (legacy) or in audits by employee (unified)
  lookup       agent     users + people by email (legacy) or employees by email (unified)
  login        agent     users.last_sign_in_at + people.last_login (legacy), or
                         employees.last_login_at (unified, a self-service column)
  audit_insert auditor   a new audit in its scorecard's table (legacy) or audits (unified,
                         auditor_id = self)
  score        admin     an audit's score changed (legacy column or audits.total_score)
                         (admin requests run as service_role, the application's server side)
  acknowledge  agent     the audited agent acknowledges (legacy column or audits, own audit)
  reversal_request agent the audited agent asks for a reversal (reversal_requested_at)
  validate     supervisor the audited agent's supervisor (people.team_supervisor, with a login)
                         validates it (validation_status 'approved'): a team's audit, through
                         RLS on the unified path; an admin (service_role) where the agent has none
  team_read    supervisor the audits of the people they supervise (legacy: by the team's emails
                         in each scorecard table; unified: audits of employees they supervise)
  delete       admin     an audit deleted
  new_hire     admin     a person added to people (legacy) or employees (unified)
  assignment   auditor   an assignment created, then completed (legacy: audit_assignments;
                         unified, once USE_UNIFIED_ASSIGNMENTS is on: assignments, written by
                         the application's server side, service_role)
  reorg        admin     a supervisor hired and made a report's supervisor in one transaction, or
                         one hired before leaves (people row deleted, or the employee
                         soft-deleted): the worker's own hires, whose supervisor nobody else reads

Legal but hostile values (issue 21): a worker's second legacy hire, then one in HOSTILE_EVERY,
has a 3,000-character team, department, channel, supervisor and mentor; its first legacy hire,
then one in LARGE_EVERY, a 200 kB name (2 MB names are in the unit tests: phase 01's merge takes
0.3 s for each); its first legacy audit, then one in LARGE_EVERY, a 3,000-character
interaction_id and a 2 MB transcript. The legacy database accepts them, so every one must commit.

Worker 0 (of two or more) runs at REPEATABLE READ, as a legacy application may: a serialization
failure (40001) is retried, as such an application must (PostgreSQL's documentation), and each
retry is counted per stage (``rr_retries``). A request that still fails after RR_ATTEMPTS is an
application error.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .. import legacy_shape

EMPLOYEES_FLAG = "USE_UNIFIED_EMPLOYEES_TABLE"
AUDITS_FLAG = "USE_UNIFIED_AUDITS_TABLE"
ASSIGNMENTS_FLAG = "USE_UNIFIED_ASSIGNMENTS"
APP_NAME = "cqms-rehearsal-app"

# operation -> weight (a read-heavy application, as the legacy one is)
MIX = {"read_fanout": 18, "lookup": 20, "login": 15, "audit_insert": 14, "score": 8, "acknowledge": 6,
       "reversal_request": 3, "validate": 3, "team_read": 2, "delete": 2, "new_hire": 3, "assignment": 6, "reorg": 2,
       "parameter_edit": 2}
# one legacy hire in HOSTILE_EVERY carries 3,000-character references; a worker's first legacy hire and
# audit, then one in LARGE_EVERY, 2 MB values (each is copied into the unified tables, snapshots
# and checksums: one in 40 made a 1M-audit rehearsal carry about a gigabyte of them)
HOSTILE_EVERY, LARGE_EVERY = 10, 500
RR_ATTEMPTS = 4                       # a REPEATABLE READ request: tries before it counts as an error
LONG = 3000                           # characters: above a b-tree entry's limit (2,704 bytes)
LARGE = 2 * 1024 * 1024               # characters: above tsvector's 1 MB (a transcript)
LONG_NAME = 200_000                   # characters: a name far past any index entry
AUDIT_OPS = ("read_fanout", "team_read", "audit_insert", "score", "acknowledge", "reversal_request", "validate", "delete")


class SimulatorRefused(Exception):
    """The application was refused what the legacy database let it do (an application error)."""


@dataclass
class Person:
    email: str
    auth_user_id: str | None
    name: str


@dataclass
class Audit:
    id: str            # the legacy row's id (text)
    table: str
    scorecard_id: str
    employee: Person
    auditor: Person
    aid: str = ""      # its id in audits (the legacy uuid, or the runbook's name-based uuid of a text id)
    large: bool = False  # holds the hostile values (kept: the test finds them migrated at the end)

    def __post_init__(self):
        if not self.aid:
            from ..inventory import audit_uuid
            self.aid = str(audit_uuid(self.table, self.id))


@dataclass
class Sample:
    at: float
    stage: str
    op: str
    path: str
    seconds: float
    error: str | None = None


@dataclass
class WriteLog:
    """Per key, the last content a committed write gave it (None: deleted)."""
    last: dict = field(default_factory=dict)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    history: list = field(default_factory=list)  # (time, worker, key, content, path) of every committed write

    def committed(self, key: tuple, content, worker: int = -1, path: str = "") -> None:
        with self.lock:
            self.last[key] = content
            self.count += 1
            self.history.append((time.time(), worker, key, content, path))


class Shape:
    """users and people as the catalog has them: what the application's statements name."""

    def __init__(self, conn: psycopg.Connection):
        self.shapes = legacy_shape.discover(conn)
        p = self.shapes["people"]
        # how this database spells an active person: a boolean, or the value most of its rows hold
        # (read as it is: the runbook's conversion functions may not be installed yet, or any more)
        self.active = True
        if self.usable("people", "is_active") and "bool" not in p.mapped["is_active"].column.type:
            row = conn.execute(sql.SQL("SELECT {v} FROM public.people p WHERE {v} IS NOT NULL "
                                       "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").format(v=p.raw("is_active", "p"))).fetchone()
            self.active = row[0] if row else "true"

    def usable(self, table: str, canonical: str) -> bool:
        return self.shapes[table].mapped[canonical].usable

    def col(self, table: str, canonical: str) -> sql.Identifier:
        return sql.Identifier(self.shapes[table].mapped[canonical].column.name)

    def read(self, table: str, canonical: str, alias: str) -> sql.Composable:
        """alias.<column> as it is (NULL when the table has no such column)."""
        return self.shapes[table].raw(canonical, alias)

    def value(self, table: str, canonical: str) -> sql.Composable:
        """A parameter as the column's own type."""
        return sql.SQL("CAST(%s AS {})").format(sql.SQL(self.shapes[table].mapped[canonical].column.type))

    def incr(self, table: str, canonical: str) -> sql.Composable:
        """The column plus one, in its own type (a text count that is not a number restarts at 1)."""
        c, typ = self.col(table, canonical), self.shapes[table].mapped[canonical].column.type
        if any(t in typ for t in ("int", "numeric")):
            return sql.SQL("coalesce({}, 0) + 1").format(c)
        return sql.SQL("CASE WHEN {c} ~ '^[0-9]+$' THEN ({c}::bigint + 1)::text ELSE '1' END").format(c=c)

    def sets(self, table: str, **values: str) -> tuple[sql.Composable, list]:
        """col = value for each canonical column the table has: "incr" -> the column plus one,
        anything else -> that value as a parameter. Returns the SET list and its parameters."""
        parts, params = [], []
        for canonical, what in values.items():
            if not self.usable(table, canonical):
                continue
            if what == "incr":
                parts.append(sql.SQL("{} = {}").format(self.col(table, canonical), self.incr(table, canonical)))
            else:
                parts.append(sql.SQL("{} = {}").format(self.col(table, canonical), self.value(table, canonical)))
                params.append(what)
        return sql.SQL(", ").join(parts), params


class World:
    """What the simulated users know: people with logins, the scorecard tables, existing audits
    (a sample, partitioned between workers), who supervises whom."""

    def __init__(self, conn: psycopg.Connection, workers: int, seed: int, sample: int = 3000,
                 exclude: tuple[str, ...] = ()):
        rng = random.Random(seed)
        self.shape = sh = Shape(conn)
        rows = conn.execute(sql.SQL(
            "SELECT DISTINCT ON (lower(btrim({u_email}))) {u_email}, {u_id}::text, coalesce({p_name}, {u_name}, {u_email}), "
            "coalesce({p_role}, '') IN ('Quality Analyst', 'Team Lead', 'Supervisor', 'Manager'), "
            "lower(btrim({p_sup})) "
            "FROM public.users u JOIN public.people p ON {p_email} = {u_email} "
            "WHERE {u_email} ~* '^[A-Za-z0-9._%%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{{2,}}$' AND {p_email} = btrim({p_email}) "
            "AND coalesce({p_active}::text, %s) = %s ORDER BY lower(btrim({u_email})), {u_id}").format(
                u_email=sh.read("users", "email", "u"), u_id=sh.read("users", "id", "u"),
                u_name=sh.read("users", "full_name", "u"), p_name=sh.read("people", "name", "p"),
                p_role=sh.read("people", "role", "p"), p_sup=sh.read("people", "team_supervisor", "p"),
                p_email=sh.read("people", "email", "p"), p_active=sh.read("people", "is_active", "p")),
            ("true" if sh.active is True else str(sh.active),) * 2).fetchall()
        self.people = [Person(e, uid, n) for e, uid, n, _, _ in rows]
        self.auditors = [Person(e, uid, n) for e, uid, n, elevated, _ in rows if elevated]
        by_ne = {p.email.lower().strip(): p for p in self.people}
        # the supervisor persona: a person with a login whom others' people rows name as supervisor
        self.supervisor_of = {e: by_ne[sup] for e, _, _, _, sup in rows
                              if sup in by_ne and sup != e.lower().strip()}
        self.team_of: dict[str, list[Person]] = {}
        for e, _, _, _, sup in rows:
            if e in self.supervisor_of:
                self.team_of.setdefault(self.supervisor_of[e].email, []).append(by_ne[e.lower().strip()])
        self.supervisors = sorted({p.email: p for p in self.supervisor_of.values()}.values(), key=lambda p: p.email)
        rng.shuffle(self.people)
        # the scorecard tables the migration takes (not the ones params exclude), keyed by uuid as
        # the application's new audits are
        self.tables = [tuple(r) for r in conn.execute(
            "SELECT s.table_name, s.id::text FROM public.scorecards s WHERE coalesce(s.is_active, true) "
            "AND to_regclass(format('public.%%I', s.table_name)) IS NOT NULL AND NOT s.table_name = ANY(%s) "
            "AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(format('public.%%I', s.table_name)) "
            "AND a.attname = 'id' AND a.atttypid IN ('uuid'::regtype, 'text'::regtype)) "
            "ORDER BY s.table_name", (list(exclude),)).fetchall()]
        self.columns = {t: dict(conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(format('public.%%I', %s::text)) "
            "AND attnum > 0 AND NOT attisdropped", (t,)).fetchall()) for t, _ in self.tables}
        by_email = {p.email: p for p in self.people}
        existing: list[Audit] = []
        per_table = max(1, sample // max(1, len(self.tables)))
        for table, sid in self.tables:
            for rid, emp, aud in conn.execute(sql.SQL(
                    "SELECT id::text, employee_email, auditor_email FROM public.{} WHERE id IS NOT NULL "
                    "ORDER BY md5(id::text) LIMIT %s").format(sql.Identifier(table)), (per_table,)).fetchall():
                if emp in by_email and aud in by_email and emp != aud:
                    existing.append(Audit(rid, table, sid, by_email[emp], by_email[aud]))
        # scorecard parameters the legacy admin screen edits (their prompt: a column no mapping
        # reads), each worker its own, by the legacy name (a view once phase 03 renames the table)
        params = []
        if conn.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.scorecard_perameters') "
                        "AND attname = 'prompt' AND NOT attisdropped AND atttypid = 'text'::regtype)").fetchone()[0]:
            params = [r[0] for r in conn.execute("SELECT id::text FROM public.scorecard_perameters WHERE id IS NOT NULL "
                                                 "ORDER BY md5(id::text) LIMIT 200").fetchall()]
        conn.rollback()
        self.workers = workers
        self.people_of = [self.people[i::workers] for i in range(workers)]
        self.audits_of = [existing[i::workers] for i in range(workers)]
        self.parameters_of = [params[i::workers] for i in range(workers)]
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.running.set()

    def add_table(self, table: str, scorecard_id: str, columns: dict[str, str]) -> None:
        with self.lock:
            self.columns[table] = columns
            self.tables.append((table, scorecard_id))

    def has(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, ())

    def cast(self, table: str, column: str) -> sql.Composable:
        """A parameter as the audit table column's own type."""
        return sql.SQL("CAST(%s AS {})").format(sql.SQL(self.columns[table][column]))


def _means(legacy_value, vocabulary: str, value: str, maps: dict | None) -> bool:
    """A legacy status says ``value`` in the table's own words, as the operator's vocabularies
    read them ('Validated', or a misspelt 'Acknowleged' params map, say what they map to: a write
    through audits reaches the legacy table in its spelling, and one that changes nothing in the
    unified value leaves the legacy spelling as it was)."""
    from .. import vocab
    m = (maps or {}).get(vocabulary) or vocab.effective(vocabulary, {})
    return legacy_value == value or m.get(vocab.key(legacy_value)) == value


def _flags(c: psycopg.Connection) -> dict[str, bool]:
    try:
        rows = c.execute("SELECT flag, enabled FROM cqms_migration.feature_flags").fetchall()
    except psycopg.errors.UndefinedTable:
        c.rollback()
        return {}
    c.commit()
    return dict(rows)


def _as(c: psycopg.Connection, person: Person | None) -> None:
    """The request's persona, as PostgREST sets it (inside the transaction); None: the
    application's server side (service_role)."""
    if person is None:
        c.execute("SET LOCAL ROLE service_role")
        return
    c.execute("SET LOCAL ROLE authenticated")
    claims = {"role": "authenticated", "sub": person.auth_user_id if person else None,
              "email": person.email if person else None}
    c.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


class Worker(threading.Thread):
    def __init__(self, idx: int, url: str, world: World, log: WriteLog, samples: list, rate: float,
                 stage: list[str], seed: int):
        super().__init__(daemon=True, name=f"app-{idx}")
        self.idx, self.url, self.world, self.log, self.samples = idx, url, world, log, samples
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.stage, self.admin = stage, None
        self.rng = random.Random(seed * 1000 + idx)
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.mine: list[Audit] = list(world.audits_of[idx])
        self.assignments: list[str] = []
        self.hires = 0
        self.legacy_hires = 0   # the hostile values are legacy writes: counted on that path
        self.audits_made = 0
        self.my_hires: list[str] = []      # emails this worker hired (nobody else reads them)
        self.bosses: list[str] = []        # of those, the ones made a supervisor by reorg
        self._pending: list = []
        # worker 0 of two or more: a REPEATABLE READ application
        self.repeatable_read = idx == 0 and world.workers > 1
        self.rr_retries: list[tuple[str, str]] = []   # (stage, op) of each serialization failure retried

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        ops, weights = list(MIX), list(MIX.values())
        conn = None
        while not self.stop.is_set():
            if not self.world.running.is_set():  # the rehearsal checks a stage: between requests, wait
                self.idle.set()
                self.world.running.wait(1.0)
                continue
            self.idle.clear()
            started = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, application_name=APP_NAME)
                flags = _flags(conn)
                op = self.rng.choices(ops, weights)[0]
                flag = ASSIGNMENTS_FLAG if op == "assignment" else AUDITS_FLAG if op in AUDIT_OPS else EMPLOYEES_FLAG
                path = "unified" if flags.get(flag) else "legacy"
                t0 = time.perf_counter()
                error = None
                self._pending = []
                try:
                    if self.repeatable_read and conn.isolation_level != psycopg.IsolationLevel.REPEATABLE_READ:
                        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                    state = self.rng.getstate()
                    for attempt in range(RR_ATTEMPTS if self.repeatable_read else 1):
                        self._pending = []
                        try:
                            with conn.transaction():
                                getattr(self, op)(conn, path)
                            break
                        except psycopg.errors.SerializationFailure:
                            if attempt == RR_ATTEMPTS - 1 or not self.repeatable_read:
                                raise
                            self.rr_retries.append((self.stage[0], op))
                            self.rng.setstate(state)   # the same request again
                    for key, content in self._pending:  # committed: now it counts
                        self.log.committed(key, content, self.idx, path)
                except (psycopg.Error, SimulatorRefused) as e:
                    error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160]}"
                    if isinstance(e, psycopg.Error) and (conn.closed or conn.broken):
                        conn = None
                self.samples.append(Sample(time.time(), self.stage[0], op, path, time.perf_counter() - t0, error))
            except Exception as e:  # noqa: BLE001 - a defect of the simulator itself: counted, never silent
                if not isinstance(e, psycopg.OperationalError):
                    self.samples.append(Sample(time.time(), self.stage[0], "simulator", "-", 0.0,
                                               f"SimulatorError: {type(e).__name__}: {e}"[:200]))
                    time.sleep(0.1)
                    continue
                # cannot connect: counted, retried
                self.samples.append(Sample(time.time(), self.stage[0], "connect", "-", 0.0,
                                           f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160]}"))
                conn = None
                time.sleep(0.2)
            spare = self.interval - (time.perf_counter() - started)
            if spare > 0:
                self.stop.wait(spare)
        if conn is not None:
            conn.close()

    def _person(self) -> Person:
        return self.rng.choice(self.world.people_of[self.idx])

    # -- operations (inside the request's transaction; a commit follows) ------------------------
    def read_fanout(self, c, path):
        me = self._person()
        _as(c, me)
        if path == "legacy":
            for table, _ in self.rng.sample(self.world.tables, min(3, len(self.world.tables))):
                c.execute(sql.SQL("SELECT count(*) FROM public.{} WHERE employee_email = %s").format(sql.Identifier(table)),
                          (me.email,)).fetchone()
        else:
            c.execute("SELECT count(*) FROM public.audits a JOIN public.employees e ON e.id = a.employee_id "
                      "WHERE e.auth_user_id = %s AND a.deleted_at IS NULL", (me.auth_user_id,)).fetchone()

    def lookup(self, c, path):
        me = self._person()
        _as(c, me)
        if path == "legacy":
            sh = self.world.shape
            c.execute(sql.SQL("SELECT * FROM public.users WHERE {} = %s").format(sh.col("users", "email")), (me.email,)).fetchall()
            c.execute(sql.SQL("SELECT * FROM public.people WHERE {} = %s").format(sh.col("people", "email")), (me.email,)).fetchall()
        else:
            c.execute("SELECT * FROM public.employees WHERE email = %s", (me.email,)).fetchall()

    def login(self, c, path):
        me = self._person()
        _as(c, me)
        at = c.execute("SELECT date_trunc('milliseconds', clock_timestamp())").fetchone()[0]
        if path == "legacy":
            sh = self.world.shape
            sets, params = sh.sets("users", last_sign_in_at=at, sign_in_count="incr")
            c.execute(sql.SQL("UPDATE public.users SET {} WHERE {} = %s").format(sets, sh.col("users", "id")),
                      params + [me.auth_user_id])
            sets, params = sh.sets("people", last_login=at, login_count="incr")
            c.execute(sql.SQL("UPDATE public.people SET {} WHERE {} = %s").format(sets, sh.col("people", "email")),
                      params + [me.email])
        else:
            c.execute("UPDATE public.employees SET last_login_at = %s, login_count = coalesce(login_count, 0) + 1 "
                      "WHERE auth_user_id = %s", (at, me.auth_user_id))
        self._after_commit(c, ("login", me.auth_user_id), at)

    def parameter_edit(self, c, path):
        """The legacy admin screen edits a parameter's prompt, by the legacy table's name (phase
        03 renames the table and leaves a writable view under that name): no unified path."""
        mine = self.world.parameters_of[self.idx]
        if not mine:
            return
        pid = self.rng.choice(mine)
        text = f"prompt {self.idx}-{self.rng.getrandbits(32):08x}"
        _as(c, None)
        n = c.execute("UPDATE public.scorecard_perameters SET prompt = %s WHERE id::text = %s", (text, pid)).rowcount
        if n:
            self._after_commit(c, ("parameter", pid), text)

    def audit_insert(self, c, path):
        with self.world.lock:
            table, sid = self.rng.choice(self.world.tables)
        people = self.world.people_of[self.idx]
        employee, auditor = self.rng.choice(people), self.rng.choice(self.world.auditors)
        if employee.email == auditor.email:
            return
        a = Audit(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), table, sid, employee, auditor)
        score = round(self.rng.uniform(40, 100), 2)
        _as(c, auditor)
        if path == "legacy":
            values = {"id": a.id, "employee_email": employee.email, "employee_name": employee.name,
                      "auditor_email": auditor.email, "auditor_name": auditor.name, "interaction_date": "today",
                      "average_score": score, "passing_status": "Passed" if score >= 80 else "Failed",
                      "validation_status": "pending", "acknowledgement_status": "pending", "submitted_at": "now",
                      "created_at": "now", "updated_at": "now"}
            self.audits_made += 1
            if self.audits_made % LARGE_EVERY == 1:   # legal, hostile: an id past a b-tree entry, a 2 MB transcript
                values |= {"interaction_id": "I" * LONG, "transcript": "word " * (LARGE // 5)}
                a.large = True
            values = {k: v for k, v in values.items() if self.world.has(table, k)}
            c.execute(sql.SQL("INSERT INTO public.{} ({}) VALUES ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(self.world.cast(table, k) for k in values)), list(values.values()))
        else:
            n = c.execute(
                "INSERT INTO public.audits (id, employee_id, auditor_id, scorecard_id, interaction_date, total_score, "
                "passing_status, validation_status, acknowledgement_status, submitted_at, status) "
                "SELECT %s, e.id, au.id, %s, current_date, %s, %s, 'pending', 'pending', now(), 'submitted' "
                "FROM public.employees e, public.employees au WHERE e.auth_user_id = %s AND au.auth_user_id = %s",
                (a.id, sid, score, "pass" if score >= 80 else "fail", employee.auth_user_id,
                 auditor.auth_user_id)).rowcount
            if not n:
                return  # one of them is no employee (merged, quarantined): nothing was written
        self.mine.append(a)
        self._after_commit(c, ("audit", a.id), {"table": table, "score": score, "aid": a.aid})

    def score(self, c, path):
        if not self.mine:
            return
        a = self.rng.choice(self.mine)
        value = round(self.rng.uniform(40, 100), 2)
        _as(c, None)
        if path == "legacy":
            n = c.execute(sql.SQL("UPDATE public.{} SET average_score = {}{} WHERE id = %s").format(
                sql.Identifier(a.table), self.world.cast(a.table, "average_score"),
                sql.SQL(", updated_at = now()") if self.world.has(a.table, "updated_at") else sql.SQL("")),
                (value, a.id)).rowcount
        else:
            n = c.execute("UPDATE public.audits SET total_score = %s WHERE id = %s AND deleted_at IS NULL",
                          (value, a.aid)).rowcount
        if n:
            self._after_commit(c, ("audit", a.id), {"table": a.table, "score": value, "aid": a.aid})

    def acknowledge(self, c, path):
        if not self.mine:
            return
        a = self.rng.choice(self.mine)
        if not self.world.has(a.table, "acknowledgement_status"):
            return
        _as(c, a.employee)
        if path == "legacy":
            n = c.execute(sql.SQL("UPDATE public.{} SET acknowledgement_status = 'acknowledged' WHERE id = %s").format(
                sql.Identifier(a.table)), (a.id,)).rowcount
        else:
            n = c.execute("UPDATE public.audits SET acknowledgement_status = 'acknowledged' WHERE id = %s "
                          "AND deleted_at IS NULL", (a.aid,)).rowcount
        if n:
            self._after_commit(c, ("ack", a.id), {"table": a.table, "status": "acknowledged"})

    def reversal_request(self, c, path):
        if not self.mine:
            return
        a = self.rng.choice(self.mine)
        if not self.world.has(a.table, "reversal_requested_at"):
            return
        _as(c, a.employee)
        if path == "legacy":
            n = c.execute(sql.SQL("UPDATE public.{} SET reversal_requested_at = now() WHERE id = %s").format(
                sql.Identifier(a.table)), (a.id,)).rowcount
        else:
            n = c.execute("UPDATE public.audits SET reversal_requested_at = now() WHERE id = %s AND deleted_at IS NULL",
                          (a.aid,)).rowcount
        if n:
            self._after_commit(c, ("reversal", a.id), {"table": a.table, "column": "reversal_requested_at"})

    def validate(self, c, path):
        if not self.mine:
            return
        a = self.rng.choice(self.mine)
        if not self.world.has(a.table, "validation_status"):
            return
        supervisor = self.world.supervisor_of.get(a.employee.email)
        _as(c, supervisor)  # the agent's supervisor; an admin (service_role) for an agent without one
        if path == "legacy":
            n = c.execute(sql.SQL("UPDATE public.{} SET validation_status = 'approved' WHERE id = %s").format(
                sql.Identifier(a.table)), (a.id,)).rowcount
        else:
            n = c.execute("UPDATE public.audits SET validation_status = 'approved' WHERE id = %s AND deleted_at IS NULL",
                          (a.aid,)).rowcount
            if not n and supervisor is not None and c.execute(
                    "SELECT cqms_security.current_access_level()").fetchone()[0] in ("elevated", "admin"):
                # the supervisor is elevated: if the audit is in audits (as the server sees it), RLS
                # hid a team's audit the legacy table let them validate. One the mapping quarantined
                # (an unmapped status, say) is not there: the check counts it as quarantined.
                c.execute("RESET ROLE")
                if c.execute("SELECT 1 FROM public.audits WHERE id = %s AND deleted_at IS NULL", (a.aid,)).fetchone():
                    raise SimulatorRefused(f"supervisor {supervisor.email} could not validate {a.id}, "
                                           f"an audit of {a.employee.email}, through audits")
        if n:
            self._after_commit(c, ("validation", a.id), {"table": a.table, "status": "approved"})

    def team_read(self, c, path):
        if not self.world.supervisors:
            return
        me = self.rng.choice(self.world.supervisors)
        _as(c, me)
        if path == "legacy":
            team = [p.email for p in self.world.team_of.get(me.email, [])]
            for table, _ in self.rng.sample(self.world.tables, min(3, len(self.world.tables))):
                c.execute(sql.SQL("SELECT count(*) FROM public.{} WHERE employee_email = ANY(%s)").format(
                    sql.Identifier(table)), (team,)).fetchone()
        else:
            c.execute("SELECT count(*) FROM public.audits a JOIN public.employees e ON e.id = a.employee_id "
                      "JOIN public.employees s ON s.id = e.supervisor_id "
                      "WHERE s.auth_user_id = %s AND a.deleted_at IS NULL", (me.auth_user_id,)).fetchone()

    def delete(self, c, path):
        fresh = [a for a in self.mine if a not in self.world.audits_of[self.idx] and not a.large]
        if not fresh:
            return
        a = self.rng.choice(fresh)
        _as(c, None)
        if path == "legacy":
            c.execute(sql.SQL("DELETE FROM public.{} WHERE id = %s").format(sql.Identifier(a.table)), (a.id,))
        else:
            c.execute("DELETE FROM public.audits WHERE id = %s", (a.aid,))
        self.mine.remove(a)
        self._after_commit(c, ("audit", a.id), {"table": a.table, "score": None, "deleted": True, "aid": a.aid})
        self._after_commit(c, ("ack", a.id), None)
        self._after_commit(c, ("reversal", a.id), None)
        self._after_commit(c, ("validation", a.id), None)

    def new_hire(self, c, path):
        self.hires += 1
        email = f"hire.{self.idx}.{self.hires}.{uuid.UUID(int=self.rng.getrandbits(128)).hex[:6]}@example.com"
        name = f"New Hire {self.idx}-{self.hires}"
        _as(c, None)
        if path == "legacy":
            sh = self.world.shape
            values = {"email": email, "name": name, "role": "Agent", "department": "Support", "channel": "Chat",
                      "team": "Team Rehearsal", "is_active": sh.active, "login_count": 0}
            self.legacy_hires += 1
            if self.legacy_hires % HOSTILE_EVERY == 2:   # legal, hostile: every reference past a b-tree entry
                values |= {k: f"{k} {self.idx}-{self.hires} " + "x" * LONG
                           for k in ("department", "channel", "team", "team_supervisor", "quality_mentor")}
            if self.legacy_hires % LARGE_EVERY == 1:     # and a long name (200 kB: 2 MB names cost phase 01's
                name = values["name"] = name + " " + "n" * LONG_NAME   # merge 0.3 s each, issue 21)
            values = {k: v for k, v in values.items() if sh.usable("people", k)}
            c.execute(sql.SQL("INSERT INTO public.people ({}) VALUES ({})").format(
                sql.SQL(", ").join(sh.col("people", k) for k in values),
                sql.SQL(", ").join(sh.value("people", k) for k in values)), list(values.values()))
        else:
            c.execute("INSERT INTO public.employees (email, name, role_id) "
                      "SELECT %s, %s, r.id FROM public.roles r ORDER BY r.level, r.code LIMIT 1", (email, name))
        self.my_hires.append(email)
        self._after_commit(c, ("hire", email), name)

    def reorg(self, c, path):
        """A supervisor hired and made the supervisor of one of this worker's hires, in one
        transaction; or one hired so before leaves. Checked after every stage, and by verify
        (every employee's supervisor_id recomputed from the legacy rows)."""
        _as(c, None)
        reports = [e for e in self.my_hires if e not in self.bosses]
        if self.bosses and self.rng.random() < 0.4:
            boss = self.bosses.pop(0)
            if path == "legacy":
                c.execute(sql.SQL("DELETE FROM public.people p WHERE {} = %s").format(self.world.shape.col("people", "email")),
                          (boss,))
            else:
                c.execute("UPDATE public.employees SET deleted_at = now(), is_active = false WHERE email = %s", (boss,))
            self._after_commit(c, ("boss", boss), "gone")
            return
        if not reports:
            return
        report = self.rng.choice(reports)
        self.hires += 1
        boss = f"boss.{self.idx}.{self.hires}.{uuid.UUID(int=self.rng.getrandbits(128)).hex[:6]}@example.com"
        name = f"Boss {self.idx}-{self.hires}"
        if path == "legacy":
            sh = self.world.shape
            values = {k: v for k, v in {"email": boss, "name": name, "role": "Supervisor", "department": "Support",
                                        "channel": "Chat", "team": "Team Rehearsal", "is_active": sh.active,
                                        "login_count": 0}.items() if sh.usable("people", k)}
            c.execute(sql.SQL("INSERT INTO public.people ({}) VALUES ({})").format(
                sql.SQL(", ").join(sh.col("people", k) for k in values),
                sql.SQL(", ").join(sh.value("people", k) for k in values)), list(values.values()))
            c.execute(sql.SQL("UPDATE public.people p SET {} = %s WHERE {} = %s").format(
                sh.col("people", "team_supervisor"), sh.col("people", "email")), (boss, report))
        else:
            c.execute("INSERT INTO public.employees (email, name, role_id) SELECT %s, %s, r.id FROM public.roles r "
                      "ORDER BY r.level, r.code LIMIT 1", (boss, name))
            c.execute("UPDATE public.employees SET supervisor_id = (SELECT id FROM public.employees WHERE email = %s "
                      "AND deleted_at IS NULL) WHERE email = %s", (boss, report))
        self.bosses.append(boss)
        self._after_commit(c, ("boss", boss), "here")
        self._after_commit(c, ("supervisor", report), boss)

    def assignment(self, c, path):
        if self.assignments and self.rng.random() < 0.5:
            aid = self.assignments.pop()
            _as(c, None)
            if path == "unified":
                # an assignment the legacy table holds but the mapping quarantined is not in
                # assignments: the unified application cannot complete it (nothing recorded)
                n = c.execute("UPDATE public.assignments SET status = 'completed', completed_at = now() WHERE id = %s",
                              (aid,)).rowcount
                if n == 1:
                    self._after_commit(c, ("assignment", aid), "completed")
                return
            c.execute("UPDATE public.audit_assignments SET status = 'completed', completed_at = now() WHERE id = %s", (aid,))
            self._after_commit(c, ("assignment", aid), "completed")
            return
        with self.world.lock:
            _, sid = self.rng.choice(self.world.tables)
        employee, auditor = self.rng.sample(self.world.people_of[self.idx], 2)
        aid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if path == "unified":
            # by ids: both must be employees (a person not hired on the unified side yet has none)
            _as(c, None)
            n = c.execute("INSERT INTO public.assignments (id, employee_id, auditor_id, assigner_id, scorecard_id, status, "
                          "scheduled_date) SELECT %s, e.id, a.id, a.id, %s, 'pending', current_date "
                          "FROM public.employees e, public.employees a WHERE lower(btrim(e.email)) = lower(btrim(%s)) "
                          "AND lower(btrim(a.email)) = lower(btrim(%s)) AND e.deleted_at IS NULL AND a.deleted_at IS NULL "
                          "AND e.id <> a.id LIMIT 1", (aid, sid, employee.email, auditor.email)).rowcount
            if n == 1:
                self.assignments.append(aid)
                self._after_commit(c, ("assignment", aid), "pending")
            return
        _as(c, auditor)
        c.execute("INSERT INTO public.audit_assignments (id, employee_email, employee_name, auditor_email, scorecard_id, "
                  "status, scheduled_date, created_at) VALUES (%s, %s, %s, %s, %s, 'pending', current_date, now())",
                  (aid, employee.email, employee.name, auditor.email, sid))
        self.assignments.append(aid)
        self._after_commit(c, ("assignment", aid), "pending")

    def _after_commit(self, c, key, content) -> None:
        """Recorded once the request's transaction commits (the run loop)."""
        self._pending.append((key, content))


def check(conn: psycopg.Connection, log: WriteLog, flags: dict[str, bool] | None = None,
          shape: Shape | None = None, maps: dict | None = None) -> dict:
    """Every committed write's last content, read back through both paths (``maps``: the
    operator's vocabularies, vocab.maps(params), to read a status). Returns counts and the
    first differences; ``lost`` counts keys whose content is not where the current path reads."""
    flags = flags if flags is not None else _flags(conn)
    sh = shape or Shape(conn)
    has = lambda rel: conn.execute("SELECT to_regclass(%s) IS NOT NULL", (rel,)).fetchone()[0]  # noqa: E731
    unified_audits, unified_employees = has("public.audits"), has("public.employees")
    unified_assignments = has("public.assignments")
    out = {"checked": 0, "lost": 0, "quarantined": 0, "examples": []}

    def bad(key, expected, got, path):
        out["lost"] += 1
        if len(out["examples"]) < 10:
            out["examples"].append({"key": list(key), "expected": expected, "found": got, "path": path})

    for key, content in list(log.last.items()):
        kind, k = key
        out["checked"] += 1
        if content is None:
            out["checked"] -= 1  # nothing to find (an acknowledgement of an audit deleted since)
            continue
        if kind == "audit":
            t = sql.Identifier(content["table"])
            legacy = conn.execute(sql.SQL("SELECT average_score FROM public.{} WHERE id = %s").format(t), (k,)).fetchone()
            want = content["score"]
            if content.get("deleted"):
                if legacy is not None:
                    bad(key, "deleted", legacy[0], "legacy")
                elif unified_audits and conn.execute("SELECT 1 FROM public.audits WHERE id = %s AND deleted_at IS NULL",
                                                     (content.get("aid", k),)).fetchone():
                    bad(key, "deleted", "present", "unified")
                continue
            if legacy is None or legacy[0] is None or round(float(legacy[0]), 2) != want:
                bad(key, want, legacy and legacy[0], "legacy")
                continue
            if unified_audits:
                got = conn.execute("SELECT total_score FROM public.audits WHERE id = %s AND deleted_at IS NULL",
                                   (content.get("aid", k),)).fetchone()
                if got is None:
                    q = conn.execute("SELECT reason FROM cqms_migration.quarantine WHERE source_key = %s", (k,)).fetchone()
                    if q:  # the legacy row holds the write; the mapping quarantines it (verify checks why)
                        out["quarantined"] += 1
                    else:
                        bad(key, want, None, "unified")
                elif round(float(got[0]), 2) != want:
                    bad(key, want, got[0], "unified")
        elif kind == "ack":
            t = sql.Identifier(content["table"])
            got = conn.execute(sql.SQL("SELECT acknowledgement_status FROM public.{} WHERE id = %s").format(t), (k,)).fetchone()
            if not got or not _means(got[0], "acknowledgement_status", content["status"], maps):
                bad(key, content["status"], got and got[0], "legacy")
        elif kind == "reversal":
            got = conn.execute(sql.SQL("SELECT reversal_requested_at FROM public.{} WHERE id = %s").format(
                sql.Identifier(content["table"])), (k,)).fetchone()
            if not got or got[0] is None:
                bad(key, "requested", got and got[0], "legacy")
        elif kind == "validation":
            got = conn.execute(sql.SQL("SELECT validation_status FROM public.{} WHERE id = %s").format(
                sql.Identifier(content["table"])), (k,)).fetchone()
            if not got or not _means(got[0], "validation_status", content["status"], maps):
                bad(key, content["status"], got and got[0], "legacy")
        elif kind == "login":
            got = conn.execute(sql.SQL("SELECT {} FROM public.users u WHERE {} = %s").format(
                sh.read("users", "last_sign_in_at", "u"), sh.col("users", "id")), (k,)).fetchone()
            if not got or got[0] != content:
                bad(key, str(content), got and str(got[0]), "legacy")
            elif unified_employees:
                e = conn.execute("SELECT last_login_at FROM public.employees WHERE auth_user_id = %s", (k,)).fetchone()
                if not e or e[0] < content:
                    bad(key, str(content), e and str(e[0]), "unified")
        elif kind == "hire":
            got = conn.execute(sql.SQL("SELECT {} FROM public.people p WHERE {} = %s").format(
                sh.read("people", "name", "p"), sh.col("people", "email")), (k,)).fetchone()
            if not got or got[0] != content:
                bad(key, content, got and got[0], "legacy")
            elif unified_employees and conn.execute("SELECT name FROM public.employees WHERE email = %s",
                                                    (k,)).fetchone() != (content,):
                bad(key, content, None, "unified")
        elif kind == "boss":
            here = conn.execute(sql.SQL("SELECT count(*) FROM public.people p WHERE {} = %s").format(
                sh.col("people", "email")), (k,)).fetchone()[0]
            if here != (content == "here"):
                bad(key, content, f"{here} people rows", "legacy")
            elif unified_employees and conn.execute(
                    "SELECT count(*) FROM public.employees WHERE email = %s AND deleted_at IS NULL",
                    (k,)).fetchone()[0] != (content == "here"):
                bad(key, content, "employee", "unified")
        elif kind == "supervisor":
            got = conn.execute(sql.SQL("SELECT {} FROM public.people p WHERE {} = %s").format(
                sh.read("people", "team_supervisor", "p"), sh.col("people", "email")), (k,)).fetchone()
            if not got or (got[0] or "").lower() != content.lower():
                bad(key, content, got and got[0], "legacy")
            elif unified_employees:
                # the report's supervisor is the boss while the boss is here, nobody once gone
                live = log.last.get(("boss", content)) == "here"
                e = conn.execute("SELECT s.email FROM public.employees r LEFT JOIN public.employees s ON s.id = r.supervisor_id "
                                 "WHERE r.email = %s", (k,)).fetchone()
                if not e or (e[0] or None) != (content if live else None):
                    bad(key, content if live else None, e and e[0], "unified")
        elif kind == "parameter":
            # by the legacy name: the table before phase 03's rename and after its revert, the view between
            got = conn.execute("SELECT prompt FROM public.scorecard_perameters WHERE id::text = %s", (k,)).fetchone()
            if not got or got[0] != content:
                bad(key, content, got and got[0], "legacy")
        elif kind == "assignment":
            got = conn.execute("SELECT status FROM public.audit_assignments WHERE id = %s", (k,)).fetchone()
            if not got or got[0] != content:
                bad(key, content, got and got[0], "legacy")
            elif unified_assignments:
                # the unified row, where the mapping resolved it, says the same
                u = conn.execute("SELECT status FROM public.assignments WHERE id = %s", (k,)).fetchone()
                if u and u[0] != content:
                    bad(key, content, u[0], "unified")
    conn.rollback()
    out["flags"] = flags
    return out
