"""Writes notebooks/*.ipynb (thin: markdown, a parameters cell, one library call per cell).

Edit here, run `python tools/build_notebooks.py`, commit both. Outputs are never committed."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"

PARAMS = '''# Parameters (papermill injects the run's values below this cell). Defaults: the local env.
env = "local"          # local | staging | prod
params_file = ""       # default: params/<env>.yaml
run_id = ""            # default: a new id; the runner passes its own
confirm = ""           # prod (and guarded envs) run only when this equals the env name
dry_run = False        # render and record the plan, change nothing'''


def md(text):
    return new_markdown_cell(text.strip())


def code(text, *tags):
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write(name, cells):
    for i, cell in enumerate(cells):  # stable ids: regenerating changes only what changed
        cell["id"] = f"{Path(name).stem}-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, NB_DIR / name)


def preflight():
    write("00_preflight.ipynb", [
        md("""
# 00 · Preflight — read-only
What server and settings, which extensions, which privileges, the legacy inventory and its data
quality, the disk the migration needs, and a **go/no-go** that raises on a blocking problem.
It changes nothing in the database except the ledger's run record.

Operator: read each table before going on; the last cell must say *no blocking problem*."""),
        code(PARAMS, "parameters"),
        code("""
from cqms_migrate import notebook as nb, inventory, quality
from cqms_migrate.phases import p00_preflight as pre
ctx = nb.open_phase("00_preflight", env=env, params_file=params_file, run_id=run_id, confirm=confirm,
                    dry_run=dry_run, action="preflight")"""),
        md("## 1. Server settings\nSupabase runs PostgreSQL 15; the runbook supports 15 and newer."),
        code("nb.show(pre.server_settings(ctx.conn))"),
        md("## 2. Extensions\n`pg_cron` schedules materialized-view refreshes (phase 4); `citext` and "
           "`pg_stat_statements` are optional. Nothing here is required for phases 1-2."),
        code("nb.show(pre.extensions(ctx.conn))"),
        md("## 3. Legacy inventory\nEvery dynamic audit table, found through `scorecards.table_name` **and** "
           "`get_audit_tables()`, the two lists reconciled; parameter columns matched against "
           "`scorecard_perameters.field_id`. Mismatches are listed below the table."),
        code("inv = inventory.discover(ctx.conn)\nnb.show(inv.frame(), f\"{len(inv.tables)} audit tables; core tables: {inv.core}\")"),
        code("nb.show_list(inv.mismatches(), 'mismatches between scorecards, get_audit_tables() and the tables')"),
        md("## 4. Privileges\nIn staging/prod the runbook connects as Supabase's `postgres` role, which is "
           "not a superuser; it must own the legacy tables."),
        code("privs = pre.privileges(ctx.conn, inv)\nnb.show(privs)"),
        md("## 5. Data quality (seed section 7.2), measured\nDefinitions: `cqms_migrate/quality.py`."),
        code("profile = quality.legacy_profile(ctx.conn, inv)\nctx.ledger.record_metric('00_preflight', 'quality', profile)\n"
             "nb.show(quality.profile_frame(profile))"),
        code("pre.quality_chart(profile);"),
        md("## 6. Disk"),
        code("disk = pre.disk(ctx.conn, inv, ctx.params.min_free_disk_factor)\nnb.show(disk)"),
        md("## 7. Go / no-go\nRaises on a blocking problem; warnings are for the operator to read."),
        code("verdict = pre.go_no_go(ctx.conn, ctx.params, inv, privs, disk, profile, url=ctx.target.url)\nnb.show(verdict.frame())\n"
             "verdict.raise_if_blocked()"),
        code("ctx.close('succeeded')"),
    ])


def foundation():
    write("01_foundation.ipynb", [
        md("""
# 01 · Foundation — reference tables, employees, compatibility views
Builds `roles`, `departments`, `teams`, `channels`, `countries` and one `employees` table from
`users` + `people` (joined on the normalized email), every legacy row migrated, merged into a
duplicate, or quarantined with its reason. `users_compat` / `people_compat` keep legacy readers
working. The flag `USE_UNIFIED_EMPLOYEES_TABLE` goes on only after validation passes.

