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
from .mapping import STATUS_COLUMNS, template

VOCABULARY_COLUMNS = (*STATUS_COLUMNS, "channel")


def desired_rows(params) -> set[tuple[str, str, str]]:
    """(vocabulary, legacy key, value) of the status maps; channel entries keep their target
    channel's name (the deploy stores its code)."""
    rows = {(name, k, v) for name, m in vocab.maps(params).items() for k, v in vocab.mapped(m).items()}
    rows |= {("channel", k, v) for k, v in params.channel_map.items()}
    return rows


@dataclass
class ValueMaps(Step):
    """cqms_migration.p02_value_map from the built-in vocabularies and params. Applied again
    whenever params' maps differ from what the table holds (a re-run after the operator added
    the stanza preflight printed)."""

    def render_deploy(self, ctx) -> Rendered:
        out = [compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_value_map"))]
        for name, k, v in sorted(desired_rows(ctx.params)):
            if name == "channel":
                out.append(compose(ctx.conn, template("channel_map").format(legacy=sql.Literal(k), channel=sql.Literal(v))))
            else:
                out.append(compose(ctx.conn, template("value_map").format(
                    vocabulary=sql.Literal(name), legacy=sql.Literal(k), value=sql.Literal(v))))
        return Rendered(out)

    def render_revert(self, ctx) -> Rendered:
        return Rendered([compose(ctx.conn, sql.SQL("DELETE FROM cqms_migration.p02_value_map"))])

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
        return f"params' value maps changed ({', '.join(changed)})" if changed else None


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
