-- one role of params.roles, with the access level its members get; its id derives from its code,
-- so a rollback and a re-run give the same keys
INSERT INTO public.roles (id, name, code, level, permissions, is_system_role)
VALUES (md5('cqms-role:' || {code})::uuid, {name}, {code}, {level}, jsonb_build_object('access_level', {access_level}), true)