Re-running is a no-op (applied steps are skipped). Revert: `cqms-migrate rollback --env ENV --phase 01_foundation`."""),
        code(PARAMS, "parameters"),
        code("""
from cqms_migrate import notebook as nb, advisor, inventory, quality, phases
from cqms_migrate.phases import p01_foundation as p1
ctx = nb.open_phase("01_foundation", env=env, params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run)"""),
        md("## 1. Plan\nThe steps, in order, and which are already applied."),
        code("nb.show(phases.plan_frame(ctx, p1.steps(ctx)))"),
        md("## 2. Legacy data quality before"),
        code("before = quality.legacy_profile(ctx.conn, inventory.discover(ctx.conn, with_counts=False))"),
        md("## 3. Build\nEach step: deploy + verify + ledger row in one transaction, under the lock-timeout retry."),
        code("nb.show(p1.deploy_build(ctx))"),
        md("## 4. Validation\nEvery users and people row accounted for; compat views equal the legacy rows "
           "(EXCEPT ALL both ways, differences explained by quarantine or merge); foreign keys 100%."),
        code("v = p1.validation(ctx)\nif v is not None:\n    nb.show(v.reconciliation, 'reconciliation: legacy = migrated + merged + quarantined')\n"
             "    nb.show(v.checks, 'checks')\n    nb.show(v.quarantine, 'quarantine by reason')\n"
             "    nb.show(v.hierarchy, 'supervisor / mentor resolution')"),
        md("## 5. Security advisor\nSupabase's advisor checks (splinter's lint list) on what this phase created: "
           "tables exposed without RLS, views that bypass RLS, security-definer functions the API can call, "
           "mutable search_path, overlapping permissive policies, unindexed foreign keys. An ERROR stops the phase; "
           "a WARN must be waived with a reason in docs/security.md."),
        code("nb.show(advisor.check(ctx, '01_foundation'), 'advisor findings (none is the expected answer)')"),
        md("## 6. Data quality before and after"),
        code("nb.show(p1.quality_before_after(ctx, before))"),
        md("## 7. Employee lookup: legacy vs unified, same run\nLegacy: `users` by email + `people` by email + merge "
           "in Python (two round trips). Unified: one query on `employees`."),
        code("bench = p1.benchmark(ctx)\nnb.show(bench, f\"legacy / unified median latency ratio: {bench.attrs.get('ratio')}\")"),
        md("## 8. Cutover\nRaises if validation failed (the flag stays off)."),
        code("nb.show(p1.cutover(ctx, v))"),
        code("ctx.close('succeeded')"),
    ])


def audits():
    write("02_audit_unification.ipynb", [
        md("""
# 02 · Audit unification — one `audits` table, while the application keeps writing
Every dynamic audit table (one per scorecard) is moved into `audits` (+ `audit_errors`, one row per
parameter that recorded an error). Order of work: create the tables, install **sync triggers** on
every legacy table (from then on every legacy INSERT/UPDATE/DELETE is mirrored in `audits`), then
**backfill** in keyset batches — one transaction per batch, resumable from its checkpoint — then
build indexes concurrently, compat views and RLS. Rows that cannot meet the new constraints go
to quarantine, whole, with a reason. At cutover, triggers on `audits` keep the legacy tables
current, so a rollback after cutover loses no write.

Needs phase 01 applied. Revert: `cqms-migrate rollback --env ENV --phase 02_audit_unification`."""),
        code(PARAMS, "parameters"),
        code("""
