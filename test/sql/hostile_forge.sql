-- Forged versions and ETags: whatever a writer sends in the version and etag columns,
-- by INSERT, INSERT ... ON CONFLICT, MERGE, COPY or UPDATE, the row gets the version
-- and ETag occ computes; a row that is deleted and inserted again never gets an ETag
-- it had before, so an old If-Match cannot match it.  On a partitioned table too,
-- where occ carries version and ETag along when an UPDATE moves a row to another
-- partition, an INSERT that copies a row's version and ETag gets neither.

-- pg_temp.state(stmt) runs stmt and returns its SQLSTATE ('00000' if it succeeded)
CREATE FUNCTION pg_temp.state(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
    EXECUTE stmt;
    RETURN '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    RETURN st;
END
$$;

CREATE ROLE regress_occ_forger;
CREATE TABLE hf_docs (id int PRIMARY KEY, t text);
INSERT INTO hf_docs VALUES (1, 'a'), (2, 'b');
SELECT occ_enable('hf_docs');
CREATE TABLE hf_part (id int, region text, t text, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE hf_part_eu PARTITION OF hf_part FOR VALUES IN ('eu');
CREATE TABLE hf_part_us PARTITION OF hf_part FOR VALUES IN ('us');
INSERT INTO hf_part VALUES (1, 'eu', 'a'), (2, 'eu', 'b');
SELECT occ_enable('hf_part');
GRANT SELECT, INSERT, UPDATE, DELETE ON hf_docs, hf_part TO regress_occ_forger;
-- every ETag any row ever had
CREATE TABLE hf_seen (etag text PRIMARY KEY);
CREATE FUNCTION pg_temp.remember() RETURNS void LANGUAGE sql AS $$
    INSERT INTO hf_seen SELECT etag FROM hf_docs UNION SELECT etag FROM hf_part
    ON CONFLICT DO NOTHING
$$;
SELECT pg_temp.remember();
SELECT etag AS etag1 FROM hf_docs WHERE id = 1 \gset
SELECT etag AS etag2 FROM hf_docs WHERE id = 2 \gset

SET ROLE regress_occ_forger;
-- forged values on INSERT, upsert, MERGE, COPY and UPDATE are replaced
INSERT INTO hf_docs (id, t, version, etag) VALUES (3, 'c', 42, :'etag1');
INSERT INTO hf_docs (id, t, version, etag) VALUES (1, 'a2', 42, :'etag2')
    ON CONFLICT (id) DO UPDATE SET t = excluded.t, version = excluded.version, etag = excluded.etag;
MERGE INTO hf_docs d USING (VALUES (2, 'b2'), (4, 'd')) AS s(id, t) ON d.id = s.id
    WHEN MATCHED THEN UPDATE SET t = s.t, version = 1, etag = :'etag1'
    WHEN NOT MATCHED THEN INSERT (id, t, version, etag) VALUES (s.id, s.t, 7, :'etag2');
COPY hf_docs (id, t, version, etag) FROM STDIN;
5	e	99	forged
\.
UPDATE hf_docs SET etag = (SELECT etag FROM hf_docs WHERE id = 2) WHERE id = 3;
RESET ROLE;
SELECT id, t, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok,
       etag IN (SELECT etag FROM hf_seen) AS etag_reused
  FROM hf_docs ORDER BY id;
SELECT pg_temp.remember();

-- delete and insert again, with the old version and ETag: a new ETag; the old
-- If-Match fails
SET ROLE regress_occ_forger;
SELECT etag AS old_etag, version AS old_version FROM hf_docs WHERE id = 1 \gset
DELETE FROM hf_docs WHERE id = 1;
INSERT INTO hf_docs (id, t, version, etag) VALUES (1, 'a2', :old_version, :'old_etag');
SELECT version, etag = :'old_etag' AS old_etag_back FROM hf_docs WHERE id = 1;
SELECT pg_temp.state(format('SELECT occ_update_if_match(%L, 1, %L, %L)', 'hf_docs', :'old_etag',
                             '{"t": "lost update"}')) AS old_if_match;
RESET ROLE;

-- the same on a partitioned table: after any UPDATE (here one inside a partition), a
-- row deleted and inserted again with its old version and ETag gets version 1 and a
-- new ETag
SET ROLE regress_occ_forger;
UPDATE hf_part SET t = 'a2' WHERE id = 1;
SELECT etag AS old_etag, version AS old_version FROM hf_part WHERE id = 1 \gset
DELETE FROM hf_part WHERE id = 1;
INSERT INTO hf_part (id, region, t, version, etag) VALUES (1, 'eu', 'a2', :old_version, :'old_etag');
SELECT version, etag = :'old_etag' AS old_etag_back FROM hf_part WHERE id = 1;
SELECT pg_temp.state(format('SELECT occ_update_if_match(%L, %L, %L, %L)', 'hf_part',
                             '{"id": 1, "region": "eu"}', :'old_etag', '{"t": "lost update"}')) AS old_if_match;
-- ... and a new row cannot take another row's ETag right after that row was updated
UPDATE hf_part SET t = 'b2' WHERE id = 2;
SELECT etag AS etag_b, version AS version_b FROM hf_part WHERE id = 2 \gset
INSERT INTO hf_part (id, region, t, version, etag) VALUES (3, 'eu', 'c', :version_b, :'etag_b');
SELECT id, version, etag = :'etag_b' AS copied_etag FROM hf_part WHERE id = 3;
SELECT count(*) - count(DISTINCT etag) AS duplicate_etags FROM hf_part;
RESET ROLE;
-- a row that moves to another partition keeps counting: version + 1, a new ETag
SELECT etag AS before_move FROM hf_part WHERE id = 2 \gset
UPDATE hf_part SET region = 'us' WHERE id = 2;
SELECT tableoid::regclass, id, region, version, etag <> :'before_move' AS new_etag,
       etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM hf_part WHERE id = 2;
SELECT count(*) - count(DISTINCT etag) AS duplicate_etags FROM hf_part;

DROP TABLE hf_docs, hf_part, hf_seen;
DROP ROLE regress_occ_forger;
