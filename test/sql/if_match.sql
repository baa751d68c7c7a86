-- occ_update_if_match: the update is conditioned on the row's ETag, given as an HTTP
-- If-Match header carries it: bare, double-quoted, a comma-separated list, or * (any
-- existing row). A weak tag W/"..." never matches. A mismatch is OC412 and writes
-- nothing; a missing row is OC404.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE im_docs (id int PRIMARY KEY, title text);
INSERT INTO im_docs VALUES (1, 'a'), (2, 'b');
SELECT occ_enable('im_docs');

-- the bare ETag: the update happens and the new row (new version, new ETag) returns
SELECT etag AS e1 FROM im_docs WHERE id = 1 \gset
SELECT occ_update_if_match('im_docs', 1, :'e1', '{"title":"bare"}') AS r \gset
SELECT :'r'::jsonb - 'etag' AS returned,
       etag = :'r'::jsonb ->> 'etag' AS returned_etag_is_stored,
       etag <> :'e1' AS etag_changed
  FROM im_docs WHERE id = 1;

-- the old ETag is now stale: OC412, nothing written
SELECT im_docs::text AS snap FROM im_docs WHERE id = 1 \gset
SELECT state, message
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)',
                          'im_docs', :'e1', '{"title":"stale"}'));
SELECT im_docs::text = :'snap' AS unchanged FROM im_docs WHERE id = 1;

-- double-quoted, as the header carries it
SELECT etag AS e2 FROM im_docs WHERE id = 1 \gset
SELECT occ_update_if_match('im_docs', 1, '"' || :'e2' || '"', '{"title":"quoted"}')
       - 'etag' AS returned;

-- a list that holds the current ETag among others
SELECT etag AS e3 FROM im_docs WHERE id = 1 \gset
SELECT occ_update_if_match('im_docs', 1, format('"%s", "%s", "%s"', :'e1', :'e3', :'e2'),
                           '{"title":"listed"}') - 'etag' AS returned;
SELECT etag AS e4 FROM im_docs WHERE id = 1 \gset
SELECT occ_update_if_match('im_docs', 1, format('%s,%s', :'e2', :'e4'),
                           '{"title":"bare list"}') - 'etag' AS returned;
-- a list without it: OC412
SELECT im_docs::text AS snap FROM im_docs WHERE id = 1 \gset
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)', 'im_docs',
                          format('"%s", "%s"', :'e1', :'e4'), '{"title":"x"}'));
SELECT im_docs::text = :'snap' AS unchanged FROM im_docs WHERE id = 1;

-- *: any existing row
SELECT occ_update_if_match('im_docs', 1, '*', '{"title":"star"}') - 'etag' AS returned;

-- a weak tag never matches, even the current ETag: OC412, nothing written
SELECT etag AS e6, im_docs::text AS snap FROM im_docs WHERE id = 1 \gset
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)', 'im_docs',
                          'W/"' || :'e6' || '"', '{"title":"weak"}'));
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)', 'im_docs',
                          'W/' || :'e6', '{"title":"weak"}'));
SELECT im_docs::text = :'snap' AS unchanged FROM im_docs WHERE id = 1;
-- ... but a strong tag next to it in the list does
SELECT occ_update_if_match('im_docs', 1, format('W/"%s", "%s"', :'e6', :'e6'),
                           '{"title":"strong wins"}') - 'etag' AS returned;

-- another row's ETag does not match this row
SELECT etag AS other FROM im_docs WHERE id = 2 \gset
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)',
                          'im_docs', :'other', '{"title":"x"}'));

-- an empty patch with the right ETag returns the row and bumps nothing; with a wrong
-- one it is still OC412
SELECT etag AS e7, version AS v7 FROM im_docs WHERE id = 1 \gset
SELECT occ_update_if_match('im_docs', 1, :'e7', '{}') AS r \gset
SELECT (:'r'::jsonb -> 'version')::bigint = :v7 AS version_kept,
       :'r'::jsonb ->> 'etag' = :'e7' AS etag_kept,
       version = :v7 AND etag = :'e7' AS row_kept
  FROM im_docs WHERE id = 1;
SELECT state
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 1, %L, %L)',
                          'im_docs', :'e1', '{}'));

-- a missing row: OC404, whether the ETag is a real one or *
SELECT state, detail
  FROM pg_temp.err(format('SELECT occ_update_if_match(%L, 3, %L, %L)',
                          'im_docs', :'e7', '{"title":"x"}'));
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update_if_match('im_docs', 3, '*', '{"title":"x"}')$$);

SELECT id, version, title FROM im_docs ORDER BY id;

DROP TABLE im_docs;
