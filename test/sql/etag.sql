-- ETags: 24 characters of base64url; they change exactly when the version changes;
-- they cover the table and the key, so equal contents in two rows or two tables never
-- share one; and a row deleted and inserted again gets an ETag it never had, so an
-- old If-Match cannot match it.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE etag_a (id int PRIMARY KEY, title text);
CREATE TABLE etag_b (id int PRIMARY KEY, title text);
INSERT INTO etag_a VALUES (1, 'same'), (2, 'same');
INSERT INTO etag_b VALUES (1, 'same');
SELECT occ_enable('etag_a'), occ_enable('etag_b');

-- the format: ASCII base64url, 24 characters
SELECT id, length(etag) AS length, etag ~ '^[A-Za-z0-9_-]{24}$' AS base64url
  FROM etag_a ORDER BY id;

-- equal contents in two rows of one table, or under the same key in two tables:
-- different ETags
SELECT count(DISTINCT etag) AS distinct_etags_in_a FROM etag_a;
SELECT a.etag <> b.etag AS differ_across_tables
  FROM etag_a a JOIN etag_b b USING (id);
-- also when inserted in the same statement
INSERT INTO etag_a VALUES (3, 'same'), (4, 'same');
SELECT count(DISTINCT etag) AS distinct_etags_in_a FROM etag_a;

-- the ETag changes exactly when the version changes
SELECT etag AS e1 FROM etag_a WHERE id = 1 \gset
UPDATE etag_a SET title = 'same' WHERE id = 1;
SELECT version, etag = :'e1' AS etag_kept FROM etag_a WHERE id = 1;
UPDATE etag_a SET title = 'changed' WHERE id = 1;
SELECT version, etag <> :'e1' AS etag_changed,
       etag ~ '^[A-Za-z0-9_-]{24}$' AS base64url
  FROM etag_a WHERE id = 1;
SELECT etag AS e2 FROM etag_a WHERE id = 1 \gset
-- back to the first contents: a third version, so a third ETag
UPDATE etag_a SET title = 'same' WHERE id = 1;
SELECT version, etag NOT IN (:'e1', :'e2') AS etag_new FROM etag_a WHERE id = 1;
-- a rolled back change leaves version and ETag as they were
SELECT etag AS e3 FROM etag_a WHERE id = 1 \gset
BEGIN;
UPDATE etag_a SET title = 'rolled back' WHERE id = 1;
ROLLBACK;
SELECT version, etag = :'e3' AS etag_kept FROM etag_a WHERE id = 1;
-- two changes in one transaction: two versions, and the ETag moves each time
BEGIN;
UPDATE etag_a SET title = 'first' WHERE id = 1;
SELECT etag AS e4 FROM etag_a WHERE id = 1 \gset
UPDATE etag_a SET title = 'second' WHERE id = 1;
SELECT version, etag NOT IN (:'e3', :'e4') AS etag_new FROM etag_a WHERE id = 1;
COMMIT;

-- occ_update returns the ETag that was stored
SELECT occ_update('etag_a', 2, 1, '{"title":"patched"}') ->> 'etag' AS returned \gset
SELECT etag = :'returned' AS returned_etag_is_stored, etag <> '' AS nonempty
  FROM etag_a WHERE id = 2;

-- delete and insert again with the same key and contents: a new ETag, and the old one
-- no longer matches (OC412)
SELECT etag AS old_etag FROM etag_b WHERE id = 1 \gset
DELETE FROM etag_b WHERE id = 1;
INSERT INTO etag_b VALUES (1, 'same');
SELECT version, etag <> :'old_etag' AS etag_new FROM etag_b WHERE id = 1;
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)',
                          'etag_b', :'old_etag', '{"title":"x"}'));
-- also when the client copies the old ETag into the INSERT
SELECT etag AS old_etag FROM etag_b WHERE id = 1 \gset
DELETE FROM etag_b WHERE id = 1;
INSERT INTO etag_b (id, title, version, etag) VALUES (1, 'same', 1, :'old_etag');
SELECT version, etag <> :'old_etag' AS etag_new,
       etag ~ '^[A-Za-z0-9_-]{24}$' AS base64url
  FROM etag_b WHERE id = 1;

DROP TABLE etag_a, etag_b;
