"""Scorecards and their parameters.

``_plan_scorecards`` draws, from the ``"scorecards"`` random stream, the scorecard rows, their
``scorecard_perameters`` rows and the shape of each dynamic ``*_audit`` table (parameter
columns, the quoted / retired / missing column anomalies, status spellings, row weight).
``_split`` divides the audit rows between the tables; ``_vector_pool`` pre-builds the parameter
vectors (values, errors, score, pass/fail) audit rows are drawn from.
"""

from __future__ import annotations

import json
from datetime import date
from random import Random

from .common import (
    NULL_STATUS_RATE, OVER_100_ROW_RATE, UNMAPPED_STATUS_RATE, _dt, _epoch, _lookup, _rng, _uuid,
    _weighted,
)

# 24 plausible dynamic audit table base names (suffix _audit is added).
TABLE_BASES = (
    "email", "chat", "call", "ticket", "social", "voice", "escalation", "refund", "billing",
    "onboarding", "retention", "complaint", "technical_support", "sales", "backoffice",
    "whatsapp", "sms", "callback", "kyc", "fraud", "returns", "delivery", "vip", "outbound",
)
TABLE_CHANNEL = {
    "email": "Email", "chat": "Chat", "call": "Phone", "ticket": "Email", "social": "Social",
    "voice": "Phone", "escalation": "Phone", "refund": "Email", "billing": "Email",
    "onboarding": "Phone", "retention": "Phone", "complaint": "Email",
    "technical_support": "Chat", "sales": "Phone", "backoffice": "Email", "whatsapp": "Social",
    "sms": "Social", "callback": "Phone", "kyc": "Email", "fraud": "Phone", "returns": "Chat",
    "delivery": "Chat", "vip": "Phone", "outbound": "Phone",
}

# field_id, error_name, parameter_type, field_type, fail_all
PARAMETERS = (
    ("greeting", "Greeting / Opening", "minor", "counter", False),
    ("empathy", "Empathy & Acknowledgement", "significant", "counter", False),
    ("resolution_accuracy", "Resolution Accuracy", "critical", "counter", False),
    ("grammar", "Grammar & Spelling", "minor", "counter", False),
    ("tone", "Tone of Voice", "minor", "counter", False),
    ("hold_procedure", "Hold Procedure", "significant", "counter", False),
    ("verification", "Customer Verification", "critical", "checkbox", True),
    ("closing", "Closing", "minor", "counter", False),
    ("active_listening", "Active Listening", "significant", "counter", False),
    ("ownership", "Ownership", "significant", "counter", False),
    ("product_knowledge", "Product Knowledge", "significant", "counter", False),
    ("process_adherence", "Process Adherence", "significant", "counter", False),
    ("data_privacy", "Data Privacy Breach", "critical", "checkbox", True),
    ("escalation_handling", "Escalation Handling", "significant", "counter", False),
    ("response_time", "Response Time", "significant", "counter", False),
    ("personalization", "Personalization", "minor", "counter", False),
    ("call_control", "Call Control", "minor", "counter", False),
    ("dead_air", "Dead Air", "minor", "counter", False),
    ("transfer_procedure", "Transfer Procedure", "significant", "counter", False),
    ("refund_policy", "Refund Policy Compliance", "critical", "counter", False),
    ("documentation", "Case Documentation", "significant", "counter", False),
    ("ticket_tagging", "Ticket Tagging", "minor", "counter", False),
    ("follow_up", "Follow-up Commitment", "significant", "counter", False),
    ("rudeness", "Rudeness / Unprofessional Behaviour", "critical", "checkbox", True),
    ("misinformation", "Misinformation", "critical", "counter", False),
    ("survey_offer", "Survey Offer", "minor", "checkbox", False),
    ("brand_voice", "Brand Voice", "minor", "counter", False),
    ("macro_usage", "Macro Usage", "minor", "counter", False),
)
QUOTED_FIELD_ID = "Proper Greeting?"
RETIRED_COLUMN = "legacy_sla_breach"
MISSING_COLUMN_PARAM = "new_policy_check"

