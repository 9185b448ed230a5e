-- an audit table's channel spelling (its vocab_key) and the channel (by its name's code) it means
INSERT INTO cqms_migration.p02_value_map (vocabulary, legacy, value)
VALUES ('channel', {legacy}, cqms_migration.ref_code({channel}))
