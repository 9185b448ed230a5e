"""Preflight's profile of the customer's own words: every distinct value of every column whose
unified column is constrained to a set, with counts, and what each value will become.

  audit tables   passing_status, validation_status, acknowledgement_status (vocab.py maps),
                 channel (a channel people or scorecards use, or params' channel_map)
  people         role (role_mapping; blank: default_role), country (ISO code, English name,
                 UK/USA/UAE, or params' country_map; blank: unassigned)

A value that none of these know is UNMAPPED: preflight says NO-GO, naming each value with its
table and count, and prints the params stanza that maps them all (vocab.stanza). Departments and
teams are the customer's own vocabulary (a reference row per spelling, case and punctuation
ignored): they are listed for reading, never unmapped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from . import legacy_shape, vocab
from .db import end_read
from .inventory import Inventory

STATUS = {"mapped": "mapped", "default": "default", "blank": "blank (no value)", "unmapped": "UNMAPPED",
          "quarantine": "quarantined by decision", "own": "its own reference row"}


def ref_code(value: str | None) -> str:
    """Python's cqms_migration.ref_code: 'E-mail ' -> 'E_MAIL'; blank -> 'UNASSIGNED'."""
    code = re.sub(r"[^A-Za-z0-9]+", "_", (value or "").strip()).upper().strip("_")
    return code or "UNASSIGNED"


def _reference_sql() -> str:
    return (Path(__file__).resolve().parent / "phases" / "p01_foundation" / "deploy" / "load_reference_data.sql").read_text()


@lru_cache(maxsize=1)
def countries() -> dict[str, tuple[str, str | None]]:
    """ISO alpha-2 -> (English name, alpha-3) of the countries phase 01 loads (its SQL is the list)."""
    return {m[0]: (m[1].replace("''", "'"), m[2] or None)
            for m in re.findall(r"\('([A-Z]{2})', '((?:[^']|'')*)', (?:'([A-Z]{3})'|NULL)", _reference_sql())}


@lru_cache(maxsize=1)
def country_aliases() -> dict[str, str]:
    """Other names of the countries (matching keys) -> ISO alpha-2, as phase 01 loads them."""
    text = _reference_sql()
    text = text[text.index("p01_country_alias"):]
    return {m[0].replace("''", "'"): m[1] for m in re.findall(r"\('((?:[^']|'')*)', '([A-Z]{2})'\)", text)}


def country_code(value: str | None, country_map: dict[str, str]) -> str | None:
    """What cqms_migration.country_code() makes of a value; None where it would say 'ZZ' for a
    non-blank value (unmapped)."""
    k = vocab.key(value)
    if k is None:
        return "ZZ"
    if k in country_map:
        return country_map[k]
    v = value.strip()
    known = countries()
    if v.upper() in known:
        return v.upper()
    for code, (name, alpha3) in known.items():
        if name.lower() == v.lower() or (alpha3 and alpha3 == v.upper()):
            return code
    return country_aliases().get(k)


def _counts(conn, query: sql.Composable) -> list[tuple[str, str | None, int]]:
    rows = conn.execute(query).fetchall()
    end_read(conn)
    return rows


def profile(conn: psycopg.Connection, inv: Inventory, params) -> pd.DataFrame:
    """One row per (where, legacy value): rows, the params key that maps it, what it becomes,
    status (mapped / default / blank / UNMAPPED / quarantined by decision / its own reference row)."""
    from .phases.p01_foundation import role_mapping

    maps = vocab.maps(params)
    out: list[dict] = []

    def add(where, pkey, value, n, becomes, status):
        out.append({"where": where, "params key": pkey, "legacy value": value, "rows": int(n), "becomes": becomes,
                    "status": STATUS[status]})

    people = legacy_shape.discover(conn)["people"]
    cols = {c: people.raw(c, "p") for c in ("role", "country", "channel", "department", "team")}
    known_channels = {ref_code(v) for (v,) in conn.execute(sql.SQL(
        "SELECT DISTINCT {}::text FROM public.people p").format(cols["channel"])).fetchall()}
    if conn.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.scorecards'::regclass "
                    "AND attname = 'channels' AND NOT attisdropped)").fetchone()[0]:
        known_channels |= {ref_code(v) for (v,) in conn.execute(
            "SELECT DISTINCT btrim(ch) FROM public.scorecards s, LATERAL jsonb_array_elements_text("
            "CASE WHEN jsonb_typeof(s.channels::jsonb) = 'array' THEN s.channels::jsonb ELSE '[]' END) ch").fetchall()}
    known_channels.discard("UNASSIGNED")
    end_read(conn)

    roles = role_mapping(params)
    role_names = {r.code: r.name for r in params.roles}
    for column in ("role", "country", "channel", "department", "team"):
        if people.name(column) is None:
            continue
        for value, n in _counts(conn, sql.SQL("SELECT {}::text, count(*) FROM public.people p GROUP BY 1 ORDER BY 2 DESC")
                                .format(cols[column])):
            where = f"people.{people.name(column)}"
            if column == "role":
                k = vocab.key(value)
                if k is None:
                    add(where, "role_mapping", value, n, f"{params.default_role} (default_role)", "blank")
                elif k in roles:
                    add(where, "role_mapping", value, n, f"{roles[k]} ({role_names.get(roles[k], '')})",
                        "mapped" if k in params.role_mapping else "default")
                else:
                    add(where, "role_mapping", value, n, "", "unmapped")
            elif column == "country":
                code = country_code(value, params.country_map)
                status = ("blank" if vocab.key(value) is None else "unmapped" if code is None else
                          "mapped" if vocab.key(value) in params.country_map else "default")
                add(where, "country_map", value, n, code or "", status)
            else:
                add(where, "", value, n, ref_code(value), "own" if vocab.key(value) else "blank")

    for t in inv.migratable():
        present = [c for c in (*vocab.VOCABULARIES, "channel") if c in t.columns]
        if not present:
            continue
        pairs = sql.SQL(", ").join(sql.SQL("({}, x.{}::text)").format(sql.Literal(c), sql.Identifier(c)) for c in present)
        rows = _counts(conn, sql.SQL("SELECT v.c, v.value, count(*) FROM public.{} x CROSS JOIN LATERAL (VALUES {}) "
                                     "v(c, value) GROUP BY 1, 2 ORDER BY 1, 3 DESC").format(
            sql.Identifier(t.table_name), pairs))
        for column, value, n in rows:
            where = f"{t.table_name}.{column}"
            k = vocab.key(value)
            if column == "channel":
                if k is None:
                    add(where, "channel_map", value, n, "Unassigned", "blank")
                elif k in params.channel_map:
                    add(where, "channel_map", value, n, params.channel_map[k], "mapped")
                elif ref_code(value) in known_channels:
                    add(where, "channel_map", value, n, ref_code(value), "default")
                else:
                    add(where, "channel_map", value, n, "", "unmapped")
                continue
            m, pkey = maps[column], vocab.VOCABULARIES[column].params_key
            if k is None:
                add(where, pkey, value, n, "NULL", "blank")
            elif k not in m:
                add(where, pkey, value, n, "", "unmapped")
            elif m[k] == vocab.QUARANTINE:
                add(where, pkey, value, n, "quarantine", "quarantine")
            else:
                add(where, pkey, value, n, m[k], "mapped" if k in (getattr(params, pkey) or {}) else "default")
    frame = pd.DataFrame(out, columns=["where", "params key", "legacy value", "rows", "becomes", "status"])
    frame.attrs["known channels"] = sorted(known_channels)
    return frame


