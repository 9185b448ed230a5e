"""What the phase's steps share: its name and flag, users and people as the catalog has them,
SQL files whose placeholders name their columns, and the templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from ... import legacy_shape
from ...db import end_read
from ...steps import Rendered, SqlStep, compose

PHASE = "01_foundation"
FLAG = "USE_UNIFIED_EMPLOYEES_TABLE"
HERE = Path(__file__).resolve().parent


def shapes(ctx) -> dict[str, legacy_shape.TableShape]:
    """users and people as the catalog has them now (legacy_shape)."""
    found = legacy_shape.discover(ctx.conn)
    end_read(ctx.conn)
    return found


@dataclass
class ShapedSqlStep(SqlStep):
    """A step whose SQL files name users and people columns through placeholders
    ({people.p.email}, ...; literal braces doubled), filled from the discovered shape."""

    def _load(self, kind: str, ctx=None) -> Rendered:
        path = self._file(kind)
        if not path.exists():
            return Rendered([])
        found = shapes(ctx)
        return Rendered([compose(ctx.conn, legacy_shape.fill(path.read_text(), found, **self.statements(found)))])

    def statements(self, found: dict[str, legacy_shape.TableShape]) -> dict[str, sql.Composable]:
        """Placeholders composed whole for this step (beyond the column reads)."""
        return {}

    def render_deploy(self, ctx) -> Rendered:
        return self._load("deploy", ctx)

    def render_verify(self, ctx) -> Rendered:
        return self._load("verify", ctx)

    def render_revert(self, ctx) -> Rendered:
        return self._load("revert", ctx)


def template(name: str) -> sql.SQL:
    return sql.SQL((HERE / "templates" / f"{name}.sql").read_text())


def _sql(name: str, summary: str, cls=SqlStep) -> SqlStep:
    return cls(PHASE, name, summary, directory=HERE)