from cqms_migrate import notebook as nb, advisor, phases
from cqms_migrate.phases import p02_audit_unification as p2
ctx = nb.open_phase("02_audit_unification", env=env, params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run)"""),
        md("## 1. Discovery\nWhich tables are migrated; parameter columns matched to `scorecard_perameters.field_id`; "
           "columns with no parameter are kept in `parameter_scores` and reported; missing common columns become NULL."),
        code("nb.show(p2.discovery(ctx))"),
        md("## 2. Plan"),
        code("nb.show(phases.plan_frame(ctx, p2.steps(ctx)))"),
        md("## 3. Build: tables, sync triggers, backfill, indexes, compat views, RLS\nThe backfill shows a progress bar "
           "with rows/s; if it is interrupted, running this notebook again resumes from the checkpoint."),
        code("nb.show(p2.deploy_build(ctx))"),
        md("## 4. Backfill throughput\nThe figures of this run's backfill; with `measure_unbatched_baseline` (local), next to "
           "the same work done unbatched and a raw copy of the rows, both timed just before in a rolled-back transaction. "
           "Check: backfill / unbatched near 1 (>= 0.7), p5 / median >= 0.5, no slow batch left unexplained."),
        code("tp = p2.throughput(ctx)\nnb.show(tp.summary, 'backfill figures')\nnb.show(tp.per_table, 'per table')"),
        md("Batches far below the median (each is a question: a lock wait, autovacuum, a checkpoint?) and every decision "
           "the batch engine took: batch size changes toward `batch_target_ms`, waits on a health signal, splits after a "
           "statement timeout."),
        code("nb.show(tp.slow, 'slow batches') if not tp.slow.empty else nb.show_list([], 'slow batches', empty='none')\n"
             "nb.show(tp.decisions, 'batch engine decisions') if not tp.decisions.empty else "
             "nb.show_list([], 'batch engine decisions', empty='none')"),
        code("p2.throughput_chart(tp);"),
        md("## 5. Validation\nPer legacy table: rows = migrated + quarantined, exactly; checksum of the compat view "
           "equals the checksum of the legacy rows it represents; EXCEPT ALL both ways is empty."),
        code("v = p2.validation(ctx)\nif v is not None:\n    nb.show(v.reconciliation, 'reconciliation per scorecard table')\n"
             "    nb.show(v.checks, 'checks')\n    nb.show(v.quarantine, 'quarantine by reason')"),
        md("## 6. Security advisor\nThe same checks as after phase 01, now over audits, audit_errors, their "
           "partitions and compat views, and the sync functions."),
        code("nb.show(advisor.check(ctx, '02_audit_unification'), 'advisor findings (none is the expected answer)')"),
        md("## 7. Cutover\nRaises if validation failed (the flag stays off); otherwise installs the reverse sync and "
           "turns `USE_UNIFIED_AUDITS_TABLE` on."),
        code("nb.show(p2.cutover(ctx, v))"),
        code("ctx.close('succeeded')"),
    ])


def rollback():
    write("99_rollback.ipynb", [
        md("""
# 99 · Rollback — revert a phase and every later one
Reverts `target_phase` and every phase after it, newest first, each step in reverse order; each
revert and its ledger row commit together. Feature flags go off with their phase. For phases that
took legacy checksums, the legacy tables are compared with their state before the phase: without
application writes they are identical; after a live transition they differ exactly by the writes
the application made (through either path — the sync triggers carried them into the legacy tables).

Run with `cqms-migrate rollback --env ENV --phase NAME` (add `--dry-run` to see the plan)."""),
        code(PARAMS + '\ntarget_phase = "01_foundation"  # this phase and every later one are reverted', "parameters"),
        code("""
from cqms_migrate import notebook as nb, rollback
ctx = nb.open_phase(target_phase, env=env, params_file=params_file, run_id=run_id, confirm=confirm,
                    dry_run=dry_run, action="rollback")"""),
        md("## 1. Plan"),
        code("nb.show(rollback.plan(ctx, target_phase))"),
        md("## 2. Revert"),
        code("outcomes, checks = rollback.run(ctx, target_phase)\nnb.show(outcomes)"),
        md("## 3. Legacy tables compared with their checksums from before the phase"),
        md("Without concurrent application writes every table must say `identical`. A difference after a live "
           "rollback is the application's own writes to the legacy tables (phase 1 never writes to them)."),
        code("for phase_name, table in checks.items():\n    nb.show(table, f'{phase_name}: legacy tables now vs before the phase')\n"
             "nb.show_list([] if rollback.legacy_identical(checks) else ['a legacy table differs from its pre-phase checksum'], "
             "'legacy comparison', empty='every legacy table identical to before the phase')"),
        code("ctx.close('succeeded')"),
    ])


if __name__ == "__main__":
    preflight()
    foundation()
    audits()
    rollback()
    print("notebooks written to", NB_DIR)
