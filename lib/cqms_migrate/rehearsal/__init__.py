"""Rehearsal under load (issue 13): the whole migration run through the runner while a simulated
application (workload.py) reads and writes, with faults injected, then every phase rolled back
under load and run again. The verdict is computed from what the application saw and what the
database holds, never eyeballed:

  lost          acknowledged writes whose last content is not found (through both paths), after
                every stage
  errors        application errors by kind; only those provoked on purpose are allowed
  latency       p50, p99 and max per stage, p99 against the no-migration baseline: the
                application alone, and the application while the runner dry-runs every phase (its
                kernels share this machine's cores with the database, unlike production); the
                higher of the two
  lock waits    the longest any application query waited on a lock (sampled from pg_stat_activity)
  rollback      seconds per phase
  verify        cqms-migrate verify after every stage

Stages: baseline (no migration) -> baseline, runner dry run (no migration) -> migrate (phases 00-02, with faults) -> rollback 02 -> rollback
01 -> migrate again. Faults (each optional): the phase-02 kernel killed after its 2nd backfill
batch (CQMS_FAULTS=crash_after_batch) and the run re-started; a statement timeout inside a batch
(timeout_batch); the runner's backend terminated mid-step (pg_terminate_backend) and the run
re-started; an application transaction holding a row of people while phase 01 installs its
trigger (the phase waits within its lock timeout and retries); a new scorecard table created
while the migration runs (the application writes it at once).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from .. import phases
from .. import verify as verify_mod
from .. import vocab
from .workload import APP_NAME, Sample, Worker, World, WriteLog, check

CONTROL = "baseline, runner dry run"

FAULTS = ("crash", "statement_timeout", "terminate", "lock_holder", "new_table")




def _built_phases() -> list:
    """The phases that change the database, in the registry's order."""
    return [ph for ph in phases.PHASES if ph.build]

@dataclass
class Verdict:
    stages: pd.DataFrame                  # per stage: ops, errors, p50/p99/max ms, lost, verify
    errors: pd.DataFrame                  # kind, stage, count, provoked
    faults: pd.DataFrame                  # what was injected and what happened
    rollback_seconds: dict[str, float]
    baseline_p99_ms: float
    max_lock_wait_ms: float
    lock_wait_limit_ms: float
    samples: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    events: list = field(default_factory=list)  # (time, label) phase boundaries and faults
    failures: list[str] = field(default_factory=list)
    checks: pd.DataFrame = field(default_factory=pd.DataFrame)  # criterion, ok, detail

    def passed(self, criterion: str) -> bool:
        """Whether every check of this criterion passed. A name no check carries raises: a renamed
        or misspelt criterion must not pass by selecting nothing."""
        known = set(self.checks["criterion"]) if "criterion" in self.checks else set()
        if criterion not in known:
            raise KeyError(f"no rehearsal check is named {criterion!r}; the verdict's criteria are {sorted(known)}")
        return bool(self.checks.loc[self.checks["criterion"] == criterion, "ok"].all())

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return ("PASSED" if self.ok else "FAILED: " + "; ".join(self.failures))

    def latency_by_operation(self) -> pd.DataFrame:
        """p99 ms of each operation (and path) per stage, with its count: where a stage's p99
        comes from (a write through the sync triggers, a read that scans...)."""
        s = self.samples
        if s.empty:
            return pd.DataFrame()
        ok = s[s["error"].isna()].assign(ms=lambda d: d["seconds"] * 1000)
        order = list(dict.fromkeys(ok["stage"]))
        p99 = ok.pivot_table(index=["op", "path"], columns="stage", values="ms",
                             aggfunc=lambda x: round(float(x.quantile(0.99)), 1))
        n = ok.groupby(["op", "path"]).size().rename("operations")
        return p99.reindex(columns=[c for c in order if c in p99.columns]).join(n).sort_values(
            order[-1] if order and order[-1] in p99.columns else "operations", ascending=False)

    def key_figures(self) -> dict:
        """One line per criterion (FAILED marked), for the banner and the run's index.html."""
        return {str(r["criterion"]): ("" if r["ok"] else "FAILED: ") + str(r.get("detail", ""))
                for r in self.checks.to_dict("records")}

    def raise_if_failed(self) -> None:
        from ..errors import CheckFailed
        if not self.ok:
            raise CheckFailed(f"rehearsal verdict: {self.summary()}")


