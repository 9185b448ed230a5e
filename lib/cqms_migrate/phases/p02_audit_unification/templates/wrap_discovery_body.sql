SELECT r.* FROM {moved}({call_args}) AS r
WHERE NOT ({name_expr} = ANY({runbook}::text[])
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = 'public' AND c.relname = {name_expr}
                        AND pg_catalog.obj_description(c.oid, 'pg_class') LIKE 'cqms-migrate compat view of %'))
