-- Errors. Conflicts use the class OC (the last three digits are the HTTP status):
-- each carries a MESSAGE naming table and key, a one-line JSON DETAIL, a HINT and the
-- schema/table/column diagnostic fields, and WHEN SQLSTATE 'OC000' catches them all.
-- Bad input gets PostgreSQL's own codes. No failed call writes anything.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE docs (id int PRIMARY KEY, title text, n int,
                   twice int GENERATED ALWAYS AS (n * 2) STORED);
INSERT INTO docs (id, title, n) VALUES (42, 'hello', 1);
SELECT occ_enable('docs');
SELECT occ_update('docs', 42, 1, '{"title":"hello again"}') -> 'version' AS version;
SELECT docs::text AS snap, etag AS etag42 FROM docs WHERE id = 42 \gset

\x on
-- OC409: the row exists, its version is not the expected one
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = :'etag42' AS detail_etag_is_current
  FROM pg_temp.err($$SELECT occ_update('docs', 42, 1, '{"title":"stale"}')$$);

-- OC412: the ETag does not match
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = :'etag42' AS detail_etag_is_current
  FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, 'AAAAAAAAAAAAAAAAAAAAAAAA',
                                                '{"title":"stale"}')$$);

-- OC404: no such row; DETAIL holds only table and key, never a version
SELECT state, message, detail, hint, schema_name, table_name, column_name
  FROM pg_temp.err($$SELECT occ_update('docs', 7, 1, '{"title":"x"}')$$);

-- OC428: with version_input 'expected', a plain UPDATE that does not assign the
-- version column
\x off
SELECT occ_enable('docs', version_input => 'expected');
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = :'etag42' AS detail_etag_is_current
  FROM pg_temp.err($$UPDATE docs SET title = 'unversioned' WHERE id = 42$$);
-- with 'next' the hint asks for the version read plus one
\x off
SELECT occ_enable('docs', version_input => 'next');
\x on
SELECT state, message, hint
  FROM pg_temp.err($$UPDATE docs SET title = 'unversioned' WHERE id = 42$$);
\x off
SELECT occ_enable('docs');

-- the DETAIL is one line of compact JSON, its keys in the documented order
SELECT json_object_keys(detail::json) AS oc409_detail_keys
  FROM pg_temp.err($$SELECT occ_update('docs', 42, 1, '{"title":"stale"}')$$);
SELECT json_object_keys(detail::json) AS oc412_detail_keys
  FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, 'AAAAAAAAAAAAAAAAAAAAAAAA',
                                                '{"title":"stale"}')$$);
SELECT json_object_keys(detail::json) AS oc404_detail_keys
  FROM pg_temp.err($$SELECT occ_update('docs', 7, 1, '{"title":"x"}')$$);

-- WHEN SQLSTATE 'OC000' catches every conflict, and nothing else
CREATE FUNCTION pg_temp.caught(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION
    WHEN SQLSTATE 'OC000' THEN RETURN 'class OC: ' || SQLSTATE;
    WHEN OTHERS THEN RETURN 'other: ' || SQLSTATE;
END
$$;
SELECT pg_temp.caught($$SELECT occ_update('docs', 42, 1, '{"title":"x"}')$$);
SELECT pg_temp.caught($$SELECT occ_update_if_match('docs', 42, 'nope', '{"title":"x"}')$$);
SELECT pg_temp.caught($$SELECT occ_update('docs', 7, 1, '{"title":"x"}')$$);
SELECT pg_temp.caught($$SELECT occ_delete('docs', 42, 1)$$);
SELECT pg_temp.caught($$SELECT occ_update('docs', 42, 2, '{"nope":1}')$$);

-- bad input gets PostgreSQL's own codes
-- a patch key that is not a column: 42703
SELECT state, message
  FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","nope":1}')$$);
-- a patch that sets version, etag, a key column or a generated column: 428C9
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","version":3}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","etag":"e"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","id":43}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","twice":4}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, '*', '{"version":9}')$$);
-- a patch that is not an object: 22023
SELECT state, message FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '[{"title":"x"}]')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '"x"')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '1')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, 'null')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, '*', '[]')$$);
-- a NULL argument: 22004
SELECT state FROM pg_temp.err($$SELECT occ_update(NULL, 42, 2, '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('docs', NULL::int, 2, '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('docs', 42, NULL, '{"title":"x"}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match(NULL, 42, '*', '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs', NULL::int, '*', '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, NULL, '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs', 42, '*', NULL)$$);
-- a value that does not convert: the input function's own code
SELECT state, message
  FROM pg_temp.err($$SELECT occ_update('docs', 42, 2, '{"title":"x","n":"many"}')$$);
-- a table that is not enabled: 55000
CREATE TABLE docs_plain (id int PRIMARY KEY, title text);
INSERT INTO docs_plain VALUES (42, 'plain');
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_update('docs_plain', 42, 1, '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('docs_plain', 42, '*', '{"title":"x"}')$$);
SELECT title FROM docs_plain;

-- none of the failed calls above wrote anything
SELECT docs::text = :'snap' AS unchanged FROM docs WHERE id = 42;
-- while the same patch without the bad part goes through
SELECT occ_update('docs', 42, 2, '{"title":"x","n":5}') - 'etag' AS updated;

DROP TABLE docs, docs_plain;
