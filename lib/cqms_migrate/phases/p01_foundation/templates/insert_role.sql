-- one role of params.roles, with the access level its members get
INSERT INTO public.roles (name, code, level, permissions, is_system_role)
VALUES ({name}, {code}, {level}, jsonb_build_object('access_level', {access_level}), true)
