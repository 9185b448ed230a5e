"""Shared pieces of the legacy generator: the injected-anomaly rates, the date range, the
per-section random streams and the small helpers (UUIDs, email normalization, weighted picks,
timestamp formatting) every other module uses.

What the rates mean (exact / normalized / orphan / variant reference) is defined in the
docstring of ``generator.py``.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from random import Random
from typing import Callable

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")

Progress = Callable[[str, int, int], None]

# Rates (see the docstring of generator.py for what they mean).
ORPHAN_ROW_RATE = 0.075        # audit/assignment rows with >= 1 orphan email
ORPHAN_BOTH_SHARE = 0.5        # of orphan rows, both emails orphan
VARIANT_REF_RATE = 0.085       # per non-orphan email reference
SELF_AUDIT_RATE = 0.005
DUPLICATE_PEOPLE_RATE = 0.025
INVALID_EMAIL_RATE = 0.005
USER_SHARE = 0.80
USERS_WITHOUT_PEOPLE_SHARE = 0.05
NULL_DATE_RATE = 0.01
NULL_CHANNEL_RATE = 0.03
NULL_TRANSCRIPT_RATE = 0.01
END_BEFORE_START_RATE = 0.002
UNMAPPED_STATUS_RATE = 0.003
NULL_STATUS_RATE = 0.01
OVER_100_ROW_RATE = 0.10
LINKED_ASSIGNMENT_SHARE = 0.60

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DAY0 = date(2021, 1, 1)                     # first day in the day-string table
INTERACTION_FIRST = date(2023, 1, 1)
INTERACTION_DAYS = (date(2025, 12, 31) - INTERACTION_FIRST).days + 1


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _rng(seed: int, section: str) -> Random:
    return Random(f"cqms-legacy:{seed}:{section}")


def _uuid(rng: Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _norm(email: str | None) -> str | None:
    return None if email is None else email.strip(" ").lower()


def _valid(email: str | None) -> bool:
    return email is not None and EMAIL_RE.match(email.strip(" ")) is not None


def _weighted(rng: Random, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights)[0]


def _lookup(pairs, size: int = 1000) -> list:
    """A table of ``size`` slots filled by weight, for O(1) weighted picks with one random()."""
    total = sum(w for _, w in pairs)
    table: list = []
    acc = 0.0
    for value, weight in pairs:
        acc += weight
        table.extend([value] * (round(acc / total * size) - len(table)))
    return table


def _quota(n: int, pairs) -> list:
    """Exactly-proportional assignment (largest remainder) of ``n`` items to weighted values."""
    total = sum(w for _, w in pairs)
    raw = [n * w / total for _, w in pairs]
    counts = [int(x) for x in raw]
    order = sorted(range(len(pairs)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    out: list = []
    for (value, _), c in zip(pairs, counts):
        out.extend([value] * c)
    return out


class _Clock:
    """Cheap epoch-seconds -> 'YYYY-MM-DD HH:MM:SS+00' formatting for the hot loop."""

    def __init__(self) -> None:
        self.days = [(DAY0 + timedelta(days=i)).isoformat() for i in range(365 * 8)]
        self.base = (DAY0 - EPOCH.date()).days
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]

    def ts(self, t: int) -> str:
        d, s = divmod(t, 86400)
        return self.days[d - self.base] + " " + self.hms[s]

    def day(self, day_number: int) -> str:
        return self.days[day_number - self.base]

    @staticmethod
    def epoch_day(d: date) -> int:
        return (d - EPOCH.date()).days


def _dt(t: int) -> datetime:
    return EPOCH + timedelta(seconds=t)


def _epoch(d: date, seconds: int = 0) -> int:
    return (d - EPOCH.date()).days * 86400 + seconds
