-- INSERT ... ON CONFLICT DO UPDATE cannot check a version through EXCLUDED:
-- occ's BEFORE INSERT trigger gives every proposed row version 1 (an INSERT
-- never chooses its version), so EXCLUDED.version is 1 whatever the client
-- sent.  The README warns about the pattern; this test pins what it does, and
-- shows the occ_update equivalent.

CREATE TABLE edge_upsert (id int PRIMARY KEY, v text);
SELECT occ_enable('edge_upsert', version_input => 'expected');
INSERT INTO edge_upsert VALUES (1, 'a');
SELECT occ_update('edge_upsert', 1, 1, '{"v": "b"}')->'version' AS version;
SELECT occ_update('edge_upsert', 1, 2, '{"v": "c"}')->'version' AS version;

-- the client read version 3 and sends it: EXCLUDED.version is 1, nothing happens
INSERT INTO edge_upsert AS t (id, v, version) VALUES (1, 'from version 3', 3)
ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, version = t.version
WHERE t.version = EXCLUDED.version
RETURNING id, v, version;
-- EXCLUDED.version is 1, whatever was sent
INSERT INTO edge_upsert AS t (id, v, version) VALUES (1, 'ignored', 3)
ON CONFLICT (id) DO UPDATE SET v = t.v || ' / excluded version ' || EXCLUDED.version,
                               version = t.version
RETURNING id, v, version;

-- the occ_update equivalent: insert if absent, else update at the version read
INSERT INTO edge_upsert (id, v) VALUES (1, 'new') ON CONFLICT (id) DO NOTHING;
SELECT occ_update('edge_upsert', 1, 4, '{"v": "from version 4"}')->'version' AS version;
DO $$
BEGIN
    PERFORM occ_update('edge_upsert', 1, 4, '{"v": "stale"}');
EXCEPTION WHEN SQLSTATE 'OC409' THEN
    RAISE NOTICE 'OC409';
END
$$;
SELECT id, v, version FROM edge_upsert;

DROP TABLE edge_upsert;
