-- Cached statements and invalidation: when a table's description is rebuilt
-- (any ALTER, GRANT, VACUUM or ANALYZE of it), every statement occ prepared for
-- the old description is freed, the locking probe of a conflict included.
-- Counted through pg_backend_memory_contexts, where each kept statement is a
-- CachedPlanSource context named by its SQL text.

CREATE TABLE edge_plan (id int PRIMARY KEY, v text);
INSERT INTO edge_plan VALUES (1, 'a');
SELECT occ_enable('edge_plan');

CREATE FUNCTION pg_temp.probes(locking bool) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_catalog.pg_backend_memory_contexts
     WHERE name = 'CachedPlanSource'
       AND ident LIKE 'SELECT occ\_t.%to\_jsonb(occ\_t.*)%edge\_plan%'
       AND (ident LIKE '%FOR UPDATE OF occ_t') = locking
$$;

-- ten conflicts (each prepares the probes once per description), each followed
-- by an invalidation of the table
DO $$
BEGIN
    FOR i IN 1..10 LOOP
        PERFORM occ_try_update('edge_plan', 1, 99, '{"v": "stale"}');
        EXECUTE format('ALTER TABLE edge_plan ALTER COLUMN v SET DEFAULT %L', i);
    END LOOP;
END
$$;
-- the last description was dropped at commit, with its statements
SELECT pg_temp.probes(true) AS locking_probes, pg_temp.probes(false) AS plain_probes;

-- one conflict and one missing row: one statement of each kind
SELECT occ_try_update('edge_plan', 1, 99, '{"v": "stale"}')->>'status' AS status;
SELECT occ_try_update('edge_plan', 2, 1, '{"v": "gone"}')->>'status' AS status;
SELECT pg_temp.probes(true) AS locking_probes;
ANALYZE edge_plan;
SELECT occ_try_update('edge_plan', 1, 99, '{"v": "stale"}')->>'status' AS status;
SELECT pg_temp.probes(true) AS locking_probes;

DROP TABLE edge_plan;
