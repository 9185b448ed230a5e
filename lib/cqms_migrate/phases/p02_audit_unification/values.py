"""Phase 2's vocabularies (vocab.py): the value maps the mapping reads (step load_value_maps,
re-applied when params change) and the spelling each legacy table gets for a unified value
written through audits (chosen with the table's compat view)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ... import vocab
from ...db import end_read
from ...inventory import AuditTable
from ...steps import Rendered, Step, compose
from .mapping import PHASE, RETRIABLE, RETRIABLE_BY_PLACEHOLDER, STATUS_COLUMNS, retry_statements, template

VOCABULARY_COLUMNS = (*STATUS_COLUMNS, "channel")


def desired_rows(params) -> set[tuple[str, str, str]]:
    """(vocabulary, legacy key, value) of the status maps; channel entries keep their target
    channel's name (the deploy stores its code)."""
    rows = {(name, k, v) for name, m in vocab.maps(params).items() for k, v in vocab.mapped(m).items()}
    rows |= {("channel", k, v) for k, v in params.channel_map.items()}
    return rows


def settings(params) -> dict[str, str]:
    """cqms_migration.p02_settings as params say."""
    return {"business_time_zone": params.time_zone, "unknown_email_policy": params.unknown_email_policy}


def not_migrated(ctx) -> dict[str, str]:
    """{table a scorecard names: why phase 2 does not migrate it} (the inventory's rule, params'
    exclude_tables)."""
    from .tables import _inventory
    return {t.table_name: t.disposition for t in _inventory(ctx).not_migrated()}


def addressed(ctx) -> dict[str, list[str]]:
    """{legacy table: the keys of its quarantined rows whose reason params' maps now address}
    (a spelling quarantined as unmapped that a map entry now maps)."""
    if not ctx.conn.execute("SELECT to_regclass('cqms_migration.quarantine') IS NOT NULL").fetchone()[0]:
        end_read(ctx.conn)
        return {}
    maps = {name: vocab.mapped(m) for name, m in vocab.maps(ctx.params).items()}
    out: dict[str, list[str]] = {}
    for table, key, reason, value in ctx.conn.execute(
            "SELECT source_table, source_key, reason, original_row ->> substr(reason, 10) FROM cqms_migration.quarantine "
            "WHERE phase = %s AND reason = ANY(%s) AND source_key NOT LIKE 'null-id:%%' ORDER BY 1, 2",
            (PHASE, list(RETRIABLE))).fetchall():
        if vocab.key(value) in maps[reason.removeprefix("unmapped_")]:
            out.setdefault(table, []).append(key)
    if ctx.params.unknown_email_policy == "placeholder":
        # an unknown email of a placeholder's form now becomes a placeholder employee
        import re
        from ...outcome import PLACEHOLDER_FORM
        form = re.compile(PLACEHOLDER_FORM, re.IGNORECASE)
        for table, key, value in ctx.conn.execute(
                "SELECT source_table, source_key, btrim(original_row ->> substr(reason, 9)) "
                "FROM cqms_migration.quarantine WHERE phase = %s AND reason = ANY(%s) AND source_key NOT LIKE 'null-id:%%' "
                "ORDER BY 1, 2", (PHASE, list(RETRIABLE_BY_PLACEHOLDER))).fetchall():
            if value and form.match(value):
                out.setdefault(table, []).append(key)
    end_read(ctx.conn)
    return out


