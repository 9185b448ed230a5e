-- How one legacy table spells each unified value, with counts (one scan): the constrained
-- columns through the value map, the channel through the channel map or the channels' codes.
SELECT v.vocabulary, coalesce(m.value, CASE WHEN v.vocabulary = 'channel' THEN cqms_migration.ref_code(v.spelling) END),
       v.spelling, count(*)
FROM {table} x
CROSS JOIN LATERAL (VALUES {pairs}) v(vocabulary, spelling)
LEFT JOIN cqms_migration.p02_value_map m ON m.vocabulary = v.vocabulary AND m.legacy = cqms_migration.vocab_key(v.spelling)
WHERE cqms_migration.vocab_key(v.spelling) IS NOT NULL
  AND (m.value IS NOT NULL OR (v.vocabulary = 'channel'
       AND EXISTS (SELECT 1 FROM public.channels c WHERE c.code = cqms_migration.ref_code(v.spelling))))
GROUP BY 1, 2, 3
