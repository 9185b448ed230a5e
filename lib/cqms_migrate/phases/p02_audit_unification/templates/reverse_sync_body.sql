-- After cutover: writes to audits flow back into the legacy table of their scorecard (read
-- through its compat view: the one audits -> legacy mapping), so a rollback loses nothing.
DECLARE
  rec public.audits%ROWTYPE;
  v_marker text := current_setting('cqms.sync_echo', true);
BEGIN
  IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
  -- the forward sync's own write of this very row: its echo (any other write is synced back)
  IF v_marker = 'forward:' || rec.legacy_table || ':' || rec.id::text THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('cqms.sync_echo', 'reverse:' || rec.legacy_table || ':' || rec.id::text, true);
{branches}
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