PASS_SPELLINGS = ("Passed", "pass", "PASS")
FAIL_SPELLINGS = ("Not Passed", "FAIL", "Failed", "fail")
UNMAPPED_STATUS = "Borderline"


# --------------------------------------------------------------------------------------------
# Scorecards and parameters
# --------------------------------------------------------------------------------------------

class _Card:
    __slots__ = ("idx", "id", "name", "table", "channel", "threshold", "allow_over", "bonus",
                 "params", "columns", "empty", "no_reversal", "weight", "row", "pass_lookup",
                 "fail_lookup", "id_style")


def _plan_scorecards(seed: int, n: int):
    if n < 2:
        raise ValueError("seed_legacy needs at least 2 scorecards (one of them is left empty)")
    r = _rng(seed, "scorecards")
    cards: list[_Card] = []
    nonempty_last = n - 2
    special = {k: min(k, nonempty_last) for k in (1, 2, 3, 4)}
    quoted_idx, retired_idx, missing_idx, no_rev_idx = special[1], special[2], special[3], special[4]
    over_idx = {min(1, nonempty_last), min(3, nonempty_last)} if n >= 3 else {0}
    # fall back to two distinct over-100 scorecards when possible
    if len(over_idx) < 2 and nonempty_last >= 1:
        over_idx = {0, 1}
    param_rows = []
    for i in range(n):
        c = _Card()
        c.idx, c.id = i, _uuid(r)
        base = TABLE_BASES[i % len(TABLE_BASES)]
        c.table = f"{base}_audit" if i < len(TABLE_BASES) else f"{base}_{i // len(TABLE_BASES) + 1}_audit"
        c.channel = TABLE_CHANNEL[base]
        title = base.replace("_", " ").title()
        c.name = "Email Quality Scorecard" if i == 0 else f"{title} QA Scorecard" + (
            f" v{i // len(TABLE_BASES) + 1}" if i >= len(TABLE_BASES) else "")
        c.threshold = r.choice((80, 85, 85, 90, 75))
        c.allow_over = i in over_idx
        c.bonus = r.randrange(10, 21) if c.allow_over else None
        c.empty = i == n - 1
        c.no_reversal = i == no_rev_idx
        c.id_style = "ticket" if base in ("ticket", "email", "refund", "billing", "complaint", "kyc") else (
            "call" if c.channel == "Phone" else "conv")
        k = r.randint(4, 9)
        picked = r.sample(PARAMETERS, k)
        params = []
        for order, (fid, ename, ptype, ftype, fail_all) in enumerate(picked, start=1):
            params.append([fid, ename, ptype, ftype, fail_all, order])
        if i == quoted_idx:
            params[0][0], params[0][1] = QUOTED_FIELD_ID, "Proper Greeting?"
            params[0][2], params[0][3], params[0][4] = "minor", "checkbox", False
        c.params = params
        columns = [(p[0], p) for p in params]
        if i == retired_idx:
            columns.insert(min(2, len(columns)), (RETIRED_COLUMN, None))
        c.columns = columns  # (column name, param or None) in table order
        if i == missing_idx:
            params.append([MISSING_COLUMN_PARAM, "New Policy Check", "significant", "checkbox", False,
                           len(params) + 1])
        created = _epoch(date(2022, 3, 1), int(r.random() * 800 * 86400))
        channels = [c.channel] + ([r.choice(("Email", "Chat", "Phone", "Social"))] if r.random() < 0.3 else [])
        version = 1 if r.random() < 0.7 else r.randint(2, 4)
        c.row = [
            c.id, c.name,
            None if r.random() < 0.15 else f"Quality scorecard for {title.lower()} interactions.",
            c.table, c.threshold, _weighted(r, (("deductive", 80), ("weighted", 15), ("Deductive", 5))),
            json.dumps(list(dict.fromkeys(channels))), r.random() < 0.9 or i == 0, version, None,
            c.allow_over, c.bonus, _dt(created),
        ]
        # status spellings: each table's era had its own habits
        pw = [r.randint(1, 10) for _ in PASS_SPELLINGS]
        fw = [r.randint(1, 10) for _ in FAIL_SPELLINGS]
        extra = ((UNMAPPED_STATUS, UNMAPPED_STATUS_RATE), (None, NULL_STATUS_RATE))
        body = 1 - UNMAPPED_STATUS_RATE - NULL_STATUS_RATE
        c.pass_lookup = _lookup([(s, body * w / sum(pw)) for s, w in zip(PASS_SPELLINGS, pw)] + list(extra))
        c.fail_lookup = _lookup([(s, body * w / sum(fw)) for s, w in zip(FAIL_SPELLINGS, fw)] + list(extra))
        cards.append(c)
        for fid, ename, ptype, ftype, fail_all, order in params:
            penalty = {"critical": r.choice((15, 20, 25)), "significant": r.choice((5, 8, 10)),
                       "minor": r.choice((1, 2, 3))}[ptype]
            ai = r.random() < 0.35
            param_rows.append((
                _uuid(r), c.id, ename, penalty, ptype, ftype, fid, ai,
                f"Check whether the agent handled '{ename}' correctly; answer with the number of errors."
                if ai else None,
                fail_all, ptype != "minor" and r.random() < 0.7, order, True,
            ))
            for col in c.params:
                if col[0] == fid:
                    col.append(penalty)
    # a few scorecards are newer versions of others
    for c in cards[1:]:
        if c.row[8] > 1:
            c.row[9] = cards[r.randrange(0, c.idx)].id
    # uneven (Zipf-ish) distribution, the last scorecard's table stays empty
    for c in cards:
        c.weight = 0.0 if c.empty else 1.0 / (c.idx + 1) ** 1.05
    return cards, param_rows


