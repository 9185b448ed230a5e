"""Benchmarks: numbers printed, never timed tests.

``bench backfill`` — on a throwaway server, in one run:
  1. the same legacy dataset moved two ways into the same audits table:
     (a) one unbatched INSERT ... SELECT per legacy table (same transform, no triggers, no
         checkpoints, no row locks) — the ceiling;
     (b) the real phase-2 backfill: keyset batches, one transaction per batch, checkpoint per
         batch, every row claimed against the sync triggers, with the triggers installed;
     ratio = (b) rows/s / (a) rows/s  (target >= 0.7);
  2. scaling: the backfill's rows/s on a 10k-row table vs a 1M-row table (target: within 20%),
     and within the big table, the first batches vs the last ones.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg

from . import phases, supabase
from .cluster import Cluster, loopback_url
from .context import PhaseContext
from .legacy.generator import seed_legacy
from .phases import p01_foundation as p1
from .phases import p02_audit_unification as p2
from .phases.p02_audit_unification import mapping

ROLE_PASSWORD = "bench-owner"


@contextmanager
def _server(kind: str):
    root = Path(tempfile.mkdtemp(prefix="cqms-bench-"))
    cluster = Cluster(root / "pg", kind)
    info = cluster.start()
    try:
        yield info
    finally:
        cluster.destroy()


@contextlib.contextmanager
def _restoring_database_url():
    """The benches point CQMS_DATABASE_URL at their own databases; the caller's value comes back."""
    old = os.environ.get("CQMS_DATABASE_URL")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CQMS_DATABASE_URL", None)
        else:
            os.environ["CQMS_DATABASE_URL"] = old


def _prepare(info, dbname: str, audits: int, scorecards: int, people: int, log) -> str:
    supabase.bootstrap(info.admin_url(), env="test", dbname=dbname, role="postgres", password=ROLE_PASSWORD)
    url = loopback_url("postgres", ROLE_PASSWORD, info.port, dbname)
    t0 = time.perf_counter()
    with psycopg.connect(url) as owner, psycopg.connect(info.admin_url(dbname)) as admin:
        seed_legacy(owner, admin, audits=audits, scorecards=scorecards, people=people, seed=11)
    log(f"  seeded {audits:,} audits over {scorecards} scorecards in {time.perf_counter() - t0:.1f}s ({dbname})")
    return url


def _params_file(batch_size: int | None) -> str:
    from .paths import params_dir
    text = (params_dir() / "local.yaml").read_text()
    drop = ("batch_pause_ms:", "measure_unbatched_baseline:") + (("batch_size:",) if batch_size else ())
    lines = [ln for ln in text.splitlines() if not ln.startswith(drop)]
    lines += ["batch_pause_ms: 0", "measure_unbatched_baseline: false"] + ([f"batch_size: {batch_size}"] if batch_size else [])
    path = Path(tempfile.mkdtemp(prefix="cqms-bench-params-")) / "local.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _steps(ctx, names):
    return [s for s in p2.steps(ctx) if s.name in names]


def _legacy_rows(ctx) -> int:
    return sum(t.row_count for t in p2.migratable(ctx))


def unbatched_rate(ctx) -> tuple[int, float]:
    """(a): one statement per table into the empty audits table: the backfill's own shaping and
    writes (audits, audit_errors, quarantine) without batches, checkpoints, claims or triggers."""
    rows, secs = 0, 0.0
    conn = ctx.conn
    for t in p2.migratable(ctx):
        t0 = time.perf_counter()
        with conn.transaction():
            for setting in mapping.BATCH_SETTINGS:  # as the backfill does: compare methods, not settings
                conn.execute(setting)
            migrated, quarantined, _ = conn.execute(mapping.backfill_unbatched(t)).fetchone()
        secs += time.perf_counter() - t0
        rows += migrated + quarantined
    return rows, secs


def _checkpoint(info, dbname: str) -> None:
    """Start each measurement from a fresh checkpoint, so neither run pays for the other's WAL."""
    with psycopg.connect(info.admin_url(dbname), autocommit=True) as admin:
        admin.execute("CHECKPOINT")