class LockMonitor(threading.Thread):
    """The longest wait on a lock of any application query, sampled every 50 ms."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop, self.max_ms, self.where = url, threading.Event(), 0.0, ""

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="cqms-rehearsal-monitor") as c:
            while not self.stop.wait(0.05):
                # the waiting query, and who it waits for (application, its statement, since when)
                row = c.execute(
                    "SELECT extract(epoch FROM clock_timestamp() - w.query_start) * 1000, left(w.query, 80), "
                    "(SELECT string_agg(format('%%s [%%s, %%s s] %%s', b.application_name, b.state, "
                    "round(extract(epoch FROM clock_timestamp() - coalesce(b.xact_start, b.query_start)))::int, "
                    "left(regexp_replace(b.query, '\\s+', ' ', 'g'), 120)), ' | ') "
                    " FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(w.pid))) "
                    "FROM pg_stat_activity w WHERE w.application_name = %s AND w.wait_event_type = 'Lock' "
                    "ORDER BY 1 DESC LIMIT 1", (APP_NAME,)).fetchone()
                if row and row[0] > self.max_ms:
                    self.max_ms = float(row[0])
                    self.where = f"{row[1]} waiting for: {row[2] or '?'}"


class Rehearsal:
    def __init__(self, env: str = "local", params_file: str | None = None, workers: int = 4, rate: float = 20.0,
                 baseline_s: float = 5.0, seed: int = 11, faults: tuple[str, ...] = FAULTS, log=print,
                 extra_steps: dict | None = None, control: bool = True, until: str | None = None):
        from ..db import resolve_target
        from ..params import load_params
        self.env, self.params_file, self.log = env, params_file, log
        self.params = load_params(env, params_file)
        self.url = resolve_target(self.params).url
        self.workers_n, self.rate, self.baseline_s, self.seed = workers, rate, baseline_s, seed
        self.faults = tuple(faults)
        self.stage = ["setup"]
        self.samples: list[Sample] = []
        self.writes = WriteLog()
        self.events: list = []
        self.fault_rows: list[dict] = []
        self.stage_rows: list[dict] = []
        self.rollback_seconds: dict[str, float] = {}
        self.provoked: set[str] = set()
        self.extra_steps = extra_steps or {}
        # tests of the verdict itself: a defect planted in the migrate stage needs neither the
        # control (the latency baseline) nor the stages after it. The verdict then says which
        # stages ran (a criterion over stages that did not run is not met by their absence)
        if until not in (None, "migrate"):
            raise ValueError(f"until: only 'migrate' (the stages after it are skipped), not {until!r}")
        self.control, self.until = control, until
        # the runs it starts keep a trail of their own (outputs/rehearsals/<id>/<env>/...)
        from ..paths import outputs_dir
        from ..context import new_run_id
        self.trail = outputs_dir() / "rehearsals" / (os.environ.get("CQMS_RUN_ID") or new_run_id())

    # -- helpers --------------------------------------------------------------------------------
    def _mark(self, label: str) -> None:
        self.events.append((time.time(), label))
        self.log(f"[rehearsal] {label}")

    def _run(self, action: str, faults: str = "", phases: list[str] | None = None, through: str | None = None,
             phase: str | None = None, dry_run: bool = False) -> str | None:
        """The runner as the operator runs it: its own process (a crash fault kills only it), at
        a lower CPU priority (in production it runs on another machine than the database; here
        the two cores are shared with the application). Returns None, or why it failed."""
        import subprocess
        import sys
        args = [sys.executable, "-m", "cqms_migrate", action, "--env", self.env, "--params", str(self._phase_params())]
        if action == "run":
            args += ["--phase", *phases] if phases else ["--through", through]
            args += ["--dry-run"] if dry_run else []
        else:
            args += ["--phase", phase]
        env = dict(os.environ)
        env.pop("CQMS_FAULTS", None)
        env.pop("CQMS_RUN_ID", None)  # each run its own id
        env["CQMS_OUTPUTS"] = str(self.trail)
        if faults:
            env["CQMS_FAULTS"] = faults
        proc = subprocess.run(["nice", "-n", "15", *args], env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            return None
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"exit {proc.returncode}: {tail[-1][:200] if tail else ''}"

    def _phase_params(self) -> Path:
        """The params the phases run with: the rehearsal's, without the unbatched-baseline benchmark
        (it holds every legacy audit table's new rows for the length of a full unbatched copy, so
        the application would wait for our instrument, not for the migration: 95 s at 1M audits).
        Written once beside the rehearsal's trail (params hold no secret)."""
        import yaml
        from ..params import default_params_file
        path = self.trail / "phase-params.yaml"
        if not path.is_file():
            source = Path(self.params_file) if self.params_file else default_params_file(self.env)
            raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
            raw["measure_unbatched_baseline"] = False
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# written by the rehearsal from " + str(source) + "\n" + yaml.safe_dump(raw, sort_keys=False),
                            encoding="utf-8")
        return path

    def _check_stage(self, name: str, started: float) -> None:
        """After a stage: the application pauses between requests (a check needs the writes to
        hold still: a write committed while it reads would look lost), is checked, resumes."""
        self.world.running.clear()
        deadline = time.time() + 30
        while not all(w.idle.is_set() or not w.is_alive() for w in self.workers) and time.time() < deadline:
            time.sleep(0.01)
        try:
            self._check_now(name, started)
        finally:
            self.world.running.set()

    def _check_now(self, name: str, started: float) -> None:
        with psycopg.connect(self.url) as c:
            found = check(c, self.writes, shape=self.world.shape, maps=vocab.maps(self.params))
            # the application writes roles only as its server side: any role held for review is a
            # person's own sign-in or edit mistaken for a role they gave themselves
            held = c.execute("SELECT count(*) FROM cqms_migration.p01_role_holds").fetchone()[0] \
                if c.execute("SELECT to_regclass('cqms_migration.p01_role_holds') IS NOT NULL").fetchone()[0] else 0
            c.rollback()
            try:
                v = verify_mod.run(c)
                verified, vdetail = v.ok, "" if v.ok else "; ".join(
                    f"{x.name}: {x.missing} missing, {x.extra} extra, {dict((k, n) for k, n in x.per_column.items() if n)}"
                    for x in v.comparisons if not x.ok)[:400]
            except Exception as e:  # noqa: BLE001 - the verdict records it
                verified, vdetail = False, f"{type(e).__name__}: {e}"[:400]
        mine = [s for s in self.samples if s.stage == name]
        ms = sorted(s.seconds * 1000 for s in mine if s.error is None)
        self.stage_rows.append({
            "stage": name, "seconds": round(time.time() - started, 1), "operations": len(mine),
            "errors": sum(1 for s in mine if s.error), "p50 ms": round(statistics.median(ms), 1) if ms else None,
            "p99 ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1) if ms else None,
            "max ms": round(ms[-1], 1) if ms else None, "writes checked": found["checked"], "lost": found["lost"],
            "in legacy, quarantined by the mapping": found["quarantined"], "roles held": held,
            # a REPEATABLE READ application's serialization failures, retried (workload.py)
            "RR retries": sum(1 for w in self.workers for st, _ in w.rr_retries if st == name),
            "lost examples": found["examples"][:3], "verify": "clean" if verified else vdetail})
        self._mark(f"{name}: {found['checked']} writes checked, {found['lost']} lost, verify "
                   f"{'clean' if verified else 'NOT clean'}")

    # -- faults ---------------------------------------------------------------------------------
    def _terminate_when(self, phase_app: str, step_hint: str, done: threading.Event) -> threading.Thread:
        """Terminate the runner's backend once, while it runs a statement matching ``step_hint``."""
        def watch():
            with psycopg.connect(self.url, autocommit=True) as c:
                deadline = time.time() + 300
                while not done.is_set() and time.time() < deadline:
                    row = c.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s AND state = 'active' "
                                    "AND query ILIKE %s LIMIT 1", (f"%{phase_app}%", f"%{step_hint}%")).fetchone()
                    if row:
                        hit = c.execute("SELECT pg_terminate_backend(%s)", (row[0],)).fetchone()[0]
                        self.fault_rows.append({"fault": "terminate", "what": f"pg_terminate_backend on the runner "
                                                f"({phase_app}, a statement with {step_hint!r})", "at": time.time(),
                                                "happened": bool(hit)})
                        return
                    time.sleep(0.02)
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        return t

    def _hold_people_row(self, seconds: float) -> threading.Thread:
        """An application transaction that updated a people row and keeps it open."""
        def hold():
            with psycopg.connect(self.url, application_name="cqms-rehearsal-holder") as c:
                email = self.world.shape.col("people", "email")
                held = c.execute(sql.SQL("UPDATE public.people SET {e} = {e} WHERE {e} = "
                                         "(SELECT min({e}) FROM public.people WHERE {e} LIKE '%%@%%')").format(e=email)).rowcount
                # (recorded once the row is held: a fault that held nothing did not happen)
                self.fault_rows.append({"fault": "lock_holder", "what": f"a transaction holding a people row for "
                                        f"{seconds:g}s while phase 01 installs its triggers", "at": time.time(),
                                        "happened": held == 1})
                time.sleep(seconds)
                c.rollback()
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        return t

    def _new_table(self, world: World) -> None:
        name = f"rehearsal_{uuid.uuid4().hex[:6]}_audit"
        with psycopg.connect(self.url, autocommit=True) as c:
            template = world.tables[0][0]
            c.execute(sql.SQL("CREATE TABLE public.{} (LIKE public.{} INCLUDING DEFAULTS)").format(
                sql.Identifier(name), sql.Identifier(template)))
            c.execute(sql.SQL("ALTER TABLE public.{} ADD PRIMARY KEY (id)").format(sql.Identifier(name)))
            sid = str(uuid.uuid4())
            c.execute("INSERT INTO public.scorecards (id, name, table_name, passing_threshold, is_active, version) "
                      "SELECT %s, 'Rehearsal scorecard', %s, 80, true, 1", (sid, name))
            c.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON public.{} TO authenticated, service_role".replace(
                "{}", sql.Identifier(name).as_string(c)))
        world.add_table(name, sid, dict(world.columns[template]))
        self.fault_rows.append({"fault": "new_table", "what": f"scorecard table {name} created while the migration "
                                "runs; the application writes it at once", "at": time.time(), "happened": True})

    # -- the rehearsal --------------------------------------------------------------------------
    def run(self) -> Verdict:
        with psycopg.connect(self.url) as c:
            world = World(c, self.workers_n, self.seed, exclude=tuple(x.table for x in self.params.exclude_tables))
        if len(world.people) < 4 * self.workers_n or not world.auditors:
            raise ValueError("the legacy dataset is too small for the rehearsal's workers")
        self.world = world
        monitor = LockMonitor(self.url)
        monitor.start()
        self.workers = workers = [Worker(i, self.url, world, self.writes, self.samples, self.rate, self.stage, self.seed)
                   for i in range(self.workers_n)]
        for w in workers:
            w.start()
        try:
            self._stages(world)
        finally:
            for w in workers:
                w.stop.set()
            for w in workers:
                w.join(30)
            monitor.stop.set()
            monitor.join(5)
        return self._verdict(monitor)

    def _stages(self, world: World) -> None:
        # baseline: the application alone
        self.stage[0] = "baseline"
        t = time.time()
        self._mark("baseline: the application alone")
        time.sleep(self.baseline_s)
        self._check_stage("baseline", t)

        # the control: the runner's own processes (papermill kernels, HTML rendering) on these two
        # cores, changing nothing (a dry run of every phase). In production the runner runs on
        # another machine; here its CPU would be counted against the migration
        if self.control:
            self.stage[0] = CONTROL
            t = time.time()
            self._mark(f"{CONTROL}: the application while the runner dry-runs every phase")
            if (err := self._run("run", through=_built_phases()[-1].name, dry_run=True)):
                raise RuntimeError(f"the dry run failed: {err}")
            self._check_stage(CONTROL, t)

        # migrate, with faults: every phase of the registry in order (phases.PHASES); the lock
        # holder aims at the first, the crash, timeout and terminate faults at the phase that
        # runs a batched backfill (Phase.backfill_marker)
        built = _built_phases()
        last = built[-1].name
        self.stage[0] = "migrate"
        t = time.time()
        self._mark(f"migrate: phases {phases.names()[0][:2]}-{last[:2]} through the runner")
        for i, ph in enumerate(built):
            if i == 0:
                holder = self._hold_people_row(1.5) if "lock_holder" in self.faults else None
                err = self._run("run", through=ph.name)
                if holder:
                    holder.join()
                if err:
                    self._mark(f"phase {ph.name[:2]} failed ({err}); re-run")
                    self.fault_rows.append({"fault": "lock_holder", "what": f"phase {ph.name[:2]} stopped: {err}; re-run",
                                            "at": time.time(), "happened": True})
                    if (err := self._run("run", phases=[ph.name])):
                        raise RuntimeError(f"phase {ph.name[:2]} failed twice: {err}")
                self._mark(f"phase {ph.name[:2]} done")
                if "new_table" in self.faults:
                    self._new_table(world)
                continue
            if ph.backfill_marker:
                self._batch_faults(ph)
            if (err := self._run("run", phases=[ph.name])):
                raise RuntimeError(f"phase {ph.name[:2]} failed after its faults: {err}")
            if ph is built[-1]:
                for name, step in self.extra_steps.items():  # tests: a deliberately broken migration
                    self._mark(f"extra step {name}")
                    step(self.url)
            self._mark(f"phase {ph.name[:2]} done")
        self._check_stage("migrate", t)
        if self.until == "migrate":
            self.stage[0] = "done"
            return

        # roll back each phase under load, in reverse
        for ph in reversed(built):
            phase = ph.name
            self.stage[0] = f"rollback {phase}"
            t = time.time()
            self._mark(f"rollback {phase}")
            err = self._run("rollback", phase=phase)
            self.rollback_seconds[phase] = round(time.time() - t, 1)
            if err:
                raise RuntimeError(f"rollback of {phase} failed: {err}")
            self._check_stage(f"rollback {phase}", t)

        # and again
        self.stage[0] = "migrate again"
        t = time.time()
        self._mark("migrate again")
        if (err := self._run("run", through=last)):
            raise RuntimeError(f"the second run failed: {err}")
        self._check_stage("migrate again", t)
        self.stage[0] = "done"

    def _batch_faults(self, ph) -> None:
        """The faults aimed at a phase's batched backfill: a crash after a batch and a statement
        timeout (CQMS_FAULTS), then a backend terminated mid-batch (found by the comment its
        statements open with: pg_stat_activity keeps the first 1 kB)."""
        if "crash" in self.faults or "statement_timeout" in self.faults:
            spec = ",".join(x for x, on in (("crash_after_batch=2", "crash" in self.faults),
                                            ("timeout_batch=1", "statement_timeout" in self.faults)) if on)
            self._mark(f"phase {ph.name[:2]} with CQMS_FAULTS={spec}")
            err = self._run("run", faults=spec, phases=[ph.name])
            # a crash that happened stops the run (the kernel dies after a batch); a run that
            # finished was not crashed
            self.fault_rows.append({"fault": "crash" if "crash" in self.faults else "statement_timeout",
                                    "what": f"CQMS_FAULTS={spec}: " + (f"the run stopped ({err[:120]})" if err else
                                                                      "the run finished"), "at": time.time(),
                                    "happened": bool(err) if "crash" in self.faults else True})
        if "terminate" in self.faults:
            done = threading.Event()
            watcher = self._terminate_when(ph.name, ph.backfill_marker, done)
            err = self._run("run", phases=[ph.name])
            done.set()
            watcher.join(5)
            self._mark(f"phase {ph.name[:2]} after terminate: {err or 'succeeded'}")

    def _verdict(self, monitor: LockMonitor) -> Verdict:
        stages = pd.DataFrame(self.stage_rows)
        errs = [s for s in self.samples if s.error]
        errors = (pd.DataFrame([{"stage": s.stage, "op": s.op, "kind": s.error.split(":")[0], "example": s.error}
                                for s in errs])
                  .groupby(["stage", "op", "kind"], as_index=False).agg(count=("example", "size"), example=("example", "first"))
                  if errs else pd.DataFrame(columns=["stage", "op", "kind", "count", "example"]))
        def p99_of(stage: str) -> float:
            v = stages.loc[stages["stage"] == stage, "p99 ms"] if len(stages) else []
            return float(v.iloc[0]) if len(v) and v.iloc[0] is not None else 0.0
        alone, control = p99_of("baseline"), p99_of(CONTROL)
        # the no-migration baseline: the application with the runner's own processes running
        # (they share these cores with the database here, not in production)
        baseline_p99 = max(alone, control)
        lock_limit = max(ms for ms, _ in self.params.legacy_lock_retries) + max(self.params.batch_target_ms * 2, 1000)
        checks = []

        def crit(name, ok, detail):
            checks.append({"criterion": name, "ok": bool(ok), "detail": detail})

        lost = int(stages["lost"].max()) if len(stages) else 0
        crit("acknowledged writes lost", lost == 0, f"{lost} not found after some stage" if lost else
             f"0 of {int(stages['writes checked'].max()) if len(stages) else 0} (last content of every key, both paths)")
        n_err = int(errors["count"].sum()) if len(errors) else 0
        crit("application errors", n_err == 0, ", ".join(f"{r.kind} in {r.op} ({r.stage}) x{r.count}"
                                                   for r in errors.itertuples())[:400] if n_err else "none")
        dirty = stages[stages["verify"] != "clean"] if len(stages) else stages
        crit("verify after every stage", not len(dirty),
             "clean" if not len(dirty) else "; ".join(f"{r.stage}: {r.verify}" for r in dirty.itertuples())[:400])
        crit("longest application lock wait", monitor.max_ms <= lock_limit,
             f"{monitor.max_ms:.0f} ms (limit {lock_limit:.0f} ms: the legacy lock timeout plus a batch)"
             + (f"; {monitor.where}" if monitor.max_ms > lock_limit else ""))
        slow = [f"{r['stage']} {r['p99 ms']} ms" for _, r in stages.iterrows()
                if r["stage"] not in ("baseline", CONTROL) and baseline_p99 and r["p99 ms"]
                and r["p99 ms"] > 2 * baseline_p99]
        crit("p99 latency at most 2x the baseline", not slow,
             f"baseline {baseline_p99} ms (the application alone {alone} ms, with the runner dry-running "
             f"every phase {control} ms)" + (f"; over: {', '.join(slow)}" if slow else ""))
        held = stages[stages["roles held"] > 0] if len(stages) else stages
        crit("no role held from the application's writes", not len(held),
             "none (the application writes roles as its server side)" if not len(held) else
             "; ".join(f"{r['stage']}: {r['roles held']}" for _, r in held.iterrows()))
        long = {p: s for p, s in self.rollback_seconds.items() if s > 15 * 60}
        # a rehearsal that rolled nothing back has not shown a rollback (until='migrate')
        crit("rollback of each phase under 15 minutes", self.rollback_seconds and not long,
             ", ".join(f"{p} {s} s" for p, s in self.rollback_seconds.items()) or "no rollback ran")
        checks = pd.DataFrame(checks)
        failures = [f"{r.criterion}: {r.detail}" for r in checks.itertuples() if not r.ok]
        samples = pd.DataFrame([s.__dict__ for s in self.samples])
        return Verdict(stages, errors, pd.DataFrame(self.fault_rows), self.rollback_seconds, baseline_p99,
                       monitor.max_ms, lock_limit, samples, self.events, failures, checks)


