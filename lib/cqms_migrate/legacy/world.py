"""The people/users "world" of the legacy dataset.

``_World`` builds, from its own ``"people"`` random stream, the people rows (with invalid
emails, re-used employee ids, supervisor/mentor references and duplicate rows), the
``public.users`` and ``auth.users`` rows (with case-variant emails and users without a person),
and for every person the exact strings and the normalized-only variants that audit and
assignment rows may reference. ``_RefPicker`` is the read-only view of the world the audit and
assignment builders draw email references (and orphan emails) from.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from random import Random

from .common import (
    DUPLICATE_PEOPLE_RATE, INVALID_EMAIL_RATE, USER_SHARE, USERS_WITHOUT_PEOPLE_SHARE, _dt,
    _epoch, _norm, _quota, _rng, _uuid, _valid, _weighted,
)

MAIN_DOMAIN = "expresscqms.com"


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
            lambda l, d: f"{l}@{d.split('.', 1)[0]}",           # missing TLD (no dot at all)
            lambda l, d: f"{l[:1]} {l[1:]}@{d}",                # space inside
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