def _reset_target(ctx) -> None:
    with ctx.conn.transaction():
        ctx.conn.execute("TRUNCATE public.audit_errors, public.audits")
        ctx.conn.execute("DELETE FROM cqms_migration.quarantine WHERE phase = %s", (mapping.PHASE,))


def batched_rate(ctx) -> tuple[int, float, list]:
    """(b): the real backfill step (sync triggers installed). Returns rows, seconds, per-batch log."""
    t0 = time.perf_counter()
    phases.deploy(ctx, _steps(ctx, ["backfill"]))
    secs = time.perf_counter() - t0
    log = ctx.conn.execute("SELECT job, batch, rows_read, seconds FROM cqms_migration.batches "
                           "WHERE run_id = %s ORDER BY id", (ctx.run_id,)).fetchall()
    ctx.conn.commit()
    return sum(r[2] for r in log), secs, log


def batch_stats(log: list) -> dict:
    """Per-batch rows/s: median and 5th percentile (batches of 50+ rows), as the notebook reports."""
    import statistics
    rates = sorted(r[2] / r[3] for r in log if r[2] >= 50 and r[3] > 0)
    if not rates:
        return {}
    p5 = rates[max(0, int(round(0.05 * (len(rates) - 1))))]
    med = statistics.median(rates)
    return {"batches": len(log), "median_batch_rows_per_s": round(med), "p5_batch_rows_per_s": round(p5),
            "p5_over_median": round(p5 / med, 3)}


