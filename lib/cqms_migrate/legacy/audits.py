"""Audit rows of the dynamic ``*_audit`` tables.

``COMMON_COLUMNS`` is the column set every audit table starts with (``_audit_rows`` yields rows
in that order, then the scorecard's parameter columns). ``_transcript_pool`` builds the pool of
synthetic conversations from the ``"transcripts"`` random stream; ``_audit_rows`` streams one
table's rows from the ``"audits:<idx>"`` stream, injecting orphan / variant / self references,
NULL dates, channels and transcripts, inverted audit times and status spellings, and records the
rows later linked to assignments.
"""

from __future__ import annotations

import uuid
from random import Random

from .common import (
    END_BEFORE_START_RATE, INTERACTION_DAYS, INTERACTION_FIRST, NULL_CHANNEL_RATE, NULL_DATE_RATE,
    NULL_TRANSCRIPT_RATE, ORPHAN_BOTH_SHARE, ORPHAN_ROW_RATE, SELF_AUDIT_RATE, VARIANT_REF_RATE,
    _Clock, _lookup, _rng,
)
from .scorecards import _Card, _vector_pool
from .world import FIRST_NAMES, _RefPicker

COMMON_COLUMNS = (
    ("id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
    ("employee_email", "text"), ("employee_name", "text"), ("auditor_email", "text"),
    ("auditor_name", "text"), ("interaction_id", "text"), ("interaction_date", "date"),
    ("channel", "text"), ("transcript", "text"), ("average_score", "numeric"),
    ("critical_errors", "integer"), ("total_errors_count", "integer"),
    ("passing_status", "text"), ("validation_status", "text"),
    ("acknowledgement_status", "text"), ("audit_duration", "integer"),
    ("submitted_at", "timestamptz"), ("audit_start_time", "timestamptz"),
    ("audit_end_time", "timestamptz"), ("reversal_requested_at", "timestamptz"),
    ("reversal_approved", "boolean"), ("created_at", "timestamptz DEFAULT now()"),
    ("updated_at", "timestamptz DEFAULT now()"),
)
REVERSAL_COLUMNS = ("reversal_requested_at", "reversal_approved")


# --------------------------------------------------------------------------------------------
# Transcripts
# --------------------------------------------------------------------------------------------

_GREET = (
    "Hi {c}, thanks for reaching out to Express support! My name is {a}, how can I help you today?",
    "Good {tod}, you're through to Express customer care, this is {a}. Who am I speaking with?",
    "Hello {c}, {a} here from the Express team. I can see you've written in about order #{o}.",
    "Thank you for contacting Express. My name is {a}. May I have your order number please?",
)
_CUSTOMER = (
    "Hi, my parcel #{o} was supposed to arrive on {d} but the tracking hasn't moved in days.",
    "I was charged twice for the same order and I want one of the payments refunded.",
    "The item I received is damaged, the box was completely crushed.",
    "I can't log into my account, it keeps saying my password is wrong.",
    "I want to cancel my subscription but there's no option in the app.",
    "Can you tell me why my refund hasn't shown up yet? It's been {n} days.",
    "I changed my delivery address but the driver still went to the old one.",
    "This is the third time I'm contacting you about this. Nobody has fixed it.",
    "The promo code {p} isn't working at checkout.",
    "I'd like to upgrade my plan, what are the options?",
    "Honestly I'm really frustrated, I needed this for the weekend.",
    "Ok, I've got the confirmation email now.",
    "Yes that's correct, the email on the account is the same one I'm writing from.",
    "How long will that take?",
    "Is there anything else I need to do on my end?",
)
_AGENT = (
    "I'm sorry to hear that, I completely understand how frustrating this must be.",
    "Let me pull up your account, could you confirm the email address and postcode for security?",
    "Thanks for confirming. I can see the order here, give me one moment while I check with the depot.",
    "I've placed you on a short hold while I look into this, thank you for your patience.",
    "I've raised a priority ticket with our logistics team, reference {t}.",
    "I can confirm the duplicate charge of ${m} has been reversed, it should show in 3-5 business days.",
    "I've applied a {pc}% discount to your next order as an apology for the inconvenience.",
    "I have reset the password link, please check your inbox and spam folder.",
    "Your subscription has been cancelled effective {d}, you won't be charged again.",
    "The promo code {p} expired on {d}, but I've added an equivalent credit to your account.",
    "I'm escalating this to my supervisor so it gets resolved today.",
    "Just to make sure I've understood correctly: you'd like a replacement rather than a refund?",
    "I've updated the delivery address and notified the courier.",
    "According to our policy, refunds are processed within 7 working days of the return scan.",
)
_CLOSE = (
    "Is there anything else I can help you with today?",
    "Thanks for your patience {c}, have a wonderful {tod}!",
    "You'll receive a short survey after this chat, we'd really appreciate your feedback.",
    "Thank you for contacting Express, take care!",
)


def _transcript_pool(seed: int, size: int = 3000) -> list[str]:
    r = _rng(seed, "transcripts")
    pool = []
    for _ in range(size):
        # length target 300..2500 chars, skewed towards shorter conversations
        target = 300 + int(2200 * (r.random() ** 1.8))
        agent = FIRST_NAMES[r.randrange(len(FIRST_NAMES))]
        cust = FIRST_NAMES[r.randrange(len(FIRST_NAMES))]
        ctx = {
            "a": agent, "c": cust, "o": r.randrange(1_000_000, 9_999_999),
            "tod": r.choice(("morning", "afternoon", "evening")),
            "d": f"{r.randrange(1, 29)}/{r.randrange(1, 13)}", "n": r.randrange(3, 30),
            "p": r.choice(("SAVE10", "WELCOME20", "FREESHIP", "SPRING15")),
            "t": f"INC-{r.randrange(100000, 999999)}", "m": f"{r.randrange(5, 300)}.{r.randrange(100):02d}",
            "pc": r.choice((10, 15, 20)),
        }
        lines = [f"Agent ({agent}): " + r.choice(_GREET).format(**ctx)]
        size_now = len(lines[0])
        while size_now < target - 120:
            who = len(lines) % 2
            text = (f"Customer: {r.choice(_CUSTOMER)}" if who else f"Agent ({agent}): {r.choice(_AGENT)}").format(**ctx)
            lines.append(text)
            size_now += len(text) + 1
        lines.append(f"Agent ({agent}): " + r.choice(_CLOSE).format(**ctx))
        pool.append("\n".join(lines)[:2500])
    return pool


# --------------------------------------------------------------------------------------------
# Audit rows
# --------------------------------------------------------------------------------------------

def _audit_rows(rng: Random, card: _Card, n_rows: int, picker: _RefPicker, transcripts: list[str],
                clock: _Clock, stats: dict, links: list, p_link: float):
    """Yield audit rows for one table (tuples in COPY column order)."""
    r = rng.random
    getrandbits = rng.getrandbits
    UUID = uuid.UUID
    pool = _vector_pool(rng, card)
    n_pool = len(pool)
    hits = [0] * n_pool
    emp, aud = picker.emp, picker.aud
    n_emp, n_aud = len(emp), len(aud)
    orph_emp, orph_aud = picker.orph_emp, picker.orph_aud
    n_oe, n_oa = len(orph_emp), len(orph_aud)
    n_tr = len(transcripts)
    ts, days, dbase = clock.ts, clock.days, clock.base
    first_day = _Clock.epoch_day(INTERACTION_FIRST)
    pass_lk, fail_lk = card.pass_lookup, card.fail_lookup
    n_lk = len(pass_lk)
    val_lk = _lookup((("approved", 62), ("pending", 16), ("rejected", 5), (None, 17)))
    ack_lk = _lookup((("acknowledged", 58), ("pending", 20), ("disputed", 5), (None, 17)))
    dur_lk = [int(120 + 3500 * (i / 1000) ** 2.2) for i in range(1000)]
    channel = card.channel
    ch_lower = channel.lower()
    no_rev = card.no_reversal
    style = card.id_style
    spell = stats["spellings"]
    orphan_rows = variant_refs = orphan_refs = self_audits = null_dates = end_before = 0
    null_channel = null_transcript = 0
    name_from_email = _RefPicker.name_from_email

    for _ in range(n_rows):
        x = getrandbits(128)
        rid = str(UUID(int=x, version=4))
        # --- who ------------------------------------------------------------------------------
        e = emp[int(r() * n_emp)]
        a = aud[int(r() * n_aud)]
        ename, aname = e[2], a[2]
        y = r()
        if y < ORPHAN_ROW_RATE:
            orphan_rows += 1
            z = r()
            if z < ORPHAN_BOTH_SHARE:
                ee = orph_emp[int(r() * n_oe)]
                ae = orph_aud[int(r() * n_oa)]
                ename, aname = name_from_email(ee), name_from_email(ae)
                orphan_refs += 2
            elif z < ORPHAN_BOTH_SHARE + (1 - ORPHAN_BOTH_SHARE) * 0.7:
                ee = orph_emp[int(r() * n_oe)]
                ename = name_from_email(ee)
                ae = a[0][0]
                orphan_refs += 1
            else:
                ee = e[0][0]
                ae = orph_aud[int(r() * n_oa)]
                aname = name_from_email(ae)
                orphan_refs += 1
        else:
            opts = e[0]
            if r() < VARIANT_REF_RATE:
                v = e[1]
                ee = v[int(r() * len(v))]
                variant_refs += 1
            else:
                ee = opts[0] if len(opts) == 1 or r() < 0.7 else opts[1]
            if y > 1 - SELF_AUDIT_RATE:
                ae, aname = ee, ename
                self_audits += 1
                if ee not in e[0]:
                    variant_refs += 1
            elif r() < VARIANT_REF_RATE:
                v = a[1]
                ae = v[int(r() * len(v))]
                variant_refs += 1
            else:
                opts = a[0]
                ae = opts[0] if len(opts) == 1 or r() < 0.7 else opts[1]
        q = r()
        if q < 0.02:
            ename = None if q < 0.01 else (ename.lower() if ename else ename)
        # --- what -----------------------------------------------------------------------------
        day = first_day + int(INTERACTION_DAYS * r() ** 0.75)
        start = (day + 1 + int(r() * 9)) * 86400 + 28800 + int(r() * 43200)
        dur = dur_lk[int(r() * 1000)]
        if r() < END_BEFORE_START_RATE:
            end = start - 60 - int(r() * 3000)
            end_before += 1
        else:
            end = start + dur
        submitted = end + int(r() * 600) if end >= start else start + dur + int(r() * 600)
        w = r()
        if w < NULL_DATE_RATE:
            idate = None
            null_dates += 1
        else:
            idate = days[day - dbase]
        w = r()
        if w < NULL_CHANNEL_RATE:
            ch = None
            null_channel += 1
        elif w < NULL_CHANNEL_RATE + 0.02:
            ch = ch_lower
        else:
            ch = channel
        w = r()
        if w < NULL_TRANSCRIPT_RATE:
            tr = None
            null_transcript += 1
        else:
            tr = transcripts[int(w * 1_000_003) % n_tr]
        k = int(r() * n_pool)
        hits[k] += 1
        vals, crit, total, score, passed, _ = pool[k]
        status = (pass_lk if passed else fail_lk)[int(r() * n_lk)]
        spell[status] = spell.get(status, 0) + 1
        if style == "conv":
            iid = str(215_000_000_000_000 + (x & 0xFFFFFFFFFF))
        elif style == "ticket":
            iid = f"TKT-{x & 0xFFFFF:07d}"
        else:
            iid = f"CALL-{days[day - dbase].replace('-', '')}-{x & 0xFFFF:05d}"
        val = val_lk[int(r() * 1000)]
        ack = ack_lk[int(r() * 1000)]
        sub_s = ts(submitted)
        upd = sub_s if r() < 0.6 else ts(submitted + int(r() * 30 * 86400))
        row = [rid, ee, ename, ae, aname, iid, idate, ch, tr, score, crit, total, status, val, ack,
               dur, sub_s, ts(start), ts(end)]
        if not no_rev:
            if r() < 0.03:
                row.append(ts(submitted + 3600 + int(r() * 14 * 86400)))
                w = r()
                row.append(True if w < 0.4 else (False if w < 0.8 else None))
            else:
                row.append(None)
                row.append(None)
        row.append(sub_s)
        row.append(upd)
        row.extend(vals)
        if p_link and r() < p_link:
            links.append((card.idx, rid, ee, ename, ae, iid, submitted, day, y < ORPHAN_ROW_RATE))
        yield row

    for k, n in enumerate(hits):
        if n:
            st = pool[k]
            if st[5]:
                stats["over"] += n
    stats["orphan_rows"] += orphan_rows
    stats["orphan_refs"] += orphan_refs
    stats["variant_refs"] += variant_refs
    stats["self_audits"] += self_audits
    stats["null_dates"] += null_dates
    stats["end_before_start"] += end_before
    stats["null_channel"] += null_channel
    stats["null_transcript"] += null_transcript
