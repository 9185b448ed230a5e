"""load_reference_data: roles and the role mapping from params, reference rows from the legacy
values."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...steps import Rendered, compose
from .shaped import ShapedSqlStep, template

@dataclass
class LoadReferenceData(ShapedSqlStep):
    """Roles and the role mapping come from params (templates/, filled with literals: the ledger
    records exactly what ran), then the reference rows from the legacy values (deploy/). Deploy
    and verify read one snapshot: a department a writer adds between them is the sync's to create
    (p01_apply), not a failed verify (a rehearsal under load failed here once)."""

    one_snapshot: bool = True

    def render_deploy(self, ctx) -> Rendered:
        conn, p = ctx.conn, ctx.params
        stmts = [compose(conn, template("insert_role").format(
            name=sql.Literal(r.name), code=sql.Literal(r.code), level=sql.Literal(r.level),
            access_level=sql.Literal(r.access_level))) for r in p.roles]
        mapping = role_mapping(p)
        mapping["*default*"] = p.default_role
        stmts += [compose(conn, template("insert_role_mapping").format(legacy_role=sql.Literal(legacy),
                                                                       role_code=sql.Literal(code)))
                  for legacy, code in sorted(mapping.items())]
        stmts += [compose(conn, template("insert_country_map").format(legacy=sql.Literal(legacy), code=sql.Literal(code)))
                  for legacy, code in sorted(p.country_map.items())]
        return Rendered(stmts + super().render_deploy(ctx).statements)


def role_mapping(p) -> dict[str, str]:
    """legacy role key (vocab.key) -> role code: params' role_mapping, and every role's own name
    and code (a blank role takes default_role; any other spelling not here is unmapped)."""
    from ... import vocab
    mapping = dict(p.role_mapping)
    for r in p.roles:
        mapping.setdefault(vocab.key(r.name), r.code)
        mapping.setdefault(vocab.key(r.code), r.code)
    return mapping
