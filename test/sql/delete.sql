-- occ_delete and occ_delete_if_match: a row is deleted only when the caller's
-- version (or ETag) is the current one, and the deleted row is returned as jsonb;
-- a stale version gives OC409, a stale ETag OC412, a missing row OC404, and none of
-- them deletes anything.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE del_docs (id int PRIMARY KEY, title text);
INSERT INTO del_docs VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
SELECT occ_enable('del_docs');
UPDATE del_docs SET title = 'uno' WHERE id = 1;
SELECT id, version FROM del_docs ORDER BY id;

-- occ_delete with the current version deletes the row and returns it, version and
-- ETag included
SELECT etag AS etag1 FROM del_docs WHERE id = 1 \gset
SELECT occ_delete('del_docs', 1, 2) AS deleted \gset
SELECT :'deleted'::jsonb - 'etag' AS deleted_row,
       :'deleted'::jsonb ->> 'etag' = :'etag1' AS returned_etag_is_the_rows;
SELECT count(*) AS rows_left_with_id_1 FROM del_docs WHERE id = 1;

-- deleting it again: the row is gone (OC404, DETAIL holds only table and key)
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name
  FROM pg_temp.err($$SELECT occ_delete('del_docs', 1, 2)$$);
\x off

-- a stale version: OC409, and the row stays
SELECT del_docs::text AS snap2 FROM del_docs WHERE id = 2 \gset
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = (SELECT etag FROM del_docs WHERE id = 2) AS detail_etag_is_current
  FROM pg_temp.err($$SELECT occ_delete('del_docs', 2, 7)$$);
\x off
SELECT del_docs::text = :'snap2' AS row_2_unchanged FROM del_docs WHERE id = 2;

-- occ_delete_if_match with the bare ETag
SELECT etag AS etag2 FROM del_docs WHERE id = 2 \gset
SELECT occ_delete_if_match('del_docs', 2, :'etag2') AS deleted \gset
SELECT :'deleted'::jsonb - 'etag' AS deleted_row,
       :'deleted'::jsonb ->> 'etag' = :'etag2' AS returned_etag_is_the_rows;
SELECT count(*) AS rows_left_with_id_2 FROM del_docs WHERE id = 2;

-- with the ETag double-quoted, as an If-Match header carries it
SELECT etag AS etag3 FROM del_docs WHERE id = 3 \gset
SELECT occ_delete_if_match('del_docs', 3, '"' || :'etag3' || '"') - 'etag' AS deleted_row;
SELECT count(*) AS rows_left_with_id_3 FROM del_docs WHERE id = 3;

-- with * (any existing row)
SELECT occ_delete_if_match('del_docs', 4, '*') - 'etag' AS deleted_row;
SELECT count(*) AS rows_left_with_id_4 FROM del_docs WHERE id = 4;

-- a stale ETag (row 3's, already deleted) and a weak tag of the current one: OC412,
-- and the row stays
SELECT etag AS etag5, del_docs::text AS snap5 FROM del_docs WHERE id = 5 \gset
SELECT state, message, hint
  FROM pg_temp.err(format('SELECT occ_delete_if_match(%L, 5, %L)', 'del_docs', :'etag3'));
SELECT state, message
  FROM pg_temp.err(format('SELECT occ_delete_if_match(%L, 5, %L)', 'del_docs',
                          'W/"' || :'etag5' || '"'));
SELECT del_docs::text = :'snap5' AS row_5_unchanged FROM del_docs WHERE id = 5;

-- * on a missing row: OC404
SELECT state, message, detail
  FROM pg_temp.err($$SELECT occ_delete_if_match('del_docs', 4, '*')$$);

-- NULL arguments: 22004, nothing deleted
SELECT state FROM pg_temp.err($$SELECT occ_delete(NULL, 5, 1)$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete('del_docs', NULL::int, 1)$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete('del_docs', 5, NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete_if_match(NULL, 5, '*')$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete_if_match('del_docs', NULL::int, '*')$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete_if_match('del_docs', 5, NULL)$$);
SELECT del_docs::text = :'snap5' AS row_5_unchanged FROM del_docs WHERE id = 5;

-- a table that is not enabled: 55000, nothing deleted
CREATE TABLE del_plain (id int PRIMARY KEY, title text);
INSERT INTO del_plain VALUES (1, 'plain');
SELECT state FROM pg_temp.err($$SELECT occ_delete('del_plain', 1, 1)$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete_if_match('del_plain', 1, '*')$$);
SELECT count(*) AS plain_rows FROM del_plain;

DROP TABLE del_docs, del_plain;
