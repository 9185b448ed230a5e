-- After cutover: a write to assignments reaches the legacy audit_assignments in the writer's
-- transaction, so the application may write either path and a rollback loses nothing the legacy
-- table can hold. The legacy row is found by its id (the assignment's id); its emails are the
-- employees' emails of the assignment's ids, each value in the legacy column's type (legacy_shape:
-- the columns as the catalog had them at cutover). An UPDATE writes only the legacy columns whose
-- unified source changed, so a legacy spelling nothing changed stays as it was. What the legacy
-- table has no column for (priority, due date, cancellation, notes) stays in assignments only.
-- Writes only public.audit_assignments, named here at render time, never from a value a caller
-- controls.
DECLARE
  rec public.assignments%ROWTYPE;
  v_marker text := current_setting('cqms.sync_echo', true);
  v_n bigint;
BEGIN
  -- p03_apply's own write (the forward sync, the backfill, a retry): derived from the legacy row
  IF v_marker IN ('apply:' || {table_name}, 'forward:' || {table_name}) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN rec := OLD; ELSE rec := NEW; END IF;
  IF TG_OP = 'UPDATE' AND ({sources_old}) IS NOT DISTINCT FROM ({sources_new}) THEN
    RETURN NULL;  -- nothing the legacy table holds changed (a priority, a note)
  END IF;
  PERFORM set_config('cqms.sync_echo', 'reverse:' || {table_name} || ':' || rec.id::text, true);
  IF TG_OP = 'DELETE' THEN
    DELETE FROM public.{table} t WHERE t.{id_column} = {legacy_id};
  ELSE
    v_n := 0;
    IF TG_OP = 'UPDATE' THEN
      UPDATE public.{table} t SET {updates} WHERE t.{id_column} = {legacy_id};
      GET DIAGNOSTICS v_n = ROW_COUNT;
    END IF;
    IF v_n = 0 THEN
      INSERT INTO public.{table} ({insert_columns}) VALUES ({insert_values});
    END IF;
  END IF;
  PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
  RETURN NULL;
END
