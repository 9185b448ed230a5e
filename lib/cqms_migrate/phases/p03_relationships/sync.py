"""The forward sync (legacy audit_assignments -> assignments, in the writer's transaction) and the
retries (an employee or an audit that assignments waited for appears): the functions and their
triggers, installed before the backfill."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...ddl import LegacyTableDdl
from ...steps import Rendered, compose
from . import mapping
from .tables import partitioned

TRIGGERS = {"INSERT": "REFERENCING NEW TABLE AS new_rows", "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "DELETE": "REFERENCING OLD TABLE AS old_rows", "TRUNCATE": ""}


def _function(name: str, body: sql.Composable, conn) -> sql.Composed:
    # SECURITY DEFINER (the application's role needs no right on what it writes), a fixed
    # search_path, the body a quoted literal, executable by nobody (a trigger fires regardless)
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION cqms_migration.{name}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS {body};\n"
        "REVOKE ALL ON FUNCTION cqms_migration.{name}() FROM PUBLIC").format(
        name=sql.Identifier(name), body=sql.Literal(body.as_string(conn)))


@dataclass
class SyncTriggers(LegacyTableDdl):
    """Script 1: p03_apply, the sync function and its three statement triggers on the legacy
    table (one transaction: the table is never half-synced). Script 2: the retry triggers on
    employees and audits."""

    def install(self, ctx) -> list[str]:
        conn = ctx.conn
        s = mapping.shape(conn)
        legacy = sql.Identifier("public", mapping.TABLE)
        one = [mapping.apply_function_sql(conn, s, partitioned(ctx)), _function("p03_sync", mapping.sync_body(s), conn)]
        for op, ref in TRIGGERS.items():
            name = sql.Identifier(f"p03_sync_{op.lower()}")
            one.append(sql.SQL("DROP TRIGGER IF EXISTS {name} ON {t}").format(name=name, t=legacy))
            one.append(sql.SQL("CREATE TRIGGER {name} AFTER {op} ON {t} {ref} FOR EACH STATEMENT "
                               "EXECUTE FUNCTION cqms_migration.p03_sync()").format(
                name=name, op=sql.SQL(op), t=legacy, ref=sql.SQL(ref)))
        two = [_function("p03_retry", mapping.retry_body(s), conn),
               sql.SQL("DROP TRIGGER IF EXISTS p03_retry_hire ON public.employees"),
               sql.SQL("CREATE TRIGGER p03_retry_hire AFTER INSERT ON public.employees FOR EACH ROW "
                       "EXECUTE FUNCTION cqms_migration.p03_retry()"),
               sql.SQL("DROP TRIGGER IF EXISTS p03_retry_email ON public.employees"),
               sql.SQL("CREATE TRIGGER p03_retry_email AFTER UPDATE OF email ON public.employees FOR EACH ROW "
                       "WHEN (lower(btrim(OLD.email)) IS DISTINCT FROM lower(btrim(NEW.email))) "
                       "EXECUTE FUNCTION cqms_migration.p03_retry()"),
               sql.SQL("DROP TRIGGER IF EXISTS p03_retry_audit ON public.audits"),
               sql.SQL("CREATE TRIGGER p03_retry_audit AFTER INSERT ON public.audits FOR EACH ROW "
                       "EXECUTE FUNCTION cqms_migration.p03_retry()")]
        return [";\n".join(compose(conn, x) for x in one) + ";\n", ";\n".join(compose(conn, x) for x in two) + ";\n"]

    def remove(self, ctx) -> list[str]:
        legacy = sql.Identifier("public", mapping.TABLE)
        one = [sql.SQL("DROP TRIGGER IF EXISTS p03_retry_audit ON public.audits"),
               sql.SQL("DROP TRIGGER IF EXISTS p03_retry_email ON public.employees"),
               sql.SQL("DROP TRIGGER IF EXISTS p03_retry_hire ON public.employees"),
               sql.SQL("DROP FUNCTION IF EXISTS cqms_migration.p03_retry()")]
        two = [sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(f"p03_sync_{op.lower()}"), legacy)
               for op in TRIGGERS]
        two += [sql.SQL("DROP FUNCTION IF EXISTS cqms_migration.p03_sync()"),
                sql.SQL("DROP FUNCTION IF EXISTS cqms_migration.p03_apply(text[], text)")]
        return [";\n".join(compose(ctx.conn, x) for x in part) + ";\n" for part in (one, two)]

    def render_verify(self, ctx) -> Rendered:
        return Rendered([
            "DO $$ BEGIN\n"
            "  IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.audit_assignments'::regclass\n"
            "      AND tgname IN ('p03_sync_insert', 'p03_sync_update', 'p03_sync_delete', 'p03_sync_truncate')) <> 4\n"
            "     OR (SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname IN ('p03_retry_hire', 'p03_retry_email', 'p03_retry_audit')) <> 3\n"
            "     OR to_regprocedure('cqms_migration.p03_apply(text[], text)') IS NULL THEN\n"
            "    RAISE EXCEPTION 'the assignment sync triggers or p03_apply are missing';\n"
            "  END IF;\n"
            "END $$"])