@dataclass
class ValueMaps(Step):
    """cqms_migration.p02_value_map from the built-in vocabularies and params, and the registry
    of the tables phase 2 does not migrate (cqms_migration.p02_not_migrated). Applied again
    whenever params' maps differ from what the table holds (a re-run after the operator added
    the stanza preflight printed); then the rows quarantined for a spelling the maps now know
    are tried again (mapping.retry_statements), in the same transaction, and the ledger records
    how many came back and how many remain (metric 'requeued')."""

    def render_deploy(self, ctx) -> Rendered:
        from . import migratable
        out = [compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_value_map"))]
        out.append(compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_not_migrated")))
        out.append(compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_settings")))
        out += [compose(ctx.conn, sql.SQL("INSERT INTO cqms_migration.p02_settings (name, value) VALUES ({}, {})").format(
            sql.Literal(k), sql.Literal(v))) for k, v in sorted(settings(ctx.params).items())]
        out += [compose(ctx.conn, sql.SQL("INSERT INTO cqms_migration.p02_not_migrated (legacy_table, disposition) "
                                          "VALUES ({}, {})").format(sql.Literal(name), sql.Literal(why)))
                for name, why in sorted(not_migrated(ctx).items())]
        for name, k, v in sorted(desired_rows(ctx.params)):
            if name == "channel":
                out.append(compose(ctx.conn, template("channel_map").format(legacy=sql.Literal(k), channel=sql.Literal(v))))
            else:
                out.append(compose(ctx.conn, template("value_map").format(
                    vocabulary=sql.Literal(name), legacy=sql.Literal(k), value=sql.Literal(v))))
        retry = addressed(ctx)
        for t in migratable(ctx):
            if retry.get(t.table_name):
                out += [compose(ctx.conn, x) for x in retry_statements(
                    t, retry[t.table_name], with_placeholders=ctx.params.unknown_email_policy == "placeholder")]
        return Rendered(out)

    def deploy(self, ctx, conn, rendered) -> int:
        """The statements as rendered; the retries' results (audits written, rows quarantined
        again) go to the ledger."""
        retried = {t: len(k) for t, k in addressed(ctx).items()}
        came_back = again = 0
        for stmt in rendered.statements:
            cur = conn.execute(stmt)
            if stmt.lstrip().startswith("-- Backfill, statement 2"):
                migrated, quarantined, _ = cur.fetchone()
                came_back, again = came_back + migrated, again + quarantined
        if retried:
            remaining = conn.execute("SELECT reason, count(*) FROM cqms_migration.quarantine WHERE phase = %s "
                                     "GROUP BY 1 ORDER BY 2 DESC", (PHASE,)).fetchall()
            ctx.ledger.record_metric(PHASE, "requeued", {"retried": sum(retried.values()), "migrated": came_back,
                                                        "quarantined again": again, "tables": retried,
                                                        "remaining by reason": dict(remaining)})
            ctx.log(f"{self.name}: {sum(retried.values())} quarantined rows tried again under the new maps: "
                    f"{came_back} migrated, {again} quarantined again")
        return came_back

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_value_map")),
                         compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_not_migrated")),
                         compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_settings"))])

    def stale(self, ctx) -> str | None:
        have = {tuple(r) for r in ctx.conn.execute(
            "SELECT vocabulary, legacy, value FROM cqms_migration.p02_value_map WHERE vocabulary <> 'channel'").fetchall()}
        have_channels = {tuple(r) for r in ctx.conn.execute(
            "SELECT legacy, value FROM cqms_migration.p02_value_map WHERE vocabulary = 'channel'").fetchall()}
        want_channels = {(k, r[0]) for k, v in ctx.params.channel_map.items()
                         for r in [ctx.conn.execute("SELECT cqms_migration.ref_code(%s)", (v,)).fetchone()]}
        end_read(ctx.conn)
        want = {r for r in desired_rows(ctx.params) if r[0] != "channel"}
        changed = sorted({r[0] for r in have ^ want} | ({"channel"} if have_channels != want_channels else set()))
        decided = dict(ctx.conn.execute("SELECT legacy_table, disposition FROM cqms_migration.p02_not_migrated").fetchall())
        have_settings = dict(ctx.conn.execute("SELECT name, value FROM cqms_migration.p02_settings").fetchall())
        end_read(ctx.conn)
        if decided != not_migrated(ctx):
            changed.append("tables not migrated")
        want_settings = settings(ctx.params)
        # (audits already migrated keep the dates read in the zone before: roll phase 02 back and
        # run it again to read every time stamp in the new one; unknown_email_policy placeholder
        # brings back the rows quarantined for an unknown email, below)
        changed += sorted(k for k in want_settings.keys() | have_settings.keys()
                          if have_settings.get(k) != want_settings.get(k))
        if changed:
            return f"params' value maps changed ({', '.join(changed)})"
        waiting = sum(len(k) for k in addressed(ctx).values())
        return f"{waiting} quarantined rows the value maps now address" if waiting else None


def _style(spellings: list[str], value: str) -> str:
    """``value`` written the way a table writes its other values of the vocabulary."""
    words = value.replace("_", " ")
    if spellings and all(s == s.upper() and s != s.lower() for s in spellings):
        return words.upper() if any(" " in s for s in spellings) else value.upper()
    if spellings and all(s[:1].isupper() for s in spellings):
        return words.title()
    return value


def spellings(conn, t: AuditTable, params) -> dict[str, dict[str, str]]:
    """{vocabulary: {unified value: spelling}} for one legacy table: what p02_legacy_spellings
    holds for it, then, for the rest, the table's most used spelling of each value (ties: the
    first in text order), else params' legacy spelling, else the value in the table's style."""
    have: dict[str, dict[str, str]] = {}
    if not conn.execute("SELECT to_regclass('cqms_migration.p02_legacy_spellings') IS NOT NULL").fetchone()[0]:
        end_read(conn)   # a dry run before phase 02 ever ran: the spellings params give
        return {c: {v: (getattr(params, f"{c}_legacy_spelling", {}) or {}).get(v, v) for v in vocab.VOCABULARIES[c].values}
                for c in STATUS_COLUMNS if c in t.columns}
    for vocabulary, value, spelling in conn.execute(
            "SELECT vocabulary, value, spelling FROM cqms_migration.p02_legacy_spellings WHERE legacy_table = %s",
            (t.table_name,)).fetchall():
        have.setdefault(vocabulary, {})[value] = spelling
    cols = [c for c in VOCABULARY_COLUMNS if c in t.columns]
    counted: dict[str, dict[str, list[tuple[int, str]]]] = {}
    if cols:
        pairs = sql.SQL(", ").join(sql.SQL("({}, x.{}::text)").format(sql.Literal(c), sql.Identifier(c)) for c in cols)
        for vocabulary, value, spelling, n in conn.execute(template("spelling_profile").format(
                table=sql.Identifier("public", t.table_name), pairs=pairs)).fetchall():
            counted.setdefault(vocabulary, {}).setdefault(value, []).append((-n, spelling))
    end_read(conn)
    out: dict[str, dict[str, str]] = {}
    for vocabulary in cols:
        chosen = {v: sorted(c)[0][1] for v, c in counted.get(vocabulary, {}).items()}
        if vocabulary in vocab.VOCABULARIES:
            own = list(chosen.values())
            fallback = getattr(params, f"{vocabulary}_legacy_spelling", {}) or {}
            for value in vocab.VOCABULARIES[vocabulary].values:
                chosen.setdefault(value, fallback.get(value) or _style(own, value))
        out[vocabulary] = {**chosen, **have.get(vocabulary, {})}
    return out


def spelling_statements(conn, t: AuditTable, found: dict[str, dict[str, str]]) -> list[str]:
    """The INSERTs that record ``found`` for the table (rows already there are kept)."""
    return [compose(conn, template("legacy_spelling").format(
        table_name=sql.Literal(t.table_name), vocabulary=sql.Literal(vocabulary), value=sql.Literal(value),
        spelling=sql.Literal(spelling))) for vocabulary, m in sorted(found.items()) for value, spelling in sorted(m.items())]


# -- what each parameter column means -----------------------------------------------------------
def meanings(ctx) -> list:
    """parameters.infer for every migratable table, with params' declarations."""
    from ... import parameters
    from . import migratable
    declared = {t: {c: spec.model_dump() for c, spec in cols.items()} for t, cols in ctx.params.parameters.items()}
    out = []
    for t in migratable(ctx):
        out += parameters.infer(ctx.conn, t, declared.get(t.table_name))
    return out


def _spellings(conn, table: str, column: str, error_values: list[str]) -> tuple[str | None, str | None]:
    """(the table's most used spelling of an error value, of a no-error value) of a flag column."""
    rows = conn.execute(sql.SQL("SELECT x.{c}::text, count(*) FROM public.{t} x WHERE x.{c} IS NOT NULL GROUP BY 1 "
                                "ORDER BY 2 DESC, 1 LIMIT 50").format(c=sql.Identifier(column), t=sql.Identifier(table))
                        ).fetchall()
    end_read(conn)
    err = next((v for v, _ in rows if vocab.key(v) in error_values), None)
    ok = next((v for v, _ in rows if vocab.key(v) not in error_values and vocab.key(v) is not None), None)
    return err, ok


def kind_rows(ctx) -> list[tuple]:
    """(table, column, field, kind, error_values, max, error spelling, no-error spelling) to load;
    raises if a meaning is not certain (preflight names it and prints the params to declare)."""
    from ...errors import CheckFailed
    found = meanings(ctx)
    unsure = [m for m in found if not m.certain]
    if unsure:
        m = unsure[0]
        raise CheckFailed(f"phase {PHASE}: the meaning of {len(unsure)} parameter column(s) is not certain (first "
                          f"{m.table}.{m.column}: {m.why}); run 00_preflight, which prints the params stanza to declare them")
    rows = []
    for m in found:
        if m.kind is None:
            continue
        err = ok = None
        if m.kind == "flag":
            err, ok = _spellings(ctx.conn, m.table, m.column, m.error_values)
        rows.append((m.table, m.column, m.field_id, m.kind, tuple(sorted(m.error_values)),
                     float(m.max_points) if m.max_points is not None else None, err, ok))
    return sorted(rows)


@dataclass
class ParameterKinds(Step):
    """cqms_migration.p02_parameter_kinds: what each parameter column means (parameters.py).
    Applied again when a meaning changes (params declared it, a column appeared): the audit_errors
    of the tables whose meanings changed are rebuilt from their audits' scores, in the same
    transaction."""

    def render_deploy(self, ctx) -> Rendered:
        from . import migratable
        from .mapping import errors_insert
        rows = kind_rows(ctx)
        have = self._have(ctx)
        out = [compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_parameter_kinds"))]
        out += [compose(ctx.conn, template("parameter_kind").format(
            table_name=sql.Literal(r[0]), column=sql.Literal(r[1]), field=sql.Literal(r[2]), kind=sql.Literal(r[3]),
            error_values=sql.Literal(list(r[4])), max_points=sql.Literal(r[5]), error_spelling=sql.Literal(r[6]),
            ok_spelling=sql.Literal(r[7]))) for r in rows]
        changed = {r[0] for r in set(rows) ^ set(have)}
        if changed and ctx.conn.execute("SELECT to_regclass('public.audits') IS NOT NULL").fetchone()[0]:
            end_read(ctx.conn)
            out.append(compose(ctx.conn, sql.SQL("SET LOCAL cqms.sync_echo = 'forward:backfill'")))
            for t in [t for t in migratable(ctx) if t.table_name in changed]:
                out.append(compose(ctx.conn, sql.SQL(
                    "DELETE FROM public.audit_errors e USING public.audits a WHERE e.audit_id = a.id AND a.legacy_table = {}"
                ).format(sql.Literal(t.table_name))))
                out.append(compose(ctx.conn, errors_insert(t, sql.SQL(
                    "(SELECT a.id, a.interaction_date, a.parameter_scores FROM public.audits a WHERE a.legacy_table = {} "
                    "AND a.deleted_at IS NULL) n").format(sql.Literal(t.table_name)))))
        return Rendered(out)

    def _have(self, ctx) -> list[tuple]:
        if not ctx.conn.execute("SELECT to_regclass('cqms_migration.p02_parameter_kinds') IS NOT NULL").fetchone()[0]:
            end_read(ctx.conn)
            return []
        rows = [(r[0], r[1], r[2], r[3], sorted(r[4]), float(r[5]) if r[5] is not None else None, r[6], r[7])
                for r in ctx.conn.execute("SELECT legacy_table, column_name, field_id, kind, error_values, max_points, "
                                          "error_spelling, ok_spelling FROM cqms_migration.p02_parameter_kinds").fetchall()]
        end_read(ctx.conn)
        return [tuple(r[:4]) + (tuple(r[4]),) + tuple(r[5:]) for r in rows]

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_parameter_kinds"))])

    def stale(self, ctx) -> str | None:
        want = set(kind_rows(ctx))
        changed = sorted({f"{r[0]}.{r[1]}" for r in want ^ set(self._have(ctx))})
        return f"parameter meanings changed ({', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''})" if changed else None
