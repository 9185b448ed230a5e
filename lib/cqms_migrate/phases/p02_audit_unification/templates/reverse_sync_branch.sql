    IF rec.legacy_table = {table_name} THEN
      IF TG_OP = 'DELETE' OR rec.deleted_at IS NOT NULL THEN
        DELETE FROM {table} WHERE id = rec.id;
      ELSE
        INSERT INTO {table} ({columns}) SELECT {columns} FROM {view} WHERE id = rec.id
        ON CONFLICT (id) DO UPDATE SET {updates};
      END IF;
      PERFORM set_config('cqms.sync_echo', coalesce(v_marker, ''), true);
      RETURN NULL;
    END IF;
