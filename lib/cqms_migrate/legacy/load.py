"""Loading the generated rows into PostgreSQL.

``schema.sql`` (next to this module) holds the static legacy tables. ``_copy_auth_users`` and
``_delete_auth_users`` write and undo the ``auth.users`` rows (superuser connection);
``_load`` runs, in the owner's transaction, the schema, the COPY of people / users / scorecards
/ parameters, the creation and COPY of each dynamic audit table, the assignments, ANALYZE and
the report (anomaly counts and ``_rates``, the data-quality measures as injected).
"""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from .assignments import _assignments
from .audits import COMMON_COLUMNS, REVERSAL_COLUMNS, _audit_rows, _transcript_pool
from .common import LINKED_ASSIGNMENT_SHARE, Progress, _Clock, _rng
from .scorecards import UNMAPPED_STATUS, _Card, _split
from .world import _RefPicker, _World

SCHEMA_FILE = Path(__file__).with_name("schema.sql")


def _copy_auth_users(admin_conn, world: _World) -> None:
    """COPY the auth.users rows and commit them, so that public.users can reference them."""
    with admin_conn.transaction():
        with admin_conn.cursor() as cur:
            with cur.copy("COPY auth.users (id, email, created_at, last_sign_in_at, raw_user_meta_data, "
                          "aud, role, updated_at) FROM STDIN") as cp:
                for row in world.auth_rows:
                    cp.write_row(row)
    if not admin_conn.autocommit:
        admin_conn.commit()


def _delete_auth_users(admin_conn, world: _World) -> None:
    """Undo ``_copy_auth_users`` (used when loading the owner's tables failed)."""
    with admin_conn.transaction():
        admin_conn.execute("DELETE FROM auth.users WHERE id = ANY(%s)",
                           ([row[0] for row in world.auth_rows],))
    if not admin_conn.autocommit:
        admin_conn.commit()


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
