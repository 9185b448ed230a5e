"""Preflight: read-only. What server, what settings and extensions, what privileges, what
legacy data (inventory and data-quality profile), how much disk — and a go/no-go that raises
on a blocking problem. It changes nothing but the ledger's run row."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from ... import inventory as inv_mod
from ... import convert, legacy_shape, outcome, parameters, prerequisites, vocab, vocab_profile
from ...db import end_read
from ...errors import CheckFailed
from ...paths import state_dir
from ..base import Phase
from ..p02_audit_unification.discovery import probe as discovery_probe

PHASE = "00_preflight"
SETTINGS = ["server_version", "max_connections", "shared_buffers", "work_mem", "maintenance_work_mem",
            "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "wal_level",
            "max_wal_size", "TimeZone"]


class Preflight(Phase):
    """Read-only: no step; its notebook is the whole phase."""
    name = PHASE
    title = "Preflight: inventory, data quality, go/no-go"
    figures = ("quality",)

    def notebook(self) -> list:
        from .notebook import cells
        return cells()


PHASE_OBJECT = Preflight()


def steps(ctx):  # read-only phase
    return PHASE_OBJECT.steps(ctx)


def server_settings(conn: psycopg.Connection) -> pd.DataFrame:
    rows = conn.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                        (SETTINGS,)).fetchall()
    end_read(conn)
    return pd.DataFrame(rows, columns=["setting", "value", "unit"]).set_index("setting")


def extensions(conn: psycopg.Connection) -> pd.DataFrame:
    rows = conn.execute(
        "SELECT name, default_version, installed_version FROM pg_available_extensions "
        "WHERE name = ANY(%s) ORDER BY name",
        (["pg_cron", "citext", "pg_stat_statements", "pgtap", "pg_partman", "pg_trgm", "btree_gin"],)).fetchall()
    end_read(conn)
    df = pd.DataFrame(rows, columns=["extension", "available version", "installed version"])
    return df.set_index("extension")


def privileges(conn: psycopg.Connection, inv: inv_mod.Inventory) -> pd.DataFrame:
    """Every prerequisite (prerequisites.py: what the phases use, checked before anything is
    written), who is connected, and whether it owns every legacy audit table too."""
    r = conn.execute("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
    from .. import renamed_tables
    names = inv.legacy_table_names() + [new for _, new in renamed_tables()]   # a renamed one: its table too
    not_owned = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = ANY(%s) AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1",
        (names,)).fetchall()
    end_read(conn)
    rows = [
        ("connected as", r[0], True, ""),
        ("superuser", r[1], True, ""),  # informative: prod's postgres is not, and nothing here needs it
        *((p.name, str(p.value), p.ok, "" if p.ok else p.fix) for p in prerequisites.check(conn)),
        ("owns every legacy table (triggers, views)", "yes" if not not_owned else
         "no: " + ", ".join(x[0] for x in not_owned[:5]), not not_owned, "connect as the role that owns them"),
    ]
    return pd.DataFrame(rows, columns=["privilege", "value", "ok", "if not"]).set_index("privilege")


def disk(conn: psycopg.Connection, inv: inv_mod.Inventory, factor: float) -> pd.DataFrame:
    from .. import table_now
    db_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    end_read(conn)
    audit_bytes = sum(t.size_bytes for t in inv.tables if t.exists)
    core_bytes = 0
    for t in inv.core:
        core_bytes += conn.execute("SELECT pg_total_relation_size(%s::regclass)",
                                   (f"public.{table_now(conn, t)}",)).fetchone()[0]   # the table, not a view
    end_read(conn)
    needed = int((audit_bytes + core_bytes) * factor)
    free = None
    data_dir = state_dir() / "local" / "data"
    if data_dir.exists():
        free = shutil.disk_usage(data_dir).free
    rows = [("database size", db_size), ("legacy data to migrate (tables + indexes)", audit_bytes + core_bytes),
            (f"estimated extra space needed (x{factor})", needed),
            ("free space", free if free is not None else "unknown (not visible to a non-superuser; check the "
                                                            "Supabase dashboard's disk usage)")]
    df = pd.DataFrame(rows, columns=["item", "bytes"]).set_index("item")
    df.attrs["needed"], df.attrs["free"] = needed, free
    return df


def target_collisions(conn: psycopg.Connection) -> list[str]:
    """Target names that already exist but were not created by this runbook."""
    from .. import created_tables, created_views, renamed_tables
    targets = created_tables() + created_views() + [new for _, new in renamed_tables()]
    existing = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = ANY(%s)", (targets,)).fetchall()]
    ours = set()
    if conn.execute("SELECT to_regclass('cqms_migration.applied_steps') IS NOT NULL").fetchone()[0]:
        ours = {r[0] for r in conn.execute("SELECT phase FROM cqms_migration.applied_steps").fetchall()}
    end_read(conn)
    if ours:  # a phase is applied: its tables are expected
        return []
    return existing


@dataclass
class GoNoGo:
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        rows = [{"severity": "BLOCKING", "finding": b} for b in self.blocking]
        rows += [{"severity": "warning", "finding": w} for w in self.warnings]
        if not rows:
            rows = [{"severity": "ok", "finding": "no blocking problem"}]
        return pd.DataFrame(rows)

    def key_figures(self, inv, fc: pd.DataFrame | None = None, unmapped: list | None = None) -> dict:
        candidates = [t for t in inv.tables if t.exists and not (t.not_audit or t.excluded)]
        # a table lacking the audit columns blocks until excluded: never counted as one to migrate
        lacking = [t for t in candidates if [c for c in inv_mod.REQUIRED_COLUMNS if c not in t.columns]]
        migratable = [t for t in candidates if t not in lacking]
        rows = sum(int(t.row_count or 0) for t in migratable)
        excluded = sum(int(t.row_count or 0) for t in inv.tables if t.excluded and t.exists)
        out = {"audit tables": f"{len(migratable)} to migrate"
                               + (f", {len(lacking)} lacking the audit columns (blocking)" if lacking else "")
                               + f", {len(inv.tables) - len(candidates)} excluded or not audits"
                               + (f", {rows:,} rows" if rows else "")
                               + (f" ({excluded:,} rows in excluded tables)" if excluded else "")}
        if fc is not None:
            out["forecast"] = forecast_figure(fc, inv)
        if unmapped:
            out["unmapped values"] = (f"{len(unmapped)} ({', '.join(repr(u.value) for u in unmapped[:5])}"
                                      f"{' ...' if len(unmapped) > 5 else ''}): the params stanza is in section 6")
        return {**out,
                "go / no-go": (f"NO-GO: {len(self.blocking)} blocking: {self.blocking[0]}" if self.blocking else "GO")
                              + (f"; {len(self.warnings)} warnings" if self.warnings else "")}

    def raise_if_blocked(self) -> None:
        if self.blocking:
            raise CheckFailed(f"preflight: NO-GO, {len(self.blocking)} blocking problem(s): {self.blocking[0]}"
                              + (" (and more, see the go/no-go table)" if len(self.blocking) > 1 else ""))


TRANSACTION_POOLER_PORT = "6543"


def pooler_problem(url: str) -> str | None:
    """Supabase's transaction-mode pooler (port 6543) drops session state between transactions:
    lock_timeout, the runbook's advisory lock. The runbook needs a direct connection or the
    session-mode pooler (5432)."""
    from psycopg import conninfo
    try:
        port = str(conninfo.conninfo_to_dict(url).get("port") or "5432")
    except Exception:  # noqa: BLE001 - an unparseable URL already failed to connect
        return None
    if port == TRANSACTION_POOLER_PORT:
        return ("connected through the transaction-mode pooler (port 6543), which drops lock_timeout and the "
                "advisory lock between transactions: use the direct connection or the session pooler (5432)")
    return None


def value_profile(conn, inv, params) -> tuple[pd.DataFrame, list, str]:
    """(every distinct value of every constrained column with what it becomes, the unmapped
    ones, the params stanza that maps them and declares every parameter column whose meaning
    is not certain: empty when none). The frame's attrs hold the parameter meanings."""
    prof = vocab_profile.profile(conn, inv, params)
    missing = vocab_profile.unmapped(prof, params, vocab_profile.known_channel_names(prof))
    keys = list(dict.fromkeys(u.params_key for u in missing))
    meanings = parameter_meanings(conn, inv, params)
    prof.attrs["meanings"] = meanings
    unsure = parameters.uncertain(meanings)
    parts = [vocab.stanza(missing, vocab_profile.existing_entries(params, keys))] if missing else []
    if unsure:
        declared = {t: {c: spec.model_dump(exclude_none=True) for c, spec in cols.items()}
                    for t, cols in params.parameters.items()}
        parts.append(parameters.stanza(unsure, declared))
    lacking = [t for t in inv.tables if t.exists and not t.not_audit and not t.excluded
               and [c for c in inv_mod.REQUIRED_COLUMNS if c not in t.columns]]
    if lacking:
        import json
        lines = ["exclude_tables:"] + [f"  - {{table: {json.dumps(x.table)}, reason: {json.dumps(x.reason)}}}"
                                       for x in params.exclude_tables]
        for t in lacking:
            gone = ", ".join(c for c in inv_mod.REQUIRED_COLUMNS if c not in t.columns)
            lines.append(f"  - {{table: {json.dumps(t.table_name)}, reason: {json.dumps('lacks ' + gone + ': not an audit table')}}}"
                         "   # REVIEW: say why (a ticket), or give the table the audit columns instead")
        parts.append("\n".join(lines))
    zone = time_zone_proposal(conn, inv, params)
    prof.attrs["time_zone"] = zone
    if zone:
        parts.append(f"business_time_zone: {zone['proposal']}   # REVIEW: {zone['why']}; name your zone "
                     "(IANA, e.g. Asia/Manila) if it keeps summer time")
    return prof, missing, "\n".join(parts)


