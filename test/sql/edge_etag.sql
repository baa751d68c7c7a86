-- Every write gets an ETag of its own: a write that rolled back and a later one
-- at the same version (same key, same previous ETag) differ, so an ETag a client
-- saw in a rolled-back transaction never matches a row it did not see.

CREATE TABLE edge_etag (id int PRIMARY KEY, v text);
SELECT occ_enable('edge_etag');
INSERT INTO edge_etag VALUES (1, 'a');

-- a whole transaction rolled back
BEGIN;
SELECT r->>'version' AS v1, r->>'etag' AS e1
  FROM occ_update('edge_etag', 1, 1, '{"v": "never committed"}') AS r \gset
ROLLBACK;
SELECT r->>'version' AS v2, r->>'etag' AS e2
  FROM occ_update('edge_etag', 1, 1, '{"v": "committed"}') AS r \gset
SELECT :'v1' = :'v2' AS same_version, :'e1' <> :'e2' AS other_etag;
-- the rolled-back ETag does not match
SET edge.e1 = :'e1';
DO $$
BEGIN
    PERFORM occ_update_if_match('edge_etag', 1, current_setting('edge.e1'), '{"v": "x"}');
    RAISE NOTICE 'matched a rolled-back ETag';
EXCEPTION WHEN SQLSTATE 'OC412' THEN
    RAISE NOTICE 'OC412';
END
$$;

-- a write undone by ROLLBACK TO SAVEPOINT
BEGIN;
SAVEPOINT s;
SELECT r->>'version' AS v1, r->>'etag' AS e1
  FROM occ_update('edge_etag', 1, 2, '{"v": "undone"}') AS r \gset
ROLLBACK TO SAVEPOINT s;
SELECT r->>'version' AS v2, r->>'etag' AS e2
  FROM occ_update('edge_etag', 1, 2, '{"v": "kept"}') AS r \gset
COMMIT;
SELECT :'v1' = :'v2' AS same_version, :'e1' <> :'e2' AS other_etag;

-- a plain UPDATE of many rows, rolled back and repeated
INSERT INTO edge_etag SELECT g, 'a' FROM generate_series(2, 50) AS g;
BEGIN;
UPDATE edge_etag SET v = 'b' WHERE id > 1;
SELECT string_agg(etag, ',' ORDER BY id) AS first FROM edge_etag WHERE id > 1 \gset
ROLLBACK;
UPDATE edge_etag SET v = 'b' WHERE id > 1;
SELECT count(*) AS writes, count(DISTINCT etag) AS etags,
       count(*) FILTER (WHERE etag = ANY (string_to_array(:'first', ','))) AS seen_before
  FROM edge_etag WHERE id > 1;

DROP TABLE edge_etag;
