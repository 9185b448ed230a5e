"""Deterministic generator of a realistic, messy legacy "Express CQMS" database.

``seed_legacy`` creates the legacy schema (schema.sql) plus one dynamic ``*_audit`` table per
scorecard, and streams every row in with COPY. Same ``seed`` and sizes => same rows and UUIDs.

Each section (people, users, scorecards, audits, assignments) draws from its own
``random.Random`` seeded from ``f"{seed}:{section}"``, so e.g. changing ``audits`` does not
change the people. Nothing depends on set/dict iteration order of hashed strings.

Anomaly counts in the report are counted while the rows are built (by construction), using the
same definitions a checker would use in SQL:

* exact match   = the reference string equals some ``users.email`` or ``people.email`` as stored;
* normalized    = ``lower(btrim(x))`` equals ``lower(btrim(email))`` of some users/people row;
* orphan ref    = non-null, non-blank reference that does not match even normalized;
* variant ref   = reference that matches only normalized (case or surrounding spaces).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Callable

from psycopg import sql

from ..errors import LegacyShapeError

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
MAIN_DOMAIN = "expresscqms.com"

Progress = Callable[[str, int, int], None]

# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony "
    "Betty Mark Sandra Steven Ashley Paul Emily Andrew Michelle Joshua Amanda Kevin Melissa "
    "Brian Deborah George Stephanie Priya Rahul Anjali Arjun Sneha Vikram Pooja Rohan Neha "
    "Aditya Kavya Sanjay Divya Amit Meera Ravi Lakshmi Maria Jose Juan Carmen Luis Ana Carlos "
    "Sofia Miguel Lucia Diego Valentina Ahmed Fatima Omar Aisha Youssef Layla Hassan Mariam "
    "Kwame Ama Thabo Nomvula Sipho Zanele Chinedu Ngozi Maricel Jerome Rowena Arnel Liza Jun "
    "Wei Mei Hiroshi Yuki Min-jun Seo-yeon Olga Ivan Anna Piotr Katarzyna Liam Chloe Noah"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen "
    "Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Sharma "
    "Patel Singh Kumar Gupta Reddy Iyer Nair Mehta Joshi Rao Das Chatterjee Kapoor Khan Ali "
    "Hussain Haddad Mansour Farouk Nasser Okafor Mensah Dlamini Nkosi Mokoena Adeyemi Santos "
    "Reyes Cruz Bautista Dela Cruz Villanueva Mendoza Aquino Ramos Tan Lim Chen Wang Li Zhang "
    "Tanaka Sato Kim Park Novak Kowalski Ivanova Petrov O'Brien Murphy Kelly Byrne"
).split()

ROLE_WEIGHTS = (
    ("Agent", 52), ("Senior Agent", 14), ("Team Lead", 7), ("Quality Analyst", 9),
    ("Supervisor", 4), ("Manager", 3), ("Admin", 2), (None, 4), ("", 5),
)
AGENT_ROLES = {"Agent", "Senior Agent", None, ""}
AUDITOR_ROLES = {"Quality Analyst", "Team Lead", "Supervisor"}
SUPERVISOR_ROLES = {"Team Lead", "Supervisor", "Manager"}

DESIGNATIONS = {
    "Agent": ("Customer Support Executive", "Customer Care Associate", "Support Specialist", "CSE"),
    "Senior Agent": ("Senior Customer Support Executive", "Senior CSE", "Senior Support Specialist"),
    "Team Lead": ("Team Leader", "Team Lead - Support", "TL"),
    "Quality Analyst": ("Quality Analyst", "QA Analyst", "Senior Quality Analyst", "Quality Coach"),
    "Supervisor": ("Operations Supervisor", "Shift Supervisor"),
    "Manager": ("Operations Manager", "Quality Manager", "Support Manager"),
    "Admin": ("System Administrator", "WFM Analyst", "CQMS Admin"),
    None: ("Customer Support Executive", "Associate"),
    "": ("Customer Support Executive", "Trainee"),
}
DEPARTMENTS = (
    ("Customer Support", 45), ("Technical Support", 15), ("Billing", 10), ("Quality Assurance", 10),
    ("Operations", 8), ("Retention", 5), ("Sales", 4), (None, 5), ("", 2),
)
CHANNELS = (("Email", 30), ("Chat", 30), ("Phone", 22), ("Social", 10), ("", 4), (None, 4))
TEAMS = (
    "Team Alpha", "Team Bravo", "Team Phoenix", "Team Falcon", "Team Orion", "Team Titan",
    "Night Shift", "Weekend Crew", "Escalations", "Billing Squad", "VIP Desk", "Onboarding",
)
COUNTRIES = (
    ("IN", 30), ("PH", 22), ("US", 12), ("GB", 6), ("ZA", 6), ("EG", 5), ("MX", 4), ("PK", 3),
    ("CO", 2), ("KE", 2), ("", 3), (None, 2), ("India", 1), ("uk", 1), ("Philippines", 1),
)
OTHER_DOMAINS = (
    ("expresscqms.com", 90), ("express-cqms.co.uk", 4), ("expresscqms.in", 4), ("gmail.com", 2),
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

# Rates (see module docstring for what they mean).
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


# --------------------------------------------------------------------------------------------
# People and users
# --------------------------------------------------------------------------------------------

class _Person:
    __slots__ = ("first", "last", "name", "email", "role", "valid", "user_email", "variants",
                 "exact_opts", "alias", "row")

    def __init__(self, first, last, email, role):
        self.first, self.last = first, last
        self.name = f"{first} {last}"
        self.email = email
        self.role = role
        self.valid = True
        self.user_email = None
        self.variants: tuple = ()
        self.exact_opts: tuple = (email,)
        self.alias = None
        self.row: list = []


def _department(r: Random, role) -> str | None:
    if role == "Quality Analyst" and r.random() < 0.7:
        return "Quality Assurance"
    dept = _weighted(r, DEPARTMENTS)
    if dept == "Quality Assurance" and role != "Quality Analyst":
        return "Customer Support"
    return dept


def _email_local(first: str, last: str) -> str:
    return f"{first}.{last}".lower().replace(" ", "").replace("'", "")


def _case_variants(email: str) -> list[str]:
    local, _, domain = email.partition("@")
    parts = local.split(".")
    title = ".".join(p[:1].upper() + p[1:] for p in parts) + "@" + domain
    return [title, email.upper(), local + "@" + domain.capitalize(), email[:1].upper() + email[1:]]


class _World:
    """Everything about people/users the audit and assignment builders need."""

    def __init__(self, seed: int, n_people: int):
        self.rng = _rng(seed, "people")
        self.n_people = n_people
        self.used_norm: set[str] = set()   # normalized emails that exist in people or users
        self.persons: list[_Person] = []
        self.people_rows: list[list] = []
        self.users_rows: list[tuple] = []
        self.auth_rows: list[tuple] = []
        self.extra_users: list[_Person] = []
        self.counts: dict[str, int] = {}

    # -- names -------------------------------------------------------------------------------
    def _fresh_email(self, first: str, last: str, domain: str) -> str:
        base = _email_local(first, last)
        local, k = base, 1
        while f"{local}@{domain}" in self.used_norm:
            k += 1
            local = f"{base}{k}"
        email = f"{local}@{domain}"
        self.used_norm.add(email)
        return email

    def _name(self) -> tuple[str, str]:
        r = self.rng
        return FIRST_NAMES[int(r.random() * len(FIRST_NAMES))], LAST_NAMES[int(r.random() * len(LAST_NAMES))]

    # -- build -------------------------------------------------------------------------------
    def build(self) -> None:
        r = self.rng
        n = self.n_people
        roles = _quota(n, ROLE_WEIGHTS)
        r.shuffle(roles)
        # make sure every pool the generator draws from is non-empty
        needed = ("Quality Analyst", "Team Lead", "Agent")
        for i, role in enumerate(needed):
            if role not in roles and i < n:
                roles[i] = role
        for i in range(n):
            first, last = self._name()
            domain = _weighted(r, OTHER_DOMAINS)
            email = self._fresh_email(first, last, domain)
            self.persons.append(_Person(first, last, email, roles[i]))

        self._invalidate_some()
        self._people_rows()
        self._users()
        self._exact_and_variants()
        self._supervisors()
        self._duplicates()

    def _invalidate_some(self) -> None:
        r = self.rng
        n_invalid = max(1, round(self.n_people * INVALID_EMAIL_RATE)) if self.n_people >= 20 else 0
        candidates = [p for p in self.persons if p.role in AGENT_ROLES]
        chosen = r.sample(candidates, min(n_invalid, len(candidates)))
        forms = (
            lambda l, d: f"{l}@{d.rsplit('.', 1)[0]}",          # missing TLD
            lambda l, d: f"{l.replace('.', ' ', 1)}@{d}",       # space inside
            lambda l, d: f"{l}@@{d}",                           # double @
            lambda l, d: f"{l}.{d}",                            # no @ at all
            lambda l, d: f"{l}@{d.rsplit('.', 1)[0]}.c",      # one-letter TLD
        )
        for i, p in enumerate(chosen):
            local, _, domain = p.email.partition("@")
            self.used_norm.discard(p.email)
            bad = forms[i % len(forms)](local, domain)
            assert not _valid(bad)
            p.email = bad
            p.exact_opts = (bad,)
            p.valid = False
            self.used_norm.add(_norm(bad))
        self.counts["invalid_emails"] = len(chosen)

    def _people_rows(self) -> None:
        r = self.rng
        for idx, p in enumerate(self.persons):
            role = p.role
            designation = None if r.random() < 0.12 else r.choice(DESIGNATIONS[role])
            emp_id = None if r.random() < 0.01 else f"EMP{idx * 7 + 101:05d}"
            last_login_t = None
            if r.random() > 0.10:
                last_login_t = _epoch(date(2024, 1, 1), int(r.random() * 730 * 86400))
            p.alias = None if r.random() < 0.30 else f"{p.first} {p.last[:1]}."
            avatar = None if r.random() < 0.40 else f"https://cdn.expresscqms.com/avatars/{r.getrandbits(64):016x}.png"
            is_active = True if r.random() < 0.9 else (False if r.random() < 0.9 else None)
            p.row = [
                p.email, p.name if r.random() > 0.01 else None, role,
                _department(r, role),
                designation, emp_id, _weighted(r, CHANNELS),
                None if r.random() < 0.08 else TEAMS[int(r.random() * len(TEAMS))],
                None, None,  # supervisor / mentor, filled later
                _weighted(r, COUNTRIES), is_active,
                _dt(last_login_t) if last_login_t is not None else None,
                None if last_login_t is None else int(r.random() * 900) + 1,
                avatar, p.alias,
            ]
        # a few employee ids duplicated across different persons (re-used badge numbers)
        with_ids = [p for p in self.persons if p.row[5] is not None]
        n_dup_ids = max(1, round(len(with_ids) * 0.005)) if len(with_ids) >= 4 else 0
        for _ in range(n_dup_ids):
            a, b = r.sample(with_ids, 2)
            b.row[5] = a.row[5]

    def _users(self) -> None:
        r = self.rng
        valid = [p for p in self.persons if p.valid]
        n_users = round(len(valid) * USER_SHARE)
        chosen = set(id(p) for p in r.sample(valid, n_users))
        case_variant_users = 0
        for p in self.persons:
            if id(p) not in chosen:
                continue
            email = p.email
            if r.random() < 0.10:
                email = _case_variants(p.email)[0]
                if email == p.email:
                    email = p.email.upper()
                case_variant_users += 1
            p.user_email = email
        n_extra = max(1, round(n_users * USERS_WITHOUT_PEOPLE_SHARE / (1 - USERS_WITHOUT_PEOPLE_SHARE)))
        service = ("admin", "cqms.admin", "qa.bot", "it.support", "wfm.reports", "ops.director")
        for i in range(n_extra):
            if i < len(service) and r.random() < 0.5:
                email = f"{service[i]}@{MAIN_DOMAIN}"
                if email in self.used_norm:
                    continue
                self.used_norm.add(email)
                p = _Person(service[i].replace(".", " ").title(), "", email, "Admin")
                p.name = service[i].replace(".", " ").title()
            else:
                first, last = self._name()
                email = self._fresh_email(first, last, MAIN_DOMAIN)
                p = _Person(first, last, email, None)
            p.user_email = email
            self.extra_users.append(p)
        # rows
        for p in [*self.persons, *self.extra_users]:
            if p.user_email is None:
                continue
            uid = _uuid(r)
            created = _epoch(date(2022, 6, 1), int(r.random() * 900 * 86400))
            last_sign = None if r.random() < 0.08 else created + int(r.random() * 400 * 86400)
            full_name = None if r.random() < 0.03 else p.name
            avatar = None if r.random() < 0.3 else f"https://lh3.googleusercontent.com/a/{r.getrandbits(96):024x}"
            provider = _weighted(r, (("google", 70), ("email", 25), ("azure", 5)))
            device = None if r.random() < 0.3 else json.dumps({
                "browser": _weighted(r, (("Chrome", 70), ("Edge", 15), ("Firefox", 10), ("Safari", 5))),
                "os": _weighted(r, (("Windows 11", 50), ("Windows 10", 30), ("macOS", 15), ("Linux", 5))),
                "device": "desktop" if r.random() < 0.9 else "mobile",
            })
            prefs = None if r.random() < 0.4 else json.dumps({
                "email": r.random() < 0.8, "in_app": True,
                "digest": _weighted(r, (("daily", 50), ("weekly", 30), ("never", 20))),
            })
            self.users_rows.append((
                uid, p.user_email, full_name, avatar, provider,
                _dt(last_sign) if last_sign else None,
                int(r.random() * 500) if last_sign else 0, device, prefs,
                _dt(created), _dt(created + int(r.random() * 200 * 86400)),
            ))
            meta = {"full_name": p.name, "provider": provider}
            if avatar:
                meta["avatar_url"] = avatar
            self.auth_rows.append((
                uid, p.user_email, _dt(created), _dt(last_sign) if last_sign else None,
                json.dumps(meta), "authenticated", "authenticated",
                _dt(last_sign) if last_sign else _dt(created),
            ))
        self.counts["users_case_variant_of_people"] = case_variant_users
        self.counts["users_without_people"] = len(self.extra_users)
        self.counts["people_without_users"] = sum(1 for p in self.persons if p.user_email is None)
        self.counts["users_null_full_name"] = sum(1 for u in self.users_rows if u[2] is None)

    def _exact_and_variants(self) -> None:
        """Exact strings present in people/users, and per person variants that match only normalized.

        Duplicate people rows (added later) also put strings in ``exact``; they are pre-planned
        here so a variant never collides with one of them.
        """
        r = self.rng
        # DUPLICATE_PEOPLE_RATE of the final people rows are extra (duplicate) rows
        n_dup = max(1, round(self.n_people * DUPLICATE_PEOPLE_RATE / (1 - DUPLICATE_PEOPLE_RATE)))
        valid = [p for p in self.persons if p.valid]
        self.dup_plan = []
        kinds = ("case", "space", "exact")
        for i, p in enumerate(r.sample(valid, min(n_dup, len(valid)))):
            kind = kinds[i % 3] if i < 3 else _weighted(r, (("case", 40), ("space", 30), ("exact", 30)))
            if kind == "case":
                email = _case_variants(p.email)[1]  # upper-case whole address
            elif kind == "space":
                email = (" " if r.random() < 0.5 else "") + p.email + " "
            else:
                email = p.email
            self.dup_plan.append((p, kind, email))
        exact = {p.email for p in self.persons}
        exact |= {p.user_email for p in (*self.persons, *self.extra_users) if p.user_email}
        exact |= {e for _, _, e in self.dup_plan}
        self.exact = exact
        person_ids = {id(p) for p in self.persons}
        for p in (*self.persons, *self.extra_users):
            base = p.email
            cands = _case_variants(base) + [" " + base, base + " ", " " + base + " ", base + "  "]
            p.variants = tuple(v for v in dict.fromkeys(cands) if v not in exact and _norm(v) == _norm(base))
            opts = [p.email] if id(p) in person_ids else []
            if p.user_email and p.user_email != p.email:
                opts.append(p.user_email)
            elif p.user_email and not opts:
                opts.append(p.user_email)
            p.exact_opts = tuple(opts)

    def orphan_email(self, kind: str, k: int) -> str:
        """Deterministic emails that match nobody, even normalized."""
        if kind == "employee":
            forms = ("former.agent{k}@expresscqms.com", "temp.agent{k}@expresscqms.com",
                     "{first}.{last}@bpo-partner.com", "{first}.{last}@expresscqms.com")
        elif kind == "auditor":
            forms = ("former.qa{k}@expresscqms.com", "qa.contractor{k}@auditpros.io",
                     "{first}.{last}.qa@expresscqms.com")
        else:
            forms = ("old.lead{k}@expresscqms.com", "{first}.{last}.tl@expresscqms.com")
        rr = Random(f"orphan:{kind}:{k}")
        first, last = FIRST_NAMES[rr.randrange(len(FIRST_NAMES))], LAST_NAMES[rr.randrange(len(LAST_NAMES))]
        form = forms[k % len(forms)]
        first_l, last_l = _email_local(first, last).split(".", 1)
        email = form.format(k=k, first=first_l, last=last_l)
        while _norm(email) in self.used_norm:
            email = "x" + email
        return email

    def _supervisors(self) -> None:
        r = self.rng
        sups = [p for p in self.persons if p.role in SUPERVISOR_ROLES] or self.persons[:1]
        mentors = [p for p in self.persons if p.role == "Quality Analyst"] or self.persons[:1]
        orphan_k = 0
        self.counts["people_self_references"] = 0
        self.counts["people_orphan_refs"] = 0
        self.counts["people_variant_refs"] = 0

        def ref(pool, me):
            nonlocal orphan_k
            x = r.random()
            if x < 0.06:
                return None if r.random() < 0.6 else ""
            if x < 0.075:
                self.counts["people_self_references"] += 1
                return me.email
            if x < 0.10:
                orphan_k += 1
                self.counts["people_orphan_refs"] += 1
                return self.orphan_email("lead", orphan_k)
            target = pool[int(r.random() * len(pool))]
            if x < 0.16 and target.variants:
                self.counts["people_variant_refs"] += 1
                return target.variants[int(r.random() * len(target.variants))]
            return target.exact_opts[0] if target.exact_opts else target.email

        for p in self.persons:
            p.row[8] = ref(sups, p)
            p.row[9] = ref(mentors, p)
        # a couple of 2-cycles between supervisors (A reports to B, B reports to A)
        pairs = 0
        if len(sups) >= 4:
            a, b, c, d = r.sample(sups, 4)
            for x, y in ((a, b), (c, d)):
                x.row[8], y.row[8] = y.email, x.email
                pairs += 1
        self.counts["supervisor_two_cycles"] = pairs
        self.counts["people_self_references"] = sum(
            (p.row[8] == p.email) + (p.row[9] == p.email) for p in self.persons)

    def _duplicates(self) -> None:
        r = self.rng
        rows = [p.row for p in self.persons]
        for p, kind, email in self.dup_plan:
            row = list(p.row)
            row[0] = email
            if r.random() < 0.6 and row[12] is not None:          # newer last login
                row[12] = row[12] + timedelta(days=int(r.random() * 60) + 1)
                row[13] = (row[13] or 0) + int(r.random() * 40) + 1
            if r.random() < 0.3:
                row[7] = TEAMS[int(r.random() * len(TEAMS))]
            if r.random() < 0.2:
                row[2] = "Senior Agent" if row[2] == "Agent" else row[2]
            pos = rows.index(p.row) + 1
            rows.insert(pos + int(r.random() * (len(rows) - pos + 1)), row)
        self.people_rows = rows
        self.counts["duplicate_people_rows"] = len(self.dup_plan)


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


# --------------------------------------------------------------------------------------------
# Email references (audits and assignments)
# --------------------------------------------------------------------------------------------

class _RefPicker:
    def __init__(self, world: _World):
        persons = world.persons
        emp = [p for p in persons if p.role in AGENT_ROLES]
        aud = [p for p in persons if p.role in AUDITOR_ROLES]
        admins = [p for p in world.extra_users if p.role == "Admin"]
        self.emp = [(p.exact_opts or (p.email,), p.variants or p.exact_opts, p.name, p.alias) for p in emp]
        self.aud = [(p.exact_opts or (p.email,), p.variants or p.exact_opts, p.name, p.alias)
                    for p in aud + admins]
        n_orph_e = max(8, len(emp) // 8)
        n_orph_a = max(4, len(aud) // 6)
        self.orph_emp = [world.orphan_email("employee", k) for k in range(1, n_orph_e + 1)]
        self.orph_aud = [world.orphan_email("auditor", k) for k in range(1, n_orph_a + 1)]

    @staticmethod
    def name_from_email(email: str) -> str:
        local = email.strip().split("@")[0]
        return " ".join(w.capitalize() for w in re.split(r"[._]", local) if w and not w.isdigit())


# --------------------------------------------------------------------------------------------
# Main entry point
# --------------------------------------------------------------------------------------------

def seed_legacy(owner_conn, admin_conn, *, audits: int = 100_000, scorecards: int = 20,
                people: int = 400, seed: int = 42, progress: Progress | None = None) -> dict:
    """Create and fill the legacy schema; return a report of row counts and injected anomalies.

    owner_conn: connection as the (non-superuser) role that will own the legacy tables.
    admin_conn: superuser connection to the same database, used only to insert auth.users rows.
    Both connections are committed on success. Refuses (LegacyShapeError) to seed over an
    existing public.users / public.people / public.scorecards.
    """
    if audits < 0 or people < 10:
        raise ValueError("seed_legacy needs audits >= 0 and people >= 10")
    for name in ("users", "people", "scorecards"):
        found = owner_conn.execute("SELECT to_regclass(%s)", (f"public.{name}",)).fetchone()[0]
        if found is not None:
            raise LegacyShapeError(
                f"public.{name} already exists in database {owner_conn.info.dbname!r}: "
                "seed_legacy refuses to seed over existing data; use a fresh database")
    report = {"tables": {}, "anomalies": {},
              "params": {"audits": audits, "scorecards": scorecards, "people": people, "seed": seed}}
    notify = progress or (lambda stage, done, total: None)
    clock = _Clock()

    world = _World(seed, people)
    world.build()
    cards, param_rows = _plan_scorecards(seed, scorecards)

    # auth.users first (superuser), committed so that public.users can reference it.
    with admin_conn.transaction():
        with admin_conn.cursor() as cur:
            with cur.copy("COPY auth.users (id, email, created_at, last_sign_in_at, raw_user_meta_data, "
                          "aud, role, updated_at) FROM STDIN") as cp:
                for row in world.auth_rows:
                    cp.write_row(row)
    if not admin_conn.autocommit:
        admin_conn.commit()
    report["tables"]["auth.users"] = len(world.auth_rows)
    notify("auth.users", len(world.auth_rows), len(world.auth_rows))

    try:
        with owner_conn.transaction():
            _load(owner_conn, world, cards, param_rows, clock, audits, seed, report, notify)
        if not owner_conn.autocommit:
            owner_conn.commit()
    except BaseException:
        try:  # the owner's work was rolled back by transaction(); undo the auth.users rows too
            with admin_conn.transaction():
                admin_conn.execute("DELETE FROM auth.users WHERE id = ANY(%s)",
                                   ([row[0] for row in world.auth_rows],))
            if not admin_conn.autocommit:
                admin_conn.commit()
        except Exception:
            pass
        raise
    return report


def _copy_rows(conn, table: str, columns: list[str], rows, *, freeze: bool = False) -> int:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier("public", table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(" WITH (FREEZE)") if freeze else sql.SQL(""))
    n = 0
    with conn.cursor() as cur, cur.copy(stmt) as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def _load(conn, world: _World, cards: list[_Card], param_rows, clock: _Clock, audits: int,
          seed: int, report: dict, notify: Progress) -> None:
    t_report = report["tables"]
    anomalies = report["anomalies"]
    conn.execute(SCHEMA_FILE.read_text())

    # -- people / users / scorecards / parameters -----------------------------------------------
    people_cols = ["email", "name", "role", "department", "designation", "employee_id", "channel",
                   "team", "team_supervisor", "quality_mentor", "country", "is_active", "last_login",
                   "login_count", "avatar_url", "intercom_admin_alias"]
    t_report["people"] = _copy_rows(conn, "people", people_cols, world.people_rows, freeze=True)
    notify("people", t_report["people"], t_report["people"])
    users_cols = ["id", "email", "full_name", "avatar_url", "provider", "last_sign_in_at",
                  "sign_in_count", "device_info", "notification_preferences", "created_at", "updated_at"]
    t_report["users"] = _copy_rows(conn, "users", users_cols, world.users_rows, freeze=True)
    notify("users", t_report["users"], t_report["users"])
    card_cols = ["id", "name", "description", "table_name", "passing_threshold", "scoring_type",
                 "channels", "is_active", "version", "parent_scorecard_id", "allow_over_100",
                 "max_bonus_points", "created_at"]
    t_report["scorecards"] = _copy_rows(conn, "scorecards", card_cols, [c.row for c in cards], freeze=True)
    param_cols = ["id", "scorecard_id", "error_name", "penalty_points", "parameter_type", "field_type",
                  "field_id", "enable_ai_audit", "prompt", "is_fail_all", "requires_feedback",
                  "display_order", "is_active"]
    t_report["scorecard_perameters"] = _copy_rows(conn, "scorecard_perameters", param_cols, param_rows,
                                                  freeze=True)
    notify("scorecards", len(cards), len(cards))

    # -- dynamic audit tables -----------------------------------------------------------------
    counts = _split(audits, cards)
    total_assign = max(50, audits // 5)
    n_link_target = min(round(total_assign * LINKED_ASSIGNMENT_SHARE), audits)
    p_link = n_link_target / audits if audits else 0.0
    picker = _RefPicker(world)
    transcripts = _transcript_pool(seed)
    stats = {"orphan_rows": 0, "variant_refs": 0, "self_audits": 0, "null_dates": 0, "over": 0,
             "end_before_start": 0, "spellings": {}, "null_channel": 0, "null_transcript": 0,
             "orphan_refs": 0}
    links: list[tuple] = []
    done = 0
    for card, n_rows in zip(cards, counts):
        _create_audit_table(conn, card)
        if n_rows:
            rng = _rng(seed, f"audits:{card.idx}")
            rows = _audit_rows(rng, card, n_rows, picker, transcripts, clock, stats, links, p_link)
            cols = [name for name, _ in COMMON_COLUMNS
                    if not (card.no_reversal and name in REVERSAL_COLUMNS)] + [n for n, _ in card.columns]
            stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FREEZE)").format(
                sql.Identifier("public", card.table), sql.SQL(", ").join(map(sql.Identifier, cols)))
            with conn.cursor() as cur, cur.copy(stmt) as cp:
                write = cp.write_row
                for k, row in enumerate(rows, start=1):
                    write(row)
                    if k % 50_000 == 0:
                        notify("audits", done + k, audits)
            done += n_rows
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(
            sql.Identifier("public", card.table)))
        t_report[card.table] = n_rows
        notify("audits", done, audits)

    # -- assignments ----------------------------------------------------------------------------
    assign_rows, a_stats = _assignments(_rng(seed, "assignments"), world, cards, picker,
                                        links, total_assign)
    asg_cols = ["id", "employee_email", "employee_name", "auditor_email", "scorecard_id", "status",
                "scheduled_date", "week", "completed_at", "audit_id", "conversation_id",
                "intercom_alias", "source_type", "assigned_by", "created_at"]
    t_report["audit_assignments"] = _copy_rows(conn, "audit_assignments", asg_cols, assign_rows, freeze=True)
    notify("audit_assignments", len(assign_rows), len(assign_rows))

    for table in ["users", "people", "scorecards", "scorecard_perameters", "audit_assignments",
                  *(c.table for c in cards)]:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier("public", table)))
    notify("analyze", 1, 1)

    # -- report ---------------------------------------------------------------------------------
    wc = world.counts
    anomalies.update({
        "orphan_audit_rows": stats["orphan_rows"],
        "orphan_assignments": a_stats["orphan_rows"],
        "duplicate_people_rows": wc["duplicate_people_rows"],
        "case_or_whitespace_variant_refs": stats["variant_refs"] + a_stats["variant_refs"],
        "users_without_people": wc["users_without_people"],
        "people_without_users": wc["people_without_users"],
        "self_audits": stats["self_audits"],
        "over_100_scores": stats["over"],
        "unmapped_passing_status": stats["spellings"].get(UNMAPPED_STATUS, 0),
        "null_passing_status": stats["spellings"].get(None, 0),
        "null_interaction_dates": stats["null_dates"],
        "null_channels": stats["null_channel"],
        "null_transcripts": stats["null_transcript"],
        "audit_end_before_start": stats["end_before_start"],
        "invalid_emails": wc["invalid_emails"],
        "empty_audit_tables": sum(1 for n in counts if n == 0),
        "quoted_parameter_columns": 1,
        "columns_without_parameter": 1,
        "parameters_without_column": 1,
        "tables_missing_common_columns": 1,
        "users_case_variant_of_people": wc["users_case_variant_of_people"],
        "users_null_full_name": wc["users_null_full_name"],
        "people_orphan_refs": wc["people_orphan_refs"],
        "people_variant_refs": wc["people_variant_refs"],
        "people_self_references": wc["people_self_references"],
        "supervisor_two_cycles": wc["supervisor_two_cycles"],
    })
    report["passing_status_spellings"] = {
        ("NULL" if k is None else k): v for k, v in sorted(stats["spellings"].items(), key=lambda kv: str(kv[0]))}
    report["rates"] = _rates(world, stats, a_stats, audits, len(assign_rows))


def _rates(world: _World, stats: dict, a_stats: dict, audits: int, n_assign: int) -> dict:
    """The customer's data-quality measures, as injected (see the lead's checks for SQL twins)."""
    people_refs = [v for row in world.people_rows for v in (row[8], row[9]) if v not in (None, "")]
    exact = world.exact
    refs = 2 * audits + 2 * n_assign + len(people_refs)
    bad = (stats["orphan_refs"] + stats["variant_refs"] + a_stats["orphan_refs"] + a_stats["variant_refs"]
           + sum(1 for v in people_refs if v not in exact))
    cells = [v for row in world.people_rows for v in row]
    return {
        "referential_integrity": round(1 - bad / refs, 4) if refs else 1.0,
        "orphaned_records": round(stats["orphan_rows"] / audits, 4) if audits else 0.0,
        "duplicate_people": round(world.counts["duplicate_people_rows"] / len(world.people_rows), 4),
        "people_completeness": round(sum(1 for v in cells if v not in (None, "")) / len(cells), 4),
    }


def _create_audit_table(conn, card: _Card) -> None:
    parts = []
    for name, typ in COMMON_COLUMNS:
        if card.no_reversal and name in REVERSAL_COLUMNS:
            continue
        parts.append(sql.SQL("{} " + typ).format(sql.Identifier(name)))
    for name, _ in card.columns:
        parts.append(sql.SQL("{} integer").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier("public", card.table), sql.SQL(", ").join(parts)))


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