def near_duplicate_references(conn) -> list[str]:
    """people's channel, department and team spellings that differ only in punctuation ('E-mail',
    'Email'): phase 01 makes a reference row per code (ref_code: 'E_MAIL', 'EMAIL'), so they
    become two. A warning naming the respelling that merges them, a write of the application's
    own (the sync carries it once phase 01 runs)."""
    import re
    out = []
    shapes = legacy_shape.discover(conn)
    people = shapes.get("people")
    for canonical, what in (("channel", "channels"), ("department", "departments"), ("team", "teams")):
        m = people.mapped.get(canonical) if people else None
        if m is None or not m.usable:
            continue
        rows = conn.execute(sql.SQL("SELECT btrim(x) AS v, count(*) FROM (SELECT ({}) AS x FROM public.people p) s "
                                    "WHERE nullif(btrim(x), '') IS NOT NULL GROUP BY 1").format(
            people.raw(canonical, "p"))).fetchall()
        end_read(conn)
        groups: dict[str, dict[str, list]] = {}
        for v, n in rows:
            code = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]+", "_", v).upper()).strip("_")
            groups.setdefault(re.sub(r"[^a-z0-9]", "", v.lower()), {}).setdefault(code, []).append((n, v))
        for codes in groups.values():
            if len(codes) > 1:
                spellings = sorted(((sum(n for n, _ in vs), max(vs)[1]) for vs in codes.values()), reverse=True)
                keep = spellings[0][1]
                out.append(f"people.{m.column.name}: {' and '.join(f'{v!r} ({n:,} rows)' for n, v in spellings)} differ only "
                           f"in punctuation and become {len(codes)} {what} ({', '.join(sorted(codes))}): if they are one, "
                           f"respell the others as {keep!r} in people before phase 01")
    return out


