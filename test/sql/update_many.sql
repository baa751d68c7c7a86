-- occ_update_many(tbl, changes): applies an array of {"id", "version", "patch"}
-- changes all or nothing and returns the new rows in the order of the input. Rows
-- are locked in key order (see test/specs/batch_deadlock.spec). When items fail,
-- one error is raised: OC409 if any item conflicts, else OC404, whose DETAIL lists
-- every failing item in input order. Malformed items and bad patches are refused
-- before anything is written.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); every current_etag in DETAIL is shown as <etag>,
-- and they are returned in detail_etags so that they can be compared with the rows'.
CREATE FUNCTION pg_temp.err(stmt text,
    OUT state text, OUT message text, OUT detail text, OUT hint text,
    OUT schema_name text, OUT table_name text, OUT column_name text,
    OUT detail_etags text[])
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
        detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT,
        schema_name = SCHEMA_NAME, table_name = TABLE_NAME,
        column_name = COLUMN_NAME;
    detail_etags := ARRAY(SELECT m[1] FROM regexp_matches(detail,
                              '"current_etag":"([^"]*)"', 'g') AS m);
    detail := regexp_replace(detail, '"current_etag":"[A-Za-z0-9_-]{24}"',
                             '"current_etag":"<etag>"', 'g');
END
$$;

CREATE TABLE d (id int PRIMARY KEY, title text, n int);
INSERT INTO d SELECT g, 'row ' || g, g FROM generate_series(1, 5) AS g;
SELECT occ_enable('d');

-- every item applies: the new rows come back in the order of the input (not the
-- key order); an empty patch, or one that changes nothing, returns the row unbumped
SELECT ord, r - 'etag' AS result
  FROM occ_update_many('d', '[{"id":3,"version":1,"patch":{"title":"three"}},
                              {"id":1,"version":1,"patch":{"n":10}},
                              {"id":5,"version":1,"patch":{}},
                              {"id":4,"version":1,"patch":{"title":"row 4"}}]')
       WITH ORDINALITY AS t(r, ord);
SELECT id, title, n, version FROM d ORDER BY id;
-- the returned rows are the stored ones, ETag included
SELECT r AS r2 FROM occ_update_many('d', '[{"id":2,"version":1,"patch":{"n":20}}]') AS r \gset
SELECT :'r2'::jsonb = to_jsonb(d) AS row_is_stored FROM d WHERE id = 2;
-- an empty batch does nothing
SELECT count(*) AS results FROM occ_update_many('d', '[]');

-- all or nothing: one stale item and no item is written
SELECT string_agg(d::text, ' ' ORDER BY id) AS snap FROM d \gset
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"title":"one"}},
                                         {"id":3,"version":1,"patch":{"title":"stale"}}]')$$);
SELECT string_agg(d::text, ' ' ORDER BY id) = :'snap' AS nothing_written FROM d;

-- the error lists every failing item, not just the first, in input order: index in
-- the input, status, key, and for a conflict the versions and current ETag
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etags = ARRAY(SELECT etag FROM d WHERE id IN (3, 2) ORDER BY id DESC)
       AS detail_etags_are_current
  FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":3,"version":1,"patch":{"title":"stale"}},
                                         {"id":1,"version":2,"patch":{"title":"fine"}},
                                         {"id":9,"version":1,"patch":{"title":"gone"}},
                                         {"id":2,"version":1,"patch":{"title":"stale"}}]')$$);
-- only missing rows: OC404
SELECT state, message, detail, hint, schema_name, table_name, column_name
  FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"title":"fine"}},
                                         {"id":8,"version":1,"patch":{"title":"gone"}}]')$$);
\x off
SELECT message, detail FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":8,"version":1,"patch":{}},
                                         {"id":7,"version":1,"patch":{}}]')$$);
-- the DETAIL of a batch and of its items, key by key
SELECT json_object_keys(detail::json) AS batch_detail_keys
  FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":3,"version":1,"patch":{}}]')$$);
SELECT json_object_keys(detail::json -> 'items' -> 0) AS conflict_item_keys
  FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":3,"version":1,"patch":{}}]')$$);
SELECT json_object_keys(detail::json -> 'items' -> 0) AS not_found_item_keys
  FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":8,"version":1,"patch":{}}]')$$);
-- a caller can catch the whole batch with WHEN SQLSTATE 'OC000'
DO $$
BEGIN
    PERFORM occ_update_many('d', '[{"id":3,"version":1,"patch":{"n":0}}]');
EXCEPTION WHEN SQLSTATE 'OC000' THEN
    RAISE NOTICE 'caught %', SQLSTATE;
