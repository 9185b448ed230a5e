"""Steps every phase can use: the checksum of the legacy tables before a phase (compared after
its revert) and the feature-flag switch. Their SQL is in sql/templates/, and what they render is
what they execute."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from . import inventory
from .db import end_read
from .paths import SQL_DIR
from .steps import Rendered, Step, compose

TEMPLATES = SQL_DIR / "templates"


def template(name: str) -> sql.SQL:
    """A shared SQL template (sql/templates/<name>.sql), filled through psycopg.sql.format."""
    return sql.SQL((TEMPLATES / f"{name}.sql").read_text())


@dataclass
class SnapshotLegacy(Step):
    """Checksums of every legacy table, taken before anything else; the rollback compares them."""

    def render_deploy(self, ctx) -> Rendered:
        tables = inventory.discover(ctx.conn, with_counts=False).legacy_table_names()
        phase = sql.Literal(self.phase)
        return Rendered([compose(ctx.conn, template("forget_checksums").format(phase=phase))] + [
            compose(ctx.conn, template("snapshot_checksum").format(
                phase=phase, table_name=sql.Literal(t), table=sql.Identifier("public", t))) for t in tables])

    def render_revert(self, ctx) -> Rendered:
        # the rollback compared them before reverting (legacy_unchanged); forget them now
        return Rendered([compose(ctx.conn, template("forget_checksums").format(phase=sql.Literal(self.phase)))])


@dataclass
class FlagStep(Step):
    """Turns a feature flag on (deploy) or off (revert)."""

    flag: str = ""

    def _render(self, ctx, enabled: bool) -> Rendered:
        return Rendered([compose(ctx.conn, template("set_flag").format(enabled=sql.Literal(enabled),
                                                                       flag=sql.Literal(self.flag)))])

    def render_deploy(self, ctx) -> Rendered:
        return self._render(ctx, True)

    def render_revert(self, ctx) -> Rendered:
        return self._render(ctx, False)

    def after_revert_committed(self, ctx) -> None:
        # the application reads the flag now and then: give it params.flag_propagation_s to
        # switch back to the legacy path before the next revert step fences the unified tables
        wait = ctx.params.flag_propagation_s
        if wait and not ctx.dry_run:
            ctx.log(f"{self.flag} is off: waiting {wait:g}s for the application to switch to the legacy tables")
            import time
            time.sleep(wait)


def table_checksum(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    rows, checksum = conn.execute(template("checksum").format(table=sql.Identifier("public", table))).fetchone()
    return rows, checksum


def saved_checksums(conn: psycopg.Connection, phase: str) -> pd.DataFrame:
    if not conn.execute("SELECT to_regclass('cqms_migration.legacy_checksums') IS NOT NULL").fetchone()[0]:
        return pd.DataFrame(columns=["table_name", "row_count", "checksum"])
    cur = conn.execute("SELECT table_name, row_count, checksum FROM cqms_migration.legacy_checksums WHERE phase = %s "
                       "ORDER BY table_name", (phase,))
    df = pd.DataFrame(cur.fetchall(), columns=["table_name", "row_count", "checksum"])
    end_read(conn)
    return df


def legacy_unchanged(conn: psycopg.Connection, checksums: pd.DataFrame) -> pd.DataFrame:
    """Compare the legacy tables now with checksums taken before the phase."""
    rows = []
    for _, r in checksums.iterrows():
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                              (sql.Identifier("public", r["table_name"]).as_string(conn),)).fetchone()[0]
        count, checksum = table_checksum(conn, r["table_name"]) if exists else (None, None)
        rows.append({"table": r["table_name"], "rows before": r["row_count"], "rows now": count,
                     "identical": checksum == r["checksum"] and count == r["row_count"]})
    end_read(conn)
    return pd.DataFrame(rows)


class ComparesLegacyOnRevert:
    """Phase mixin: a phase whose SnapshotLegacy step took checksums of the legacy tables
    compares those tables with them when it is rolled back (the rollback notebook shows it)."""

    def before_revert(self, ctx) -> pd.DataFrame:
        return saved_checksums(ctx.conn, self.name)

    def after_revert(self, ctx, state) -> pd.DataFrame:
        if ctx.dry_run or state is None or state.empty:
            return pd.DataFrame()
        return legacy_unchanged(ctx.conn, state)