BUSINESS_HOURS = (8, 18)   # [08:00, 18:00): where most audited interactions happen, in the business's zone


def time_zone_proposal(conn, inv, params) -> dict | None:
    """When a table to migrate holds interaction_date as timestamptz with times of day and params
    leave business_time_zone unset: the audit's date depends on a zone the database does not
    record. Propose the whole-hour UTC offset under which most times of day fall in business
    hours (BUSINESS_HOURS), as an Etc/GMT zone (whose sign is inverted: Etc/GMT-8 is UTC+08:00).
    None when nothing depends on it."""
    if params.business_time_zone is not None:
        return None
    hours = [0] * 24
    tables = []
    for t in inv.migratable():
        if "with time zone" not in (t.columns.get("interaction_date") or ""):
            continue
        rows = conn.execute(sql.SQL("SELECT extract(hour FROM x.interaction_date AT TIME ZONE 'UTC')::int, count(*) "
                                    "FROM public.{} x WHERE (x.interaction_date AT TIME ZONE 'UTC')::time <> '00:00' "
                                    "GROUP BY 1").format(sql.Identifier(t.table_name))).fetchall()
        end_read(conn)
        if rows:
            tables.append(t.table_name)
            for h, n in rows:
                hours[h] += n
    total = sum(hours)
    if not total:
        return None
    lo, hi = BUSINESS_HOURS

    def share(offset: int) -> float:
        return sum(hours[h] for h in range(24) if lo <= (h + offset) % 24 < hi) / total
    best = max(range(-12, 15), key=lambda o: (round(share(o), 6), -abs(o)))
    name = "UTC" if best == 0 else f"Etc/GMT{-best:+d}"
    return {"proposal": name, "offset": best, "share": share(best), "tables": tables, "rows": total,
            "why": f"{share(best):.0%} of the {total:,} times of day in {', '.join(tables)} fall "
                   f"{lo:02d}:00-{hi:02d}:00 at UTC{best:+03d}:00"}


