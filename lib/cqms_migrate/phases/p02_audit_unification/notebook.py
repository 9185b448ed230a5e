"""The cells of notebooks/02_audit_unification.ipynb."""

from ...notebook_cells import PARAMS, code, md


def cells() -> list:
    return [
        md("""
# 02 · Audit unification — one `audits` table, while the application keeps writing
Every dynamic audit table (one per scorecard) is moved into `audits` (+ `audit_errors`, one row per
parameter that recorded an error). Order of work: create the tables, install **sync triggers** on
every legacy table (from then on every legacy INSERT/UPDATE/DELETE is mirrored in `audits`), then
**backfill** in keyset batches — one transaction per batch, resumable from its checkpoint — then
build indexes concurrently, compat views and RLS. Rows that cannot meet the new constraints go
to quarantine, whole, with a reason. At cutover, triggers on `audits` keep the legacy tables
current, so a rollback after cutover loses no write. Re-running this notebook after the legacy
schema moved adopts the change (section 1 lists it): new scorecard tables get their sync, backfill
and compat view; compat views that no longer match their table are re-created.

Needs phase 01 applied. Revert: `cqms-migrate rollback --env ENV --phase 02_audit_unification`."""),
        code(PARAMS, "parameters"),
        code("""
from cqms_migrate import notebook as nb, advisor, phases
from cqms_migrate.phases import p02_audit_unification as p2
phase = phases.get("02_audit_unification")
ctx = nb.open_phase("02_audit_unification", env=env, params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run)"""),
        md("## 1. Discovery\nWhich tables are migrated; parameter columns matched to `scorecard_perameters.field_id`; "
           "columns with no parameter are kept in `parameter_scores` and reported; missing common columns become NULL."),
        code("nb.show(p2.discovery(ctx))"),
        md("### Legacy schema drift since adoption\nOn a re-run: what moved in the legacy tables since this phase adopted "
           "them (a new scorecard table, a column added, dropped or retyped, a table renamed or dropped), what the sync "
           "does about it meanwhile, and what this run adopts. Empty on a first run."),
        code("from cqms_migrate import drift\nnb.show(drift.report(ctx.conn), 'drift') if not drift.report(ctx.conn).empty "
             "else nb.show_list([], 'drift', empty='none')"),
        md("## 2. Plan"),
        code("nb.show(phases.plan_frame(ctx, phase.steps(ctx)))"),
        md("## 3. Build: tables, sync triggers, backfill, indexes, compat views, RLS\nThe backfill shows a progress bar "
           "with rows/s; if it is interrupted, running this notebook again resumes from the checkpoint."),
        code("nb.show(phase.deploy_build(ctx))"),
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
        md("## 5. Validation and the outcome\nPer legacy table: rows = migrated + quarantined, exactly; checksum of the "
           "compat view equals the checksum of the legacy rows it represents; EXCEPT ALL both ways is empty. Then the "
           "outcome gate (`outcome.py`): the share quarantined against `max_quarantine_pct` (overall) and "
           "`max_quarantine_pct_per_table`, and every reason against preflight's forecast. A failed gate keeps the flag off."),
        code("v = phase.validation(ctx)\nif v is not None:\n    nb.show(v.outcome.tables, v.outcome.summary())\n"
             "    nb.show(v.outcome.reasons, 'quarantined by reason, with the forecast and examples')\n"
             "    nb.show_list(v.outcome.failures, 'outcome gate', empty='holds: within the ceilings, every reason forecast')\n"
             "    nb.show(v.reconciliation, 'reconciliation per scorecard table')\n"
             "    nb.show(v.checks, 'checks')"),
        md("## 6. Security advisor\nThe same checks as after phase 01, now over audits, audit_errors, their "
           "partitions and compat views, and the sync functions."),
        code("nb.show(advisor.check(ctx, '02_audit_unification'), 'advisor findings (none is the expected answer)')"),
        md("## 7. Cutover\nRaises if validation failed (the flag stays off); otherwise installs the reverse sync and "
           "turns `USE_UNIFIED_AUDITS_TABLE` on."),
        code("nb.show(phase.cutover(ctx, v))"),
        code("ctx.close('succeeded')"),
    ]
