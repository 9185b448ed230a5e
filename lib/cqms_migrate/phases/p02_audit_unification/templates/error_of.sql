-- What one parameter score says (alias kv: key, value; pm.p: the column's meaning from
-- parameter_map): how many errors, and their penalty. One definition: the backfill, the forward
-- sync and the reverse sync's rebuild all read it. A flag whose yes is the error reads any
-- positive whole number as the error too (a checkbox kept in a number column may hold a 2).
SELECT c.n AS error_count,
       CASE WHEN c.n > 0 THEN
         CASE pm.p ->> 'kind' WHEN 'count' THEN (pm.p ->> 'penalty')::numeric * c.n
                              WHEN 'flag' THEN (pm.p ->> 'penalty')::numeric
                              WHEN 'points' THEN (pm.p ->> 'max')::numeric - kv.value::numeric END END AS penalty
FROM (SELECT CASE pm.p ->> 'kind'
               WHEN 'count' THEN CASE WHEN kv.value ~ '^\s*[0-9]{{1,9}}\s*$' THEN kv.value::int END
               WHEN 'flag' THEN CASE WHEN {key} IN (SELECT jsonb_array_elements_text(pm.p -> 'ev'))
                                       OR (kv.value ~ '^\s*[1-9][0-9]{{0,8}}\s*$' AND pm.p -> 'ev' ? '1') THEN 1 ELSE 0 END
               WHEN 'points' THEN CASE WHEN kv.value ~ '^\s*[0-9]{{1,9}}([.][0-9]+)?\s*$'
                                        AND kv.value::numeric < (pm.p ->> 'max')::numeric THEN 1 ELSE 0 END
             END AS n) c