def run_backfill_bench(audits: int = 1_000_000, scorecards: int = 20, batch_size: int | None = None,
                       server: str = "embedded", small: int = 10_000, big: int = 1_000_000, log=print) -> dict:
    results: dict = {"audits": audits, "scorecards": scorecards, "batch_size": batch_size, "server": server}
    params_file = _params_file(batch_size)
    with _server(server) as info, _restoring_database_url():
        log(f"bench: PostgreSQL {info.version} ({server}), first batch "
            f"{batch_size or 'from params/local.yaml'}, sized toward batch_target_ms after that")
        # 1. unbatched vs batched on the same dataset and server
        os.environ["CQMS_DATABASE_URL"] = _prepare(info, "bench_main", audits, scorecards, 2000, log)
        with PhaseContext("01_foundation", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
            phases.deploy(ctx, p1.steps(ctx))
        with PhaseContext("02_audit_unification", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
            phases.deploy(ctx, _steps(ctx, ["snapshot_legacy", "create_audits"]))
            legacy_rows = _legacy_rows(ctx)
            _checkpoint(info, "bench_main")
            a_rows, a_secs = unbatched_rate(ctx)
            _reset_target(ctx)
            phases.deploy(ctx, _steps(ctx, ["install_sync_triggers"]))
            _checkpoint(info, "bench_main")
            b_rows, b_secs, b_log = batched_rate(ctx)
        results.update({f"batched_{k}": v for k, v in batch_stats(b_log).items()})
        results.update(legacy_rows=legacy_rows, unbatched_rows_per_s=round(a_rows / a_secs),
                       batched_rows_per_s=round(b_rows / b_secs),
                       ratio_batched_over_unbatched=round((b_rows / b_secs) / (a_rows / a_secs), 3))
        log(f"  unbatched INSERT ... SELECT per table: {a_rows:,} rows in {a_secs:.1f}s = {a_rows / a_secs:,.0f} rows/s")
        log(f"  batched, resumable, sync triggers on:  {b_rows:,} rows in {b_secs:.1f}s = {b_rows / b_secs:,.0f} rows/s")
        log(f"  ratio batched/unbatched: {results['ratio_batched_over_unbatched']}  (target >= 0.7)")
        log(f"  per batch ({results.get('batched_batches')} batches): median "
            f"{results.get('batched_median_batch_rows_per_s')} rows/s, p5 {results.get('batched_p5_batch_rows_per_s')} "
            f"rows/s, p5/median {results.get('batched_p5_over_median')}  (target >= 0.5)")

        # 2. scaling: one 10k-row table vs one 1M-row table (2 scorecards: the 2nd table is empty)
        rates = {}
        for label, n in (("small", small), ("big", big)):
            os.environ["CQMS_DATABASE_URL"] = _prepare(info, f"bench_scale_{label}", n, 2, 400, log)
            with PhaseContext("01_foundation", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
                phases.deploy(ctx, p1.steps(ctx))
            with PhaseContext("02_audit_unification", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
                phases.deploy(ctx, _steps(ctx, ["snapshot_legacy", "create_audits", "install_sync_triggers"]))
                _checkpoint(info, f"bench_scale_{label}")
                rows, secs, batches = batched_rate(ctx)
            rates[label] = rows / secs
            results.update({f"{label}_table_{k}": v for k, v in batch_stats(batches).items()})
            if label == "big" and len(batches) >= 6:
                first = sum(b[2] for b in batches[:3]) / sum(b[3] for b in batches[:3])
                last = sum(b[2] for b in batches[-3:]) / sum(b[3] for b in batches[-3:])
                results["big_table_first_vs_last_batches"] = round(last / first, 3)
                log(f"  {big:,}-row table: first 3 batches {first:,.0f} rows/s, last 3 batches {last:,.0f} rows/s")
            log(f"  {n:,}-row table: {rows:,} rows in {secs:.2f}s = {rows / secs:,.0f} rows/s")
        results.update(small_table_rows=small, big_table_rows=big,
                       rows_per_s_small_table=round(rates["small"]), rows_per_s_big_table=round(rates["big"]),
                       ratio_big_over_small=round(rates["big"] / rates["small"], 3))
        if results.get("small_table_median_batch_rows_per_s") and results.get("big_table_median_batch_rows_per_s"):
            results["ratio_big_over_small_median_batch"] = round(
                results["big_table_median_batch_rows_per_s"] / results["small_table_median_batch_rows_per_s"], 3)
        log(f"  ratio {big:,}-row table / {small:,}-row table rows/s: {results['ratio_big_over_small']}  (target >= 0.8); "
            f"median batch: {results.get('ratio_big_over_small_median_batch')}")
    return results


def run_verify_bench(audits: int = 1_000_000, scorecards: int = 20, server: str = "embedded", log=print) -> dict:
    """`cqms-migrate verify` next to the backfill it checks, on one freshly seeded server: phase 01,
    phase 02's build (backfill, indexes, compat views) as the runbook runs it, then verify (every
    comparison of both phases) timed in the same run. Ratios, not absolute figures, are the point."""
    from . import verify
    results: dict = {"audits": audits, "scorecards": scorecards, "server": server}
    params_file = _params_file(None)
    with _server(server) as info, _restoring_database_url():
        log(f"bench verify: PostgreSQL {info.version} ({server})")
        url = os.environ["CQMS_DATABASE_URL"] = _prepare(info, "bench_verify", audits, scorecards, 2000, log)
        with PhaseContext("01_foundation", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
            phases.deploy(ctx, p1.steps(ctx))
        with PhaseContext("02_audit_unification", env="local", params_file=params_file, log=lambda m: None, progress=False) as ctx:
            phases.deploy(ctx, _steps(ctx, ["snapshot_legacy", "create_audits", "enable_rls", "install_sync_triggers"]))
            _checkpoint(info, "bench_verify")
            rows, backfill_secs, _ = batched_rate(ctx)
            phases.deploy(ctx, _steps(ctx, ["create_indexes", "create_compat_views"]))
        _checkpoint(info, "bench_verify")
        with psycopg.connect(url) as conn:
            result = verify.run(conn, helper_url=url)
        results.update(rows=rows, backfill_seconds=round(backfill_secs, 1), verify_seconds=round(result.seconds, 1),
                       verify_comparisons=len(result.comparisons), verify_ok=result.ok,
                       ratio_verify_over_backfill=round(result.seconds / backfill_secs, 3))
        for c in result.comparisons:
            log(f"    {c.name}: {c.rows_expected:,} rows, {c.seconds:.2f}s")
        log(f"  backfill: {rows:,} rows in {backfill_secs:.1f}s")
        log(f"  verify:   {len(result.comparisons)} comparisons in {result.seconds:.1f}s "
            f"({'all equal' if result.ok else 'DIFFERENCES'}); verify/backfill = {results['ratio_verify_over_backfill']}")
    return results
