DROP TRIGGER IF EXISTS cqms_p02_reverse_sync ON public.audits;
DROP FUNCTION IF EXISTS cqms_migration.p02_reverse_sync();
DROP TRIGGER IF EXISTS cqms_p02_provenance ON public.audits;
DROP FUNCTION IF EXISTS cqms_migration.p02_audit_provenance();