def rehearse(env: str = "local", **kw) -> Verdict:
    return Rehearsal(env, **kw).run()


def chart(v: Verdict):
    """Application latency (p99 and p50 per second) and throughput over time, stage boundaries
    and faults marked."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    if v.samples.empty:
        return fig
    s = v.samples.copy()
    t0 = s["at"].min()
    s["t"] = (s["at"] - t0).astype(int)
    ok = s[s["error"].isna()]
    per = ok.groupby("t")["seconds"]
    ax1.plot(per.quantile(0.99).index, per.quantile(0.99).values * 1000, label="p99", color="#d9534f")
    ax1.plot(per.median().index, per.median().values * 1000, label="p50", color="#337ab7")
    if v.baseline_p99_ms:
        ax1.axhline(2 * v.baseline_p99_ms, color="black", linestyle=":", linewidth=1, label="2x baseline p99")
    ax1.set_ylabel("latency, ms")
    ax1.set_yscale("log")
    ax1.legend(loc="upper right", fontsize=8)
    counts = s.groupby("t").size()
    ax2.bar(counts.index, counts.values, width=1.0, color="#5cb85c", label="operations/s")
    errs = s[s["error"].notna()].groupby("t").size()
    if len(errs):
        ax2.bar(errs.index, errs.values, width=1.0, color="#d9534f", label="errors/s")
    ax2.set_ylabel("operations per second")
    ax2.set_xlabel("seconds since the rehearsal started")
    ax2.legend(loc="upper right", fontsize=8)
    for at, label in v.events:
        x = at - t0
        for ax in (ax1, ax2):
            ax.axvline(x, color="grey", linewidth=0.6)
        ax1.text(x, ax1.get_ylim()[1], label.split(":")[0][:28], rotation=90, fontsize=6, va="top", ha="right")
    fig.tight_layout()
    return fig


NOTEBOOK = "91_rehearsal.ipynb"


def notebook() -> list:
    """The cells of notebooks/91_rehearsal.ipynb."""
    from ..notebook_cells import code, md
    return [
        md("""
