DROP TRIGGER IF EXISTS cqms_p02_fence ON public.audits;
DROP TRIGGER IF EXISTS cqms_p02_fence ON public.audit_errors;
CREATE OR REPLACE TRIGGER cqms_p02_provenance BEFORE INSERT OR UPDATE OF scorecard_id ON public.audits
FOR EACH ROW EXECUTE FUNCTION cqms_migration.p02_audit_provenance();
CREATE OR REPLACE TRIGGER cqms_p02_reverse_sync AFTER INSERT OR UPDATE OR DELETE ON public.audits
FOR EACH ROW EXECUTE FUNCTION cqms_migration.p02_reverse_sync();
CREATE OR REPLACE TRIGGER cqms_p02_errors_write_back AFTER INSERT OR UPDATE OR DELETE ON public.audit_errors
FOR EACH ROW EXECUTE FUNCTION cqms_migration.p02_errors_write_back()
