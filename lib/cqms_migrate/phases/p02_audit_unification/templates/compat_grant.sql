GRANT SELECT ON {view} TO {roles}
