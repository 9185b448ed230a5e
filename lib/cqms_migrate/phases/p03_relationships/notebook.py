"""The cells of notebooks/03_relationships.ipynb."""

from ...notebook_cells import PARAMS, code, md


def cells() -> list:
    return [
        md("""
# 03 · Relationships — assignments with real foreign keys, while the application keeps writing
The legacy `audit_assignments` names people by email and nothing checks it. This phase builds
`assignments` (seed 2.4) beside it: each legacy row's emails resolved to employees (case and
spacing ignored), its audit to the unified audit, its status and source through vocabularies.
**Sync triggers** on the legacy table keep `assignments` current in the writer's transaction; the
**backfill** fills it in resumable heap-page batches; the seed's **indexes** are built
concurrently and its **foreign keys** added NOT VALID, then validated. A row that does not resolve
(an email no employee has, a self-assignment, a status no vocabulary knows) is quarantined, whole,
with its reason, and the legacy write commits; an assignment waiting for a person who is not hired
yet, or for its audit, is applied again when they appear. Last, `scorecard_perameters` becomes
`scorecard_parameters` (the seed's spelling fix); a writable compat view under the old name keeps
the application's reads and writes working, with the table's rights and nothing more.

At cutover, after validation, `assignments` opens to API writes and a reverse sync carries each
one to the legacy table in the writer's transaction: the application may write either path, and a
rollback loses nothing the legacy table can hold. Needs phase 02 applied. Revert: `cqms-migrate rollback --env ENV --phase 03_relationships`."""),
        code(PARAMS, "parameters"),
        code("""
from cqms_migrate import notebook as nb, advisor, email_joins, phases
from cqms_migrate.phases import p03_relationships as p3
phase = phases.get("03_relationships")
ctx = nb.open_phase("03_relationships", env=env, params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run)"""),
        md("## 1. The legacy table as the catalog has it\nWhich column each meaning is read from (the seed's name or a "
           "variant), and how a column of another type is converted."),
        code("nb.show_list(p3.mapping.findings(p3.mapping.shape(ctx.conn)), 'audit_assignments', empty='the seed\\'s shape')"),
        md("## 2. Plan"),
        code("nb.show(phases.plan_frame(ctx, phase.steps(ctx)))"),
        md("## 3. Build: table, sync triggers, backfill, indexes, foreign keys, the rename\nIf the backfill is "
           "interrupted, running this notebook again resumes from its checkpoint."),
        code("nb.show(phase.deploy_build(ctx))"),
        md("## 4. Validation and the outcome\nEvery legacy assignment is migrated or quarantined, exactly; `assignments` "
           "equals the mapping of the legacy rows as they are now (EXCEPT both ways); every foreign key is validated; "
           "the share quarantined is within `max_quarantine_pct`."),
        code("v = phase.validation(ctx)\nif v is not None:\n    nb.show(v.outcome.tables, v.outcome.summary())\n"
             "    nb.show(v.outcome.reasons, 'quarantined by reason, with examples')\n"
             "    nb.show_list(v.outcome.failures, 'outcome gate', empty='holds: within the ceilings')\n"
             "    nb.show(v.checks, 'checks')\n    v.raise_if_failed()"),
        md("## 5. Email joins left\nEvery view, function, trigger, policy and rule that still compares one email with "
           "another, read from the catalog. The runbook's own (the syncs that map legacy emails to ids until phase 05 "
           "drops the legacy tables) are listed by name; the application's are code to move to the ids before phase 05."),
        code("if v is not None:\n    nb.show(v.email_joins, 'email joins, runbook\\'s first')\n"
             "    nb.show_list(email_joins.summary(v.email_joins)['objects'], 'the application\\'s email joins', "
             "empty='none: only the runbook\\'s transition objects join on email')"),
        md("## 6. Security advisor\nSupabase's checks over `assignments` and the sync functions."),
        code("nb.show(advisor.check(ctx, '03_relationships'), 'advisor findings (none is the expected answer)')"),
        md("## 7. Cutover\nRaises if validation failed (the flag stays off); otherwise opens `assignments` to writes "
           "(who may write which rows and columns: docs/security.md), installs the reverse sync that carries each write "
           "to `audit_assignments` in the writer's transaction, and turns `USE_UNIFIED_ASSIGNMENTS` on. From then on the "
           "application may write either table until phase 05."),
        code("nb.show(phase.cutover(ctx, v))"),
        code("ctx.close('succeeded')"),
    ]