def bad_targets(prof: pd.DataFrame, params) -> list[str]:
    """Params map entries whose target does not exist: a country code phase 01 does not load (the
    employees' foreign key would refuse it), a channel no one uses."""
    out = [f"country_map maps {k!r} to {v!r}, which is no country phase 01 loads (ISO 3166-1 alpha-2; ZZ for none)"
           for k, v in params.country_map.items() if v != "ZZ" and v not in countries()]
    known = set(prof.attrs.get("known channels", [])) | {"UNASSIGNED"}
    out += [f"channel_map maps {k!r} to {v!r}, which names no channel people or scorecards use "
            f"({', '.join(sorted(known))})" for k, v in params.channel_map.items() if ref_code(v) not in known]
    return out


def unmapped(prof: pd.DataFrame, params, known_channel_names: list[str] | None = None) -> list[vocab.Unmapped]:
    """Each unmapped legacy value once per params key (its rows summed over where it occurs),
    with the stanza's proposal: a close match of a known spelling, else a safe default to review."""
    from .phases.p01_foundation import role_mapping

    out = []
    bad = prof[prof["status"] == STATUS["unmapped"]]
    for (pkey, value), g in bad.groupby(["params key", "legacy value"], sort=False):
        rows, where = int(g["rows"].sum()), list(dict.fromkeys(g["where"]))
        if pkey == "role_mapping":
            # a role grants an access level: never proposed from a likeness ('Ex-Manager' is not
            # a manager); the least one, to review, with the closest role named
            closest, is_close = vocab.suggest(value, role_mapping(params), params.default_role)
            proposal, close = params.default_role, False
            hint = ", ".join(r.code for r in params.roles) + (f" (closest spelling: {closest}; a role grants its access "
                                                             "level, decide it)" if is_close else "")
        elif pkey == "country_map":
            names = {vocab.key(name): code for code, (name, _) in countries().items()}
            proposal, close = vocab.suggest(value, names, "ZZ")
            hint = "an ISO 3166-1 alpha-2 code of the countries phase 01 loads, or ZZ (unassigned)"
        elif pkey == "channel_map":
            names = {vocab.key(n): n for n in (known_channel_names or [])}
            proposal, close = vocab.suggest(value, names, "Unassigned")
            hint = ", ".join(sorted(set(known_channel_names or []))) + " or Unassigned" if known_channel_names else "a channel"
        else:
            name = pkey.removesuffix("_map")
            choices = vocab.mapped(vocab.effective(name, getattr(params, pkey)))
            proposal, close = vocab.suggest(value, choices, vocab.QUARANTINE)
            hint = ", ".join(vocab.VOCABULARIES[name].values) + ", or quarantine"
        out.append(vocab.Unmapped(pkey, value, rows, where, proposal, close, hint))
    return out


def known_channel_names(prof: pd.DataFrame) -> list[str]:
    """The channel spellings people use (one per code, the most frequent)."""
    ch = prof[(prof["where"].str.startswith("people.")) & (prof["params key"] == "") & prof["where"].str.endswith("channel")
              & prof["legacy value"].notna() & (prof["becomes"] != "UNASSIGNED")]
    return [] if ch.empty else list(ch.sort_values("rows", ascending=False).drop_duplicates("becomes")["legacy value"])


def existing_entries(params, keys) -> dict[str, dict]:
    """Params' own entries of each key (the stanza repeats them, so the block replaces the key)."""
    return {k: dict(getattr(params, k) or {}) for k in keys}
