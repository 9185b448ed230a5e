"""The reverse sync's writes to users and people, composed for the shape the catalog has
(legacy_shape): a column the table lacks is not written, a column of another type gets the
unified value in its own type (convert.write). Filled into deploy/install_reverse_sync.sql."""

from __future__ import annotations

from psycopg import sql

from ...legacy_shape import TableShape

# people column <- (the employees columns whose change rewrites it, the value written)
PEOPLE = [
    ("email", ("email",), "NEW.email"),
    ("name", ("name",), "NEW.name"),
    ("role", ("role_id",), "v_role"),
    ("department", ("department_id",), "v_department"),
    ("designation", ("designation",), "NEW.designation"),
    ("employee_id", ("employee_id",), "NEW.employee_id"),
    ("channel", ("channel_id",), "v_channel"),
    ("team", ("team_id", "channel_id"), "v_team"),
    ("team_supervisor", ("supervisor_id",), "v_sup"),
    ("quality_mentor", ("quality_mentor_id",), "v_qm"),
    ("country", ("country_code",), "nullif(NEW.country_code, 'ZZ')"),
    ("is_active", ("is_active",), "NEW.is_active"),
    ("last_login", ("last_login_at",), "NEW.last_login_at"),
    ("login_count", ("login_count",), "NEW.login_count"),
    ("avatar_url", ("avatar_url",), "NEW.avatar_url"),
    ("intercom_admin_alias", ("intercom_admin_alias",), "NEW.intercom_admin_alias"),
]
USERS = [
    ("email", ("email",), "NEW.email"),
    ("full_name", ("name",), "NEW.name"),
    ("avatar_url", ("avatar_url",), "NEW.avatar_url"),
    ("last_sign_in_at", ("last_login_at",), "NEW.last_login_at"),
    ("sign_in_count", ("login_count",), "NEW.login_count"),
    ("device_info", ("device_info",), "NEW.device_info"),
    ("notification_preferences", ("notification_preferences",), "NEW.notification_preferences"),
]
USERS_INSERT = [("id", "NEW.auth_user_id")] + [(c, v) for c, _, v in USERS] + [
    ("created_at", "NEW.created_at"), ("updated_at", "NEW.updated_at")]


def _changed(sources: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(" OR ").join(sql.SQL("OLD.{0} IS DISTINCT FROM NEW.{0}").format(sql.Identifier(s)) for s in sources)


def _update(shape: TableShape, alias: str, spec, where: sql.Composable, extra=()) -> sql.Composable:
    sets = []
    for canonical, sources, value in spec:
        target = shape.write(canonical, sql.SQL(value))
        if target is None:
            continue
        column, written = target
        sets.append(sql.SQL("{col} = CASE WHEN {cond} THEN {val} ELSE {a}.{col} END").format(
            col=column, cond=_changed(sources), val=written, a=sql.Identifier(alias)))
    for canonical, value in extra:
        target = shape.write(canonical, sql.SQL(value))
        if target is not None:
            sets.append(sql.SQL("{} = {}").format(*target))
    return sql.SQL("UPDATE public.{t} {a} SET\n        {sets}\n      WHERE {where}").format(
        t=sql.Identifier(shape.table), a=sql.Identifier(alias), sets=sql.SQL(",\n        ").join(sets), where=where)


def _insert(shape: TableShape, pairs) -> sql.Composable:
    cols, vals = [], []
    for canonical, value in pairs:
        target = shape.write(canonical, sql.SQL(value))
        if target is not None:
            cols.append(target[0])
            vals.append(target[1])
    return sql.SQL("INSERT INTO public.{t} ({c})\n    VALUES ({v})").format(
        t=sql.Identifier(shape.table), c=sql.SQL(", ").join(cols), v=sql.SQL(", ").join(vals))


def _move_reports(people: TableShape) -> sql.Composable:
    """People who name the old email as supervisor or mentor name the new one; their emails."""
    cols = [c for c in ("team_supervisor", "quality_mentor") if people.name(c)]
    if not cols:
        return sql.SQL("v_reports := NULL")
    sets = sql.SQL(",\n          ").join(
        sql.SQL("{col} = CASE WHEN lower(btrim({read})) = v_old_ne THEN {new} ELSE p.{col} END").format(
            col=sql.Identifier(people.name(c)), read=people.ident(c, "p"), new=people.write(c, sql.SQL("NEW.email"))[1])
        for c in cols)
    where = sql.SQL(" OR ").join(sql.SQL("lower(btrim({})) = v_old_ne").format(people.ident(c, "p")) for c in cols)
    return sql.SQL("WITH moved AS (\n        UPDATE public.people p SET\n          {sets}\n        WHERE {where}\n"
                   "        RETURNING coalesce(lower(btrim({email})), '') AS ne)\n"
                   "      SELECT array_agg(DISTINCT m.ne) INTO v_reports FROM moved m").format(
        sets=sets, where=where, email=people.ident("email", "p"))


def placeholders(shapes: dict[str, TableShape]) -> dict[str, sql.Composable]:
    people, users = shapes["people"], shapes["users"]
    users_changed = sql.SQL(" OR ").join(_changed(s) for _, s, _ in USERS)
    return {
        "people_update": _update(people, "p", PEOPLE, sql.SQL("p.ctid = v_people_ctid")),
        "users_update": _update(users, "u", USERS, sql.SQL("{} = NEW.auth_user_id AND ({})").format(
            users.ident("id", "u"), users_changed), extra=[("updated_at", "now()")]),
        "people_insert": _insert(people, [(c, v) for c, _, v in PEOPLE]),
        "users_insert": _insert(users, USERS_INSERT),
        "people_move_reports": _move_reports(people),
        "people_set_email": sql.SQL("{} = {}").format(*people.write("email", sql.SQL("NEW.email"))),
    }
