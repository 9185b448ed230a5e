"""The customer's own words for the values the unified schema constrains.

A legacy database spells a status the way its application wrote it: 'Validated', 'Needs
Revision', 'NOT PASSED'. The unified columns accept a fixed set ('approved', 'needs_revision',
'fail'). Every such column reads through a vocabulary: a map from legacy spelling to unified
value, the built-in defaults below under the operator's params (``<vocabulary>_map``).

Matching ignores case, surrounding and repeated whitespace, and '-'/'_'/space differences (one
rule, ``key`` here and ``cqms_migration.vocab_key`` in SQL). A blank value is no value (NULL).
Nothing beyond the map is guessed: a spelling the map does not know is *unmapped*; preflight
names it and prints the params stanza that would map it (``stanza``), and a row that still holds
one is quarantined. A map entry whose value is ``quarantine`` records the operator's decision to
quarantine that spelling (the forecast then expects those rows).

Written back (after cutover, a value set through ``audits``), each legacy table gets its own
spelling: the one it used most for that value, else params' legacy spelling, else the spelling
other tables used most, else the unified value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

QUARANTINE = "quarantine"


# the same rule in SQL (the body of cqms_migration.vocab_key, written inline where it runs per row)
KEY_SQL = "nullif(lower(btrim(regexp_replace({}, '[-_[:space:]]+', ' ', 'g'))), '')"


def key_sql(expr):
    """``expr``'s matching key in SQL (psycopg.sql), inline: KEY_SQL."""
    from psycopg import sql
    return sql.SQL(KEY_SQL).format(sql.SQL("({})::text").format(expr))


def key(value) -> str | None:
    """The matching key of a legacy spelling: lower case, '-', '_' and runs of whitespace as one
    space, trimmed; None for a blank or missing value. Mirrors cqms_migration.vocab_key()."""
    if value is None:
        return None
    k = re.sub(r"[-_\s]+", " ", str(value)).strip().lower()
    return k or None


@dataclass(frozen=True)
class Vocabulary:
    name: str            # the legacy column (and the audits column) it maps
    values: tuple        # what the unified column accepts
    defaults: dict       # legacy key -> value, beyond each value's own spelling

    @property
    def reason(self) -> str:
        return f"unmapped_{self.name}"

    @property
    def params_key(self) -> str:
        return f"{self.name}_map"


VOCABULARIES: dict[str, Vocabulary] = {v.name: v for v in (
    Vocabulary("passing_status", ("pass", "fail", "pending", "needs_review"), {
        "passed": "pass", "passing": "pass", "failed": "fail", "not passed": "fail", "failing": "fail",
        "needs review": "needs_review", "review needed": "needs_review"}),
    Vocabulary("validation_status", ("pending", "approved", "rejected", "needs_revision"), {
        "validated": "approved", "approve": "approved", "not validated": "pending", "awaiting validation": "pending",
        "reject": "rejected", "needs revision": "needs_revision", "revision needed": "needs_revision",
        "revision requested": "needs_revision"}),
    Vocabulary("acknowledgement_status", ("pending", "acknowledged", "disputed", "not_required"), {
        "acknowledge": "acknowledged", "acked": "acknowledged", "not acknowledged": "pending", "dispute": "disputed",
        "not required": "not_required", "no acknowledgement required": "not_required"}),
)}


def effective(vocabulary: str, overrides: dict[str, str] | None) -> dict[str, str]:
    """legacy key -> unified value (or 'quarantine'): each value's own spelling, the defaults,
    then the params' entries (normalized) over them."""
    v = VOCABULARIES[vocabulary]
    out = {key(x): x for x in v.values}
    out.update(v.defaults)
    out.update({key(k): val for k, val in (overrides or {}).items() if key(k)})
    return out


def maps(params) -> dict[str, dict[str, str]]:
    """Every vocabulary's effective map under these params."""
    return {name: effective(name, getattr(params, VOCABULARIES[name].params_key, {}) or {}) for name in VOCABULARIES}


def mapped(vocabulary_map: dict[str, str]) -> dict[str, str]:
    """The entries that map to a unified value (the 'quarantine' decisions left out)."""
    return {k: v for k, v in vocabulary_map.items() if v != QUARANTINE}


def unmapped(vocabulary_map: dict[str, str], value) -> bool:
    """A legacy value the map does not know (blank values are no value, never unmapped)."""
    k = key(value)
    return k is not None and k not in vocabulary_map


def decided_quarantine(vocabulary_map: dict[str, str], value) -> bool:
    k = key(value)
    return k is not None and vocabulary_map.get(k) == QUARANTINE


def suggest(value: str, choices: dict[str, str], fallback: str, cutoff: float = 0.82) -> tuple[str, bool]:
    """(a target for an unmapped spelling, whether it is a close match): the value of the closest
    known spelling when it is close (a typo: 'Needs Revison'), else ``fallback``. Only for the
    stanza an operator reviews: the runbook itself never guesses."""
    k = key(value) or ""
    close = difflib.get_close_matches(k, [c for c in choices if c], n=1, cutoff=cutoff)
    return (choices[close[0]], True) if close else (fallback, False)


def _yaml_key(value: str) -> str:
    import json
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Unmapped:
    """A legacy spelling no map knows, where it occurs, and what the stanza proposes for it."""
    params_key: str       # role_mapping, validation_status_map, country_map, ...
    value: str
    rows: int
    where: list[str]      # 'people.role', 'chat_audit.validation_status', ...
    proposal: str
    close: bool           # the proposal is a close match of a known spelling (else a safe default)
    choices: str          # what the operator may write instead


def stanza(items: list[Unmapped], existing: dict[str, dict] | None = None) -> str:
    """The params lines that map every unmapped spelling, ready to paste: one whole block per
    params key (the entries params already hold, then the new ones), so the block replaces the
    key as it stands. A proposal that is not a close match is marked REVIEW with the choices."""
    lines: list[str] = []
    for pkey in dict.fromkeys(i.params_key for i in items):
        lines.append(f"{pkey}:")
        for k, v in (existing or {}).get(pkey, {}).items():
            lines.append(f"  {_yaml_key(k)}: {v}")
        for i in sorted((i for i in items if i.params_key == pkey), key=lambda i: (-i.rows, i.value)):
            note = f"{i.rows:,} rows in {', '.join(i.where[:3])}{' ...' if len(i.where) > 3 else ''}"
            if not i.close:
                note = f"REVIEW: {note}; one of {i.choices}"
            lines.append(f"  {_yaml_key(i.value)}: {i.proposal}   # {note}")
    return "\n".join(lines)
