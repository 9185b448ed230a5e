"""Deterministic generator of a realistic, messy legacy "Express CQMS" database.

``seed_legacy`` creates the legacy schema (schema.sql) plus one dynamic ``*_audit`` table per
scorecard, and streams every row in with COPY. Same ``seed`` and sizes => same rows and UUIDs.

Each section (people, users, scorecards, audits, assignments) draws from its own
``random.Random`` seeded from ``f"cqms-legacy:{seed}:{section}"``, so e.g. changing ``audits`` does not
change the people. Nothing depends on set/dict iteration order of hashed strings.

Anomaly counts in the report are counted while the rows are built (by construction), using the
same definitions a checker would use in SQL:

* exact match   = the reference string equals some ``users.email`` or ``people.email`` as stored;
* normalized    = ``lower(btrim(x))`` equals ``lower(btrim(email))`` of some users/people row;
* orphan ref    = non-null, non-blank reference that does not match even normalized;
* variant ref   = reference that matches only normalized (case or surrounding spaces).

The generator is split by concern into modules of this package:

* ``generator``   - this entry point: ``seed_legacy`` (checks, order of the steps, commit/undo);
* ``common``      - the anomaly rates, the date range, the per-section random streams (``_rng``)
  and small helpers (UUIDs, email normalization, weighted picks, ``_Clock`` timestamps);
* ``world``       - the people/users world: reference names and roles, people rows, users and
  auth.users rows, invalid emails, duplicates, supervisor/mentor references, exact strings and
  variants per person, orphan emails, and ``_RefPicker`` (email references for audits and
  assignments);
* ``scorecards``  - scorecards and their parameters (``_plan_scorecards``), the split of audit
  rows between tables (``_split``) and the pre-built parameter vectors (``_vector_pool``);
* ``audits``      - the common audit-table columns, the transcript pool and the audit rows
  (``_audit_rows``);
* ``assignments`` - the ``audit_assignments`` rows (``_assignments``);
* ``load``        - COPY helpers, auth.users writes, audit-table creation, ``_load`` (schema,
  tables, ANALYZE, report) and ``_rates``; the static schema is ``schema.sql``.
"""

from __future__ import annotations

from ..errors import LegacyShapeError
from .common import Progress, _Clock
from .load import _copy_auth_users, _delete_auth_users, _load
from .scorecards import _plan_scorecards
from .world import _World

__all__ = ["seed_legacy"]


def seed_legacy(owner_conn, admin_conn, *, audits: int = 100_000, scorecards: int = 20,
                people: int = 400, seed: int = 42, progress: Progress | None = None, drift: bool = False,
                auth_helpers: bool = True) -> dict:
    """Create and fill the legacy schema; return a report of row counts and injected anomalies.

    owner_conn: connection as the (non-superuser) role that will own the legacy tables.
    admin_conn: superuser connection to the same database, used only to insert auth.users rows.
    drift: then give it the shapes an independently built database has (legacy/drift.py).
    auth_helpers: False drops auth.uid()/jwt()/role(): a database that is not a Supabase project's.
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
    _copy_auth_users(admin_conn, world)
    report["tables"]["auth.users"] = len(world.auth_rows)
    notify("auth.users", len(world.auth_rows), len(world.auth_rows))

    try:
        with owner_conn.transaction():
            _load(owner_conn, world, cards, param_rows, clock, audits, seed, report, notify)
        if not owner_conn.autocommit:
            owner_conn.commit()
    except BaseException:
        try:  # the owner's work was rolled back by transaction(); undo the auth.users rows too
            _delete_auth_users(admin_conn, world)
        except Exception:
            pass
        raise
    if drift:
        from .drift import apply_drift
        report["drift"] = apply_drift(owner_conn)
        if not owner_conn.autocommit:
            owner_conn.commit()
    if not auth_helpers:
        from .drift import remove_auth_helpers
        remove_auth_helpers(admin_conn)
        report["auth helpers"] = "removed: auth.uid(), auth.jwt(), auth.role()"
    return report