# 91 · Rehearsal under load — the whole migration while the application reads and writes
A simulated Express CQMS application (several connections, as agents, auditors and the server
side, switching path per feature flag as the seed's adapters do) runs through every stage:
baseline, migrate (phases 00-02 through the runner, with faults injected), rollback of each phase
in reverse, migrate again. After each stage the application pauses between requests while every
write it got a commit for is looked up through both paths and `cqms-migrate verify` runs.

Run with `cqms-migrate rehearse --env local` (it seeds the legacy dataset first, local only)."""),
        code('''# Parameters (papermill injects the run's values below this cell). Defaults: a short rehearsal.
env: str = "local"          # local only: the rehearsal injects faults
params_file: str = ""       # default: params/<env>.yaml
run_id: str = ""            # the runner passes its own
confirm: str = ""           # unused: a rehearsal is local only (the runner passes it to every notebook)
dry_run: bool = False       # unused: a rehearsal always runs (passed to every notebook)
workers: int = 4            # application connections
rate: float = 20.0          # requests per second per connection
baseline_s: float = 10.0    # the application alone, before anything runs
faults: str = "crash,statement_timeout,terminate,lock_holder,new_table"  # injected in phase 02, comma-separated
seed: int = 11              # the simulated application's random choices (same seed, same requests)''', "parameters"),
        code("""
from cqms_migrate import notebook as nb, rehearsal
v = rehearsal.rehearse(env, params_file=params_file or None, workers=workers, rate=rate, baseline_s=baseline_s,
                       faults=tuple(f for f in faults.split(",") if f), seed=seed)
print(v.summary())"""),
        md("## 1. Verdict — each criterion computed from what the application saw and the database holds"),
        code("nb.show(v.checks)"),
        md("## 2. Stages"),
        code("nb.show(v.stages)"),
        md("### Latency by operation\np99 ms per stage of each operation the application ran, by path (legacy tables "
           "or the unified ones, as the flags said): where each stage's p99 comes from."),
        code("nb.show(v.latency_by_operation())"),
        md("## 3. Faults injected"),
        code("nb.show(v.faults)"),
        md("## 4. Application errors by kind (none expected)"),
        code("nb.show(v.errors)"),
        md("## 5. Application latency and throughput over time (stages and faults marked)"),
        code("rehearsal.chart(v);"),
        md("## 6. Outcome"),
        code("nb.key_figures(v.key_figures())\nv.raise_if_failed()\nprint('rehearsal: every criterion met')"),
    ]
