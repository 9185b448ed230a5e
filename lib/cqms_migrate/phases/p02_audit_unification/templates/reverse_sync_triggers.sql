CREATE TRIGGER cqms_p02_provenance BEFORE INSERT ON public.audits
FOR EACH ROW EXECUTE FUNCTION cqms_migration.p02_audit_provenance();
CREATE TRIGGER cqms_p02_reverse_sync AFTER INSERT OR UPDATE OR DELETE ON public.audits
FOR EACH ROW EXECUTE FUNCTION cqms_migration.p02_reverse_sync()
