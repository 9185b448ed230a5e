-- params unknown_email_policy: placeholder. The unknown emails of the next batch (or of the
-- quarantined rows tried again) become inactive
-- employees flagged for review (removed on revert).
WITH batch AS (SELECT * FROM {table} WHERE {rows}),
     refs AS ({refs})
INSERT INTO public.employees (email, name, role_id, is_active, needs_review, legacy_snapshot)
SELECT DISTINCT ON (lower(btrim(r.email))) btrim(r.email),
       coalesce(nullif(btrim(r.name), ''), split_part(btrim(r.email), '@', 1)),
       (SELECT ro.id FROM public.roles ro JOIN cqms_migration.p01_role_mapping m ON m.role_code = ro.code
         WHERE m.legacy_role = '*default*'),
       false, true, jsonb_build_object('placeholder_phase', {phase})
FROM refs r
WHERE btrim(r.email) ~* {email_form}
  AND NOT EXISTS (SELECT 1 FROM public.employees e WHERE lower(btrim(e.email)) = lower(btrim(r.email)))
ORDER BY lower(btrim(r.email)), r.name
ON CONFLICT DO NOTHING
