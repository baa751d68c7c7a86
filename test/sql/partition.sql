-- Partitioned tables: occ_enable on the parent covers every partition, including one
-- created or attached later; writes and occ_update/occ_delete go through the parent.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE p_docs (id int PRIMARY KEY, title text) PARTITION BY RANGE (id);
CREATE TABLE p_docs_1 PARTITION OF p_docs FOR VALUES FROM (1) TO (100);
CREATE TABLE p_docs_2 PARTITION OF p_docs FOR VALUES FROM (100) TO (200);
INSERT INTO p_docs VALUES (1, 'a'), (150, 'b');
SELECT occ_enable('p_docs');

-- the columns reach every partition and the existing rows are backfilled
SELECT tableoid::regclass AS part, id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM p_docs ORDER BY id;
SELECT table_name, key_columns, version_column, etag_column
  FROM occ_tables WHERE table_name = 'p_docs'::regclass;

-- occ_update through the parent, in either partition
SELECT occ_update('p_docs', 1, 1, '{"title":"a2"}') - 'etag' AS updated;
SELECT occ_update('p_docs', 150, 1, '{"title":"b2"}') AS r \gset
SELECT :'r'::jsonb - 'etag' AS updated,
       :'r'::jsonb ->> 'etag' = etag AS returned_etag_is_stored
  FROM p_docs WHERE id = 150;

-- a stale version: OC409 naming the parent table
SELECT state, message, detail, table_name, column_name
  FROM pg_temp.err($$SELECT occ_update('p_docs', 150, 1, '{"title":"stale"}')$$);
SELECT title, version FROM p_docs WHERE id = 150;

-- plain writes through the parent or straight into a partition get the trigger
INSERT INTO p_docs (id, title, version, etag) VALUES (2, 'c', 40, 'forged');
INSERT INTO p_docs_2 (id, title, version, etag) VALUES (151, 'd', 40, 'forged');
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM p_docs WHERE id IN (2, 151) ORDER BY id;
SELECT etag AS e151 FROM p_docs WHERE id = 151 \gset
UPDATE p_docs SET title = 'd2' WHERE id = 151;
UPDATE p_docs_2 SET title = 'd3' WHERE id = 151;
SELECT version, etag <> :'e151' AS etag_changed FROM p_docs WHERE id = 151;

-- a partition created after occ_enable
CREATE TABLE p_docs_3 PARTITION OF p_docs FOR VALUES FROM (200) TO (300);
INSERT INTO p_docs VALUES (250, 'e');
SELECT version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM p_docs WHERE id = 250;
SELECT occ_update('p_docs', 250, 1, '{"title":"e2"}') -> 'version' AS new_version;

-- a table attached as a partition after occ_enable
CREATE TABLE p_docs_4 (LIKE p_docs INCLUDING DEFAULTS);
INSERT INTO p_docs_4 (id, title, version, etag) VALUES (350, 'f', 3, 'pre-attach');
ALTER TABLE p_docs ATTACH PARTITION p_docs_4 FOR VALUES FROM (300) TO (400);
UPDATE p_docs SET title = 'f2' WHERE id = 350;
SELECT version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM p_docs WHERE id = 350;

-- occ_delete through the parent
SELECT occ_delete('p_docs', 2, 1) - 'etag' AS deleted;
SELECT occ_delete_if_match('p_docs', 250, '*') - 'etag' AS deleted;
SELECT id FROM p_docs ORDER BY id;

-- occ_disable on the parent removes the trigger from every partition
SELECT occ_disable('p_docs');
UPDATE p_docs SET title = 'plain';
SELECT id, version FROM p_docs ORDER BY id;
SELECT count(*) AS occ_tables_rows FROM occ_tables WHERE table_name = 'p_docs'::regclass;

DROP TABLE p_docs;
