-- A compat view gets the read rights of the legacy table it stands in for (its readers among the
-- API roles when this rendered), never more than RLS on audits allows (security_invoker);
-- Supabase's default grants on the new view are revoked first, in the same transaction.
REVOKE ALL ON {view} FROM PUBLIC, anon, authenticated, service_role;
COMMENT ON VIEW {view} IS {comment}
