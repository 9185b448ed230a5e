from psycopg import sql
from audit_helpers import deploy_p1, deploy_p2, BUILD, ident
from cqms_migrate.phases import p02_audit_unification as p2
from attack_helpers import *  # noqa: F403
from test_attack_p2 import param_column

T = "chat_audit"


def test_param_column_retyped_to_text_then_rerun(legacy_db):
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect(autocommit=True) as c:
        f = param_column(c)
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text").format(ident(T), sql.Identifier(f)))
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)


def test_tab_in_text_param_value_only(legacy_db):
    """The text parameter column made before the migration (no retype after adoption)."""
    with legacy_db.connect(autocommit=True) as c:
        f = param_column(c)
        c.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text").format(ident(T), sql.Identifier(f)))
        rid = one(c, sql.SQL("SELECT id FROM {} ORDER BY id LIMIT 1").format(ident(T)))
        c.execute(sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(ident(T), sql.Identifier(f)), ("2\n", rid))
    deploy_p1()
    deploy_p2(names=BUILD + p2.CUTOVER_STEPS)
    with legacy_db.connect() as c:
        errors = dict(c.execute("SELECT field_id, error_count FROM public.audit_errors WHERE audit_id = %s", (rid,)).fetchall())
    # '2\n' is read as an error (one, or two, by the parameter's meaning), not dropped for its newline
    assert errors.get(f) in (1, 2), errors
    r = vresult(legacy_db.url)
    assert r.ok, vsummary(r)