def _split(total: int, cards: list[_Card]) -> list[int]:
    weights = [c.weight for c in cards]
    s = sum(weights)
    raw = [total * w / s for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(cards)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    # every non-empty table gets at least one row when there are enough rows
    if total >= len(cards) - 1:
        for i, c in enumerate(cards):
            if not c.empty and counts[i] == 0:
                j = max(range(len(cards)), key=lambda x: counts[x])
                counts[j] -= 1
                counts[i] += 1
    return counts


def _vector_pool(r: Random, card: _Card, size: int = 4096):
    """Pre-built parameter vectors: (param values, critical, total, score str, passed, over100)."""
    dist = _lookup(((0, 86), (1, 9), (2, 3.5), (3, 1.5)))
    pool = []
    for _ in range(size):
        vals, crit, total, penalty, fail_all = [], 0, 0, 0, False
        over = card.allow_over and r.random() < OVER_100_ROW_RATE
        for name, p in card.columns:
            if p is None:  # retired column: old rows have values, newer ones NULL
                vals.append(None if r.random() < 0.35 else (1 if r.random() < 0.08 else 0))
                continue
            if over:
                v = 0
            elif p[3] == "checkbox":
                v = 1 if r.random() < (0.03 if p[2] == "critical" else 0.08) else 0
            else:
                v = dist[int(r.random() * len(dist))]
            vals.append(v)
            if v:
                total += v
                penalty += v * p[6]
                if p[2] == "critical":
                    crit += 1
                    fail_all = fail_all or p[4]
        if over:
            score = 100 + round(0.01 + r.random() * (card.bonus - 0.01), 2)
        else:
            score = max(40.0, 100.0 - penalty - (round(r.random() * 3, 2) if penalty else 0))
        passed = score >= card.threshold and not fail_all
        pool.append((tuple(vals), crit, total, f"{score:.2f}".rstrip("0").rstrip("."), passed, score > 100))
    return pool