def parameter_meanings(conn, inv, params) -> list:
    """What every parameter column of every table to migrate means (parameters.py)."""
    declared = {t: {c: spec.model_dump() for c, spec in cols.items()} for t, cols in params.parameters.items()}
    out = []
    for t in inv.migratable():
        out += parameters.infer(conn, t, declared.get(t.table_name))
    return out


def forecast(conn, inv, params) -> pd.DataFrame:
    """The audit rows that will be quarantined, per table and reason (outcome.py)."""
    return outcome.forecast_audits(conn, inv.migratable(), params)


def forecast_frame(fc: pd.DataFrame, inv) -> pd.DataFrame:
    """Per table: legacy rows, forecast quarantined (share), by reason."""
    rows = []
    for t in inv.migratable():
        sub = fc[fc["table"] == t.table_name]
        q = int(sub["rows"].sum())
        rows.append({"table": t.table_name, "legacy rows": t.row_count, "forecast quarantined": q,
                     "%": round(100.0 * q / t.row_count, 2) if t.row_count else 0.0,
                     "forecast migrated": t.row_count - q, "bar": outcome.bar(t.row_count - q, 0, q, 20),
                     "by reason": ", ".join(f"{r.reason} {r.rows:,}" for r in sub.sort_values("rows", ascending=False)
                                            .itertuples())})
    return pd.DataFrame(rows)


def forecast_figure(fc: pd.DataFrame, inv) -> str:
    legacy = sum(t.row_count for t in inv.migratable())
    q = int(fc["rows"].sum()) if len(fc) else 0
    pct = 100.0 * q / legacy if legacy else 0.0
    return (f"{legacy - q:,} of {legacy:,} audit rows will migrate ({100 - pct:.2f}%), {q:,} quarantined ({pct:.2f}%)"
            + (" (approximate: columns of another type not read before the ledger exists)"
               if fc.attrs.get("approximate") else ""))


