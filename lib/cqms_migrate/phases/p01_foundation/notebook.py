"""The cells of notebooks/01_foundation.ipynb."""

from ...notebook_cells import PARAMS, code, md


def cells() -> list:
    return [
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
phase = phases.get("01_foundation")
ctx = nb.open_phase("01_foundation", env=env, params_file=params_file, run_id=run_id, confirm=confirm, dry_run=dry_run)"""),
        md("## 1. Plan\nThe steps, in order, and which are already applied."),
        code("nb.show(phases.plan_frame(ctx, phase.steps(ctx)))"),
        md("## 2. Legacy data quality before"),
        code("before = quality.legacy_profile(ctx.conn, inventory.discover(ctx.conn, with_counts=False))"),
        md("## 3. Build\nEach step: deploy + verify + ledger row in one transaction, under the lock-timeout retry."),
        code("nb.show(phase.deploy_build(ctx))"),
        md("## 4. Validation\nEvery users and people row accounted for; compat views equal the legacy rows "
           "(EXCEPT ALL both ways, differences explained by quarantine or merge); foreign keys 100%."),
        code("v = phase.validation(ctx)\nif v is not None:\n    nb.show(v.outcome.tables, v.outcome.summary())\n"
             "    nb.show_list(v.outcome.failures, 'outcome gate', empty='holds: within max_quarantine_pct')\n"
             "    nb.show(v.reconciliation, 'reconciliation: legacy = migrated + merged + quarantined')\n"
             "    nb.show(v.checks, 'checks')\n    nb.show(v.quarantine, 'quarantine by reason')\n"
             "    nb.show(v.hierarchy, 'supervisor / mentor resolution')"),
        md("## 5. Security advisor\nSupabase's advisor checks (splinter's lint list) on what this phase created: "
           "tables exposed without RLS, views that bypass RLS, security-definer functions the API can call, "
           "mutable search_path, overlapping permissive policies, unindexed foreign keys. An ERROR stops the phase; "
           "a WARN must be waived with a reason in docs/security.md."),
        code("nb.show(advisor.check(ctx, '01_foundation'), 'advisor findings (none is the expected answer)')"),
        md("## 6. Data quality before and after\nData completeness counts the same fields (`quality.EMPLOYEE_FIELDS`) "
           "of the same employees on both sides: before, as the mapping reads them from `users` and `people`; after, "
           "from `employees`. A blank legacy value and the 'Unassigned' / 'ZZ' written for it are missing on both "
           "sides, so the two figures are equal unless a value given in a legacy row could not be mapped (a role "
           "the params do not map, a country not known): that difference is data the employees lack. "
           "Definitions: `cqms_migrate/quality.py`."),
        code("nb.show(p1.quality_before_after(ctx, before))"),
        md("## 7. Employee lookup: legacy vs unified, same run\nLegacy: `users` by email + `people` by email + merge "
           "in Python (two round trips). Unified: one query on `employees`."),
        code("bench = p1.benchmark(ctx)\nnb.show(bench, f\"legacy / unified median latency ratio: {bench.attrs.get('ratio')}\")"),
        md("## 8. Cutover\nRaises if validation failed (the flag stays off)."),
        code("nb.show(phase.cutover(ctx, v))"),
        code("ctx.close('succeeded')"),
    ]
