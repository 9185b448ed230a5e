"""Phase 3's cutover: assignments written through the API, each write carried to the legacy
audit_assignments in the writer's transaction (the reverse sync), so the application may write
either path until phase 05 and a rollback loses nothing the legacy table can hold.

One step, one transaction (``open_writes``): the guard (which columns each persona may change),
the write policies and grants, and the reverse sync. Its revert fences assignments first (a late
writer gets an error, never a write the rollback would lose), then takes the write path away; the
fence stays until create_assignments' revert drops the table."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ...steps import Rendered, Step, compose
from . import mapping
from .mapping import HERE, TABLE

# legacy meaning -> (its value from the assignments row ``rec``, the assignments columns it comes from)
_EMAIL = "(SELECT e.email FROM public.employees e WHERE e.id = rec.{})"
LEGACY_FROM_UNIFIED: dict[str, tuple[str, tuple[str, ...]]] = {
    "id": ("rec.id", ("id",)),
    "employee_email": (_EMAIL.format("employee_id"), ("employee_id",)),
    "employee_name": ("(SELECT e.name FROM public.employees e WHERE e.id = rec.employee_id)", ("employee_id",)),
    "auditor_email": (_EMAIL.format("auditor_id"), ("auditor_id",)),
    "assigned_by": (_EMAIL.format("assigner_id"), ("assigner_id",)),
    "scorecard_id": ("rec.scorecard_id", ("scorecard_id",)),
    "status": ("rec.status", ("status",)),
    "scheduled_date": ("rec.scheduled_date", ("scheduled_date",)),
    "week": ("rec.week", ("week",)),
    "conversation_id": ("rec.conversation_id", ("conversation_id",)),
    "intercom_alias": ("rec.intercom_alias", ("intercom_alias",)),
    "source_type": ("rec.source_type", ("source_type",)),
    "completed_at": ("rec.completed_at", ("completed_at",)),
    "audit_id": ("rec.audit_id", ("audit_id",)),
    "created_at": ("rec.created_at", ("created_at",)),
}
# what the revert leaves on purpose (the table's revert drops it)
FENCE = ("p03_fence",)


def reverse_sync_body(s) -> sql.Composed:
    present = [c for c in LEGACY_FROM_UNIFIED if s.name(c) is not None]
    writes = {c: s.write(c, sql.SQL(LEGACY_FROM_UNIFIED[c][0])) for c in present}
    sources = sorted({src for c in present for src in LEGACY_FROM_UNIFIED[c][1]})
    updates = []
    for c in present:
        if c == "id":
            continue
        col, value = writes[c]
        deps = LEGACY_FROM_UNIFIED[c][1]
        changed = sql.SQL(" OR ").join(sql.SQL("OLD.{d} IS DISTINCT FROM NEW.{d}").format(d=sql.Identifier(d)) for d in deps)
        updates.append(sql.SQL("{col} = CASE WHEN {changed} THEN {value} ELSE t.{col} END").format(
            col=col, changed=changed, value=value))
    return mapping.template("reverse_sync_body").format(
        table_name=sql.Literal(TABLE), table=sql.Identifier(TABLE), id_column=sql.Identifier(s.name("id")),
        legacy_id=writes["id"][1],
        sources_old=sql.SQL(", ").join(sql.SQL("OLD.{}").format(sql.Identifier(x)) for x in sources),
        sources_new=sql.SQL(", ").join(sql.SQL("NEW.{}").format(sql.Identifier(x)) for x in sources),
        updates=sql.SQL(", ").join(updates),
        insert_columns=sql.SQL(", ").join(writes[c][0] for c in present),
        insert_values=sql.SQL(", ").join(writes[c][1] for c in present))


@dataclass
class OpenWrites(Step):
    """The cutover's write path: guard, write policies and grants, reverse sync (one transaction)."""

    revert_leaves: tuple[str, ...] = FENCE

    def render_deploy(self, ctx) -> Rendered:
        conn = ctx.conn
        s = mapping.shape(conn)
        function = sql.SQL(
            "CREATE OR REPLACE FUNCTION cqms_migration.p03_reverse_sync() RETURNS trigger LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS {body};\n"
            "REVOKE ALL ON FUNCTION cqms_migration.p03_reverse_sync() FROM PUBLIC;\n"
            "CREATE OR REPLACE TRIGGER p03_reverse_sync AFTER INSERT OR UPDATE OR DELETE ON public.assignments "
            "FOR EACH ROW EXECUTE FUNCTION cqms_migration.p03_reverse_sync()").format(
            body=sql.Literal(reverse_sync_body(s).as_string(conn)))
        return Rendered([(HERE / "templates" / "open_writes.sql").read_text(), compose(conn, function) + ";\n"])

    def render_verify(self, ctx) -> Rendered:
        return Rendered([
            "DO $$ BEGIN\n"
            "  IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.assignments'::regclass\n"
            "      AND tgname IN ('p03_reverse_sync', 'assignments_guard')) <> 2\n"
            "     OR (SELECT count(*) FROM pg_policies WHERE schemaname = 'public' AND tablename = 'assignments'\n"
            "         AND policyname IN ('assignments_insert', 'assignments_update', 'assignments_delete')) <> 3\n"
            "     OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.assignments'::regclass AND tgname = 'p03_fence') THEN\n"
            "    RAISE EXCEPTION 'assignments is not open to writes: the reverse sync, the guard or a write policy is missing, or the fence is up';\n"
            "  END IF;\n"
            "END $$"])

    def render_revert(self, ctx) -> Rendered:
        return Rendered([(HERE / "templates" / "fence.sql").read_text()])
