"""Rows of ``public.audit_assignments``.

``_assignments`` turns the audit rows sampled as links into completed/in-progress assignments
(carrying their audit's references), tops them up with unlinked assignments drawn from the
``"assignments"`` random stream (with their own orphan / variant references), and returns them
in creation order with the counts of bad references.
"""

from __future__ import annotations

from datetime import date, timedelta
from random import Random

from .common import (
    INTERACTION_DAYS, INTERACTION_FIRST, ORPHAN_BOTH_SHARE, ORPHAN_ROW_RATE, VARIANT_REF_RATE,
    _Clock, _dt, _lookup, _norm, _uuid,
)
from .scorecards import _Card
from .world import _RefPicker, _World

def _assignments(rng: Random, world: _World, cards: list[_Card], picker: _RefPicker,
                 links: list, total: int):
    r = rng.random
    a_stats = {"orphan_rows": 0, "orphan_refs": 0, "variant_refs": 0}
    assigners = [p.exact_opts[0] for p in world.persons
                 if p.role in ("Team Lead", "Supervisor", "Manager", "Quality Analyst") and p.exact_opts]
    assigners += [p.user_email for p in world.extra_users]
    rows = []
    by_idx = {c.idx: c for c in cards}
    sources = _lookup((("manual", 55), ("auto", 30), ("bulk_upload", 10), ("ai_suggested", 5)))
    for (cidx, audit_id, ee, ename, ae, iid, submitted, day, _orphan) in links:
        card = by_idx[cidx]
        sched = day + int(r() * 3)
        created = (sched - int(r() * 4)) * 86400 + 25200 + int(r() * 36000)
        status = "completed" if r() < 0.93 else "in_progress"
        rows.append([created, _uuid(rng), ee, ename, ae, card.id, status, sched,
                     _dt(submitted) if status == "completed" else None, audit_id, iid,
                     None, sources[int(r() * 1000)], assigners[int(r() * len(assigners))]])
    # the linked rows carry their audit row's messiness; count it the same way
    audit_orphan_links = sum(1 for link in links if link[8])
    a_stats["orphan_rows"] += audit_orphan_links
    exact = world.exact
    for row in rows:
        for v in (row[2], row[4]):
            if v not in exact:
                if _norm(v) in world.used_norm:
                    a_stats["variant_refs"] += 1
                else:
                    a_stats["orphan_refs"] += 1
    weights = [c.weight if not c.empty else cards[-2].weight if len(cards) > 1 else 1 for c in cards]
    first_day = _Clock.epoch_day(INTERACTION_FIRST)
    status_lk = _lookup((("pending", 45), ("in_progress", 20), ("cancelled", 25), ("completed", 10)))
    for _ in range(max(0, total - len(rows))):
        card = rng.choices(cards, weights)[0]
        e = picker.emp[int(r() * len(picker.emp))]
        a = picker.aud[int(r() * len(picker.aud))]
        ename = e[2]
        if r() < ORPHAN_ROW_RATE:
            a_stats["orphan_rows"] += 1
            if r() < ORPHAN_BOTH_SHARE:
                ee, ae = picker.orph_emp[int(r() * len(picker.orph_emp))], picker.orph_aud[int(r() * len(picker.orph_aud))]
                a_stats["orphan_refs"] += 2
            else:
                ee, ae = picker.orph_emp[int(r() * len(picker.orph_emp))], a[0][0]
                a_stats["orphan_refs"] += 1
            ename = _RefPicker.name_from_email(ee)
        else:
            if r() < VARIANT_REF_RATE:
                ee = e[1][int(r() * len(e[1]))]
                a_stats["variant_refs"] += 1
            else:
                ee = e[0][0]
            if r() < VARIANT_REF_RATE:
                ae = a[1][int(r() * len(a[1]))]
                a_stats["variant_refs"] += 1
            else:
                ae = a[0][0]
        day = first_day + int(INTERACTION_DAYS * r() ** 0.75)
        sched = day + int(r() * 5)
        created = (sched - int(r() * 4)) * 86400 + 25200 + int(r() * 36000)
        status = status_lk[int(r() * 1000)]
        completed = _dt(sched * 86400 + 36000 + int(r() * 30000)) if status == "completed" else None
        conv = str(215_000_000_000_000 + rng.getrandbits(40)) if r() < 0.7 else None
        rows.append([created, _uuid(rng), ee, ename, ae, card.id, status, sched, completed, None,
                     conv, None, sources[int(r() * 1000)], assigners[int(r() * len(assigners))]])
    # alias of the employee (if known) and final shape, in creation order
    alias_of = {}
    for p in world.persons:
        for em in (*p.exact_opts, *p.variants):
            alias_of.setdefault(em, p.alias)
    rows.sort(key=lambda row: (row[0], row[1].int))
    out = []
    for created, aid, ee, ename, ae, card_id, status, sched, completed, audit_id, conv, _alias, src, by in rows:
        sched_date = date(1970, 1, 1) + timedelta(days=sched)
        out.append((aid, ee, ename, ae, card_id, status, sched_date, sched_date.isocalendar()[1],
                    completed, audit_id, conv, alias_of.get(ee), src, by, _dt(created)))
    return out, a_stats