END
$$;
SELECT string_agg(d::text, ' ' ORDER BY id) = :'snap' AS nothing_written FROM d;

-- field granularity: each item merges as occ_update would; a conflicting item's
-- entry names its changed and conflicting fields
CREATE TABLE df (id int PRIMARY KEY, title text, body text);
INSERT INTO df VALUES (1, 'a', 'a'), (2, 'b', 'b');
SELECT occ_enable('df', granularity => 'field');
SELECT occ_update('df', 1, 1, '{"title":"A"}') -> 'version' AS v1,
       occ_update('df', 2, 1, '{"title":"B"}') -> 'version' AS v2;
SELECT r - 'etag' - 'field_versions' AS merged
  FROM occ_update_many('df', '[{"id":2,"version":1,"patch":{"body":"bb"}},
                               {"id":1,"version":1,"patch":{"body":"aa","title":"A"}}]') AS r;
SELECT state, detail FROM pg_temp.err($$
    SELECT * FROM occ_update_many('df', '[{"id":1,"version":1,"patch":{"title":"x"}},
                                          {"id":2,"version":3,"patch":{"title":"y"}}]')$$);
SELECT id, title, body, version FROM df ORDER BY id;

-- a composite key: ids are objects naming the key columns, and so are the keys in
-- the DETAIL
CREATE TABLE dc (region text, no int, title text, PRIMARY KEY (region, no));
INSERT INTO dc VALUES ('eu', 1, 'x'), ('us', 1, 'y');
SELECT occ_enable('dc');
SELECT r - 'etag' AS result
  FROM occ_update_many('dc', '[{"id":{"region":"us","no":1},"version":1,"patch":{"title":"Y"}},
                               {"id":{"no":1,"region":"eu"},"version":1,"patch":{"title":"X"}}]') AS r;
SELECT detail FROM pg_temp.err($$
    SELECT * FROM occ_update_many('dc', '[{"id":{"region":"eu","no":1},"version":1,"patch":{}},
                                          {"id":{"region":"eu","no":2},"version":1,"patch":{}}]')$$);

-- malformed input is refused before anything is written
SELECT string_agg(d::text, ' ' ORDER BY id) AS snap FROM d \gset
-- changes that are not an array, an item that is not an object: 22023
SELECT state, message FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '{"id":1}')$$);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '3')$$);
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}}, [2, 1, {}]]')$$);
-- an item without id, version or patch: 22023
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2}]')$$);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"version":2,"patch":{}}]')$$);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":1,"patch":{}}]')$$);
-- a version that is not a number: 22023
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":1,"version":"2","patch":{}}]')$$);
-- a null id, version or patch, or a NULL argument: 22004
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":null,"version":2,"patch":{}}]')$$);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":1,"version":null,"patch":{}}]')$$);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":null}]')$$);
SELECT state, message FROM pg_temp.err($$SELECT * FROM occ_update_many(NULL, '[]')$$);
SELECT state, message FROM pg_temp.err($$SELECT * FROM occ_update_many('d', NULL)$$);
-- the same row twice (however the key is spelled): 22023
SELECT state, message, detail FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":2,"version":2,"patch":{"n":2}},
                                         {"id":"1","version":2,"patch":{"n":3}}]')$$);
-- a patch that is not an object (22023), names no column (42703) or an occ or key
-- column (428C9), even in an item after good ones and for a row that does not exist
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":9,"version":1,"patch":"n"}]')$$);
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":9,"version":1,"patch":{"nope":1}}]')$$);
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":9,"version":1,"patch":{"etag":"x"}}]')$$);
SELECT state FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":9,"version":1,"patch":{"id":10}}]')$$);
-- a key or value that does not convert: the input function's code
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":"one","version":2,"patch":{}}]')$$);
SELECT state, message FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d', '[{"id":1,"version":2,"patch":{"n":1}},
                                         {"id":2,"version":2,"patch":{"n":"many"}}]')$$);
-- a composite key needs an object: 22023
SELECT state FROM pg_temp.err($$
    SELECT * FROM occ_update_many('dc', '[{"id":"eu","version":1,"patch":{}}]')$$);
-- a table that is not enabled: 55000
CREATE TABLE d_plain (id int PRIMARY KEY, n int);
INSERT INTO d_plain VALUES (1, 1);
SELECT state FROM pg_temp.err($$
    SELECT * FROM occ_update_many('d_plain', '[{"id":1,"version":1,"patch":{"n":2}}]')$$);
SELECT string_agg(d::text, ' ' ORDER BY id) = :'snap' AS nothing_written FROM d;
SELECT n FROM d_plain;

DROP TABLE d, df, dc, d_plain;