def go_no_go(conn, params, inv, privs, disk_df, profile, url: str | None = None, values=None,
             unmapped: list | None = None, fc: pd.DataFrame | None = None) -> GoNoGo:
    g = GoNoGo()
    if values is not None:
        g.blocking += vocab_profile.bad_targets(values, params)
    named = {t.table_name for t in inv.tables}
    for x in getattr(params, "exclude_tables", []):
        if x.table not in named:
            g.warnings.append(f"exclude_tables names {x.table!r}, which no scorecard names and get_audit_tables() does "
                              "not list: it excludes nothing (a typo?)")
    for m in parameters.uncertain((values.attrs.get("meanings") if values is not None else None) or []):
        g.blocking.append(f"parameter {m.table}.{m.column}: its meaning is not certain ({m.why}): declare it in params "
                          "(parameters; the stanza below proposes one)")
    zone = values.attrs.get("time_zone") if values is not None else None
    if zone:
        g.blocking.append(f"interaction_date is timestamptz with a time of day in {', '.join(zone['tables'])} "
                          f"({zone['rows']:,} values): an audit's date depends on the business's time zone, which "
                          "the database does not record: declare business_time_zone in params (the stanza below "
                          f"proposes {zone['proposal']}: {zone['why']})")
    for u in unmapped or []:
        g.blocking.append(f"unmapped value {u.value!r} ({u.rows:,} rows in {', '.join(u.where)}): add it to "
                          f"{u.params_key} in params (the stanza below maps every unmapped value)")
    if fc is not None and fc.attrs.get("approximate"):
        g.warnings.append("forecast approximate: columns of another type are read by the ledger's conversion "
                          "functions, not installed yet (a dry run of a never-migrated database); the ceilings are "
                          "checked by the run's own preflight")
    elif fc is not None:
        legacy = {t.table_name: t.row_count for t in inv.migratable()}
        total, q = sum(legacy.values()), int(fc["rows"].sum()) if len(fc) else 0
        if total and 100.0 * q / total > params.max_quarantine_pct:
            g.blocking.append(f"forecast: {100.0 * q / total:.2f}% of the audit rows ({q:,} of {total:,}) would be "
                              f"quarantined, above max_quarantine_pct {params.max_quarantine_pct}%: see the forecast")
        for table, n in legacy.items():
            tq = int(fc.loc[fc["table"] == table, "rows"].sum()) if len(fc) else 0
            if n and 100.0 * tq / n > params.max_quarantine_pct_per_table:
                top = fc[fc["table"] == table].sort_values("rows", ascending=False).iloc[0]
                g.blocking.append(f"forecast: {table}: {100.0 * tq / n:.2f}% quarantined ({tq:,} of {n:,}; mostly "
                                  f"{top['reason']} {int(top['rows']):,}), above max_quarantine_pct_per_table "
                                  f"{params.max_quarantine_pct_per_table}%")
    problem = pooler_problem(url) if url else None
    if problem:
        g.blocking.append(problem)
    for name, row in privs.iterrows():
        if not row["ok"]:
            g.blocking.insert(0, f"prerequisite missing: {name} ({row['value']})"
                              + (f": {row['if not']}" if row.get("if not") else ""))
    if bool(privs.loc["superuser", "value"]):
        g.warnings.append("connected as a superuser: staging/prod connect as Supabase's non-superuser postgres")
    for t in target_collisions(conn):
        g.blocking.append(f"target name public.{t} already exists and was not created by this runbook")
    for t in inv.tables:
        if t.not_audit or t.excluded:
            g.warnings.append(f"{t.table_name}: {t.disposition}")
            continue
        if t.identifier_problem and t.exists:
            g.blocking.append(f"legacy table {t.table_name!r}: {t.identifier_problem}")
        missing_required = [c for c in inv_mod.REQUIRED_COLUMNS if t.exists and c not in t.columns]
        if missing_required:
            g.blocking.append(f"legacy table {t.table_name!r} lacks required column(s) {', '.join(missing_required)}: "
                              "exclude it in params (exclude_tables: [{table, reason}]) if it is not an audit table to migrate")
        date_type = t.columns.get("interaction_date")
        if t.exists and date_type and convert.kind(date_type, "date") == "zoned":
            local = (sql.SQL("(x.interaction_date AT TIME ZONE {})").format(sql.Literal(params.time_zone))
                     if "with time zone" in date_type else sql.SQL("x.interaction_date"))
            n = conn.execute(sql.SQL("SELECT count(*) FILTER (WHERE {l}::time <> '00:00'), count(x.interaction_date) "
                                     "FROM public.{t} x").format(l=local, t=sql.Identifier(t.table_name))).fetchone()
            end_read(conn)
            g.warnings.append(f"{t.table_name}.interaction_date ({date_type}): read as its date"
                              + (f" in {params.time_zone} (business_time_zone)" if "with time zone" in date_type else "")
                              + f"; {n[0]:,} of {n[1]:,} values have a time of day, which audits drop and the legacy row "
                              "and compat view keep")
        if t.exists and date_type and convert.kind(date_type, "date") is None:
            g.blocking.append(f"legacy table {t.table_name!r}: interaction_date is {date_type}, which has no lossless "
                              "conversion to date: every row would be quarantined; convert the column or exclude the "
                              "table in params (exclude_tables: [{table, reason}])")
    listed = discovery_probe(conn)   # (in a transaction it rolls back; needs CREATE on public)
    if listed:
        g.warnings.append(f"get_audit_tables() would list {', '.join(listed)} once the runbook creates them: phase 02 "
                          "moves it aside and wraps it (wrap_discovery), so the application keeps its answer")
    for m in inv.mismatches():
        if "unusable identifier" not in m and "not an audit table" not in m and "excluded by decision" not in m:
            g.warnings.append(m)
    g.warnings += near_duplicate_references(conn)
    # users and people as found: variants, conversions, carried columns
    # the conversion functions come with the ledger: a dry run on a never-migrated database has none
    can_count = conn.execute("SELECT to_regprocedure('cqms_migration.to_integer(text)') IS NOT NULL").fetchone()[0]
    for shape in legacy_shape.discover(conn).values():
        g.warnings.extend(shape.findings())
        for m in shape.mapped.values():
            if m.usable and m.kind == "checked" and not can_count:
                g.warnings.append(f"{shape.table}.{m.column.name}: values that do not convert are counted once the "
                                  "ledger exists (not in a dry run of a never-migrated database)")
            elif m.usable and m.kind == "checked":
                bad = conn.execute(sql.SQL("SELECT count(*) FROM public.{} p WHERE {}").format(
                    sql.Identifier(shape.table), shape.unconvertible(m.canonical, "p"))).fetchone()[0]
                if bad:
                    g.warnings.append(f"{shape.table}.{m.column.name}: {bad} value(s) do not convert to {m.target} "
                                      "(read as NULL; the legacy rows and the compat view keep them)")
    end_read(conn)
    if profile["orphaned records %"] > params.max_orphan_pct:
        g.blocking.append(f"orphaned records {profile['orphaned records %']}% exceed max_orphan_pct "
                          f"{params.max_orphan_pct}%: clean up or raise the limit knowingly")
    free = disk_df.attrs.get("free")
    if free is not None and free < disk_df.attrs["needed"]:
        g.blocking.append(f"free disk {free / 1e9:.1f} GB is less than the estimated {disk_df.attrs['needed'] / 1e9:.1f} GB")
    return g


def quality_chart(profile: dict):
    import matplotlib.pyplot as plt

    targets = {"referential integrity %": 100, "data completeness %": 95, "duplicate records %": 0.1,
               "orphaned records %": 0}
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax, (metric, target) in zip(axes, targets.items()):
        ax.bar(["measured"], [profile[metric]], color="#d9534f" if (
            (metric.startswith(("referential", "data")) and profile[metric] < target)
            or (not metric.startswith(("referential", "data")) and profile[metric] > target)) else "#5cb85c")
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target}%")
        ax.set_title(metric, fontsize=9)
        ax.set_ylim(0, 100 if metric.startswith(("referential", "data")) else max(10, profile[metric] * 1.3))
        ax.text(0, profile[metric], f"{profile[metric]:.1f}%", ha="center", va="bottom", fontsize=9)
        ax.legend(fontsize=7, loc="lower right" if metric.startswith(("referential", "data")) else "upper right")
    fig.suptitle("Legacy data quality (seed section 7.2) vs targets")
    fig.tight_layout()
    return fig

