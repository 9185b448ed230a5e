-- what one parameter column means (parameters.py)
INSERT INTO cqms_migration.p02_parameter_kinds (legacy_table, column_name, field_id, kind, error_values, max_points,
                                                error_spelling, ok_spelling)
VALUES ({table_name}, {column}, {field}, {kind}, {error_values}::text[], {max_points}, {error_spelling}, {ok_spelling})
