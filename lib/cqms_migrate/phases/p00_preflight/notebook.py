"""The cells of notebooks/00_preflight.ipynb."""

from ...notebook_cells import PARAMS, code, md


def cells() -> list:
    return [
        md("""
# 00 · Preflight — read-only
What server and settings, which extensions, which privileges, the legacy inventory and its data
quality, the disk the migration needs, and a **go/no-go** that raises on a blocking problem.
It changes nothing in the database except the ledger's run record.

Operator: read each table before going on; the last cell must say *no blocking problem*. Without a missing prerequisite, preflight records\nits run, its data profile and its forecast in the ledger; it changes nothing else."""),
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
        code("inv = inventory.of_params(ctx.conn, ctx.params)\nnb.show(inv.frame(), f\"{len(inv.tables)} audit tables; core tables: {inv.core}\")"),
        code("nb.show_list(inv.mismatches(), 'mismatches between scorecards, get_audit_tables() and the tables')"),
        md("## 4. Prerequisites and privileges\nEverything the phases will use, checked before anything is "
           "written: `auth.uid()` and `auth.users`, the API roles, CREATE rights, ownership of the legacy tables. In "
           "staging/prod the runbook connects as Supabase's `postgres` role, which is not a superuser. A missing "
           "prerequisite is NO-GO, and preflight then writes nothing, not even its ledger."),
        code("privs = pre.privileges(ctx.conn, inv)\nnb.show(privs, highlight=~privs['ok'].astype(bool))"),
        md("## 5. Data quality (seed section 7.2), measured\nDefinitions: `cqms_migrate/quality.py`."),
        code("profile = quality.legacy_profile(ctx.conn, inv)\nctx.ledger.record_metric('00_preflight', 'quality', profile)\n"
             "nb.show(quality.profile_frame(profile))"),
        code("pre.quality_chart(profile);"),
        md("## 6. The customer's own words: every value of every constrained column\n"
           "Each distinct value of the columns whose unified column accepts a fixed set (statuses, channels, roles, "
           "countries), with its rows and what it becomes: *mapped* (params), *default* (the built-in vocabulary, "
           "case, spaces and `-`/`_` ignored), *blank* (no value), *quarantined by decision*, or **UNMAPPED** "
           "(highlighted). Departments and teams are the customer's own reference rows. Unmapped values are NO-GO: "
           "paste the stanza below into `params/<env>.yaml` (replace the keys it names; check every line marked "
           "REVIEW), then run preflight again."),
        code("values, unmapped, stanza = pre.value_profile(ctx.conn, inv, ctx.params)\n"
             "nb.show(values, f'{len(values)} distinct values; {len(unmapped)} unmapped', highlight=values['status'] == 'UNMAPPED')"),
        md("**What each parameter column means.** An error count, an error flag (and which value means the "
           "error), points earned out of a maximum, or feedback text (`cqms_migrate/parameters.py`): from params where "
           "declared, else from the scorecard's parameter (`field_type`, `parameter_type`, `penalty_points`) and the "
           "column's own values. A meaning that is not certain (highlighted) is NO-GO: the stanza declares it."),
        code("meanings = pre.parameters.frame(values.attrs['meanings'])\n"
             "nb.show(meanings, f'{len(meanings)} parameter columns', highlight=~meanings['certain'].astype(bool)) "
             "if len(meanings) else print('no parameter columns')"),
        code("nb.show_code(stanza, 'params stanza mapping every unmapped value and declaring every uncertain parameter "
             "(paste into params)') if stanza else print('every value is mapped and every parameter certain: no stanza needed')"),
        md("## 7. Forecast: what will migrate, what will be quarantined\nPer audit table and reason, from the legacy "
           "rows now (`cqms_migrate/outcome.py`, independent of the migration's own mapping). Phase 02's cutover gate "
           "compares what it really quarantined with this forecast and with `max_quarantine_pct` / "
           "`max_quarantine_pct_per_table`; here a forecast above them is NO-GO."),
        code("fc = pre.forecast(ctx.conn, inv, ctx.params)\nctx.ledger.record_metric('00_preflight', 'quarantine_forecast', "
             "fc.to_dict('records'))\nnb.show(pre.forecast_frame(fc, inv), pre.forecast_figure(fc, inv))"),
        md("## 8. Disk"),
        code("disk = pre.disk(ctx.conn, inv, ctx.params.min_free_disk_factor)\nnb.show(disk)"),
        md("## 9. Go / no-go\nRaises on a blocking problem; warnings are for the operator to read."),
        code("verdict = pre.go_no_go(ctx.conn, ctx.params, inv, privs, disk, profile, url=ctx.target.url, values=values, "
             "unmapped=unmapped, fc=fc)\nnb.show(verdict.frame())\n"
             "nb.key_figures(verdict.key_figures(inv, fc, unmapped))\nverdict.raise_if_blocked()"),
        code("ctx.close('succeeded')"),
    ]
