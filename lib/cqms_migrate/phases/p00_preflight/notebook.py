"""The cells of notebooks/00_preflight.ipynb."""

from ...notebook_cells import PARAMS, code, md


def cells() -> list:
    return [
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
        code("inv = inventory.discover(ctx.conn, exclude=inventory.exclusions(ctx.params))\nnb.show(inv.frame(), f\"{len(inv.tables)} audit tables; core tables: {inv.core}\")"),
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
             "nb.key_figures(verdict.key_figures(inv))\nverdict.raise_if_blocked()"),
        code("ctx.close('succeeded')"),
    ]
