-- Keys: id is the primary key's value, converted to the key's type: int, bigint,
-- text and uuid keys take a value of their type, an untyped literal, or another type
-- (an int for a bigint key); a composite key takes a jsonb object naming every key
-- column. Errors show the key as JSON in MESSAGE and DETAIL.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE k_int (id int PRIMARY KEY, v text);
CREATE TABLE k_big (id bigint PRIMARY KEY, v text);
CREATE TABLE k_text (id text PRIMARY KEY, v text);
CREATE TABLE k_uuid (id uuid PRIMARY KEY, v text);
CREATE TABLE k_comp (region text, no int, v text, PRIMARY KEY (region, no));
INSERT INTO k_int VALUES (1, 'a'), (2, 'a');
INSERT INTO k_big VALUES (5, 'a'), (5000000000, 'a');
INSERT INTO k_text VALUES ('abc', 'a'), ('say "hi"', 'a');
INSERT INTO k_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
INSERT INTO k_comp VALUES ('eu', 7, 'a'), ('eu', 8, 'a'), ('us', 7, 'a');
SELECT occ_enable('k_int'), occ_enable('k_big'), occ_enable('k_text'),
       occ_enable('k_uuid'), occ_enable('k_comp');

-- int key: an int, an untyped literal, a bigint, a text value
SELECT occ_update('k_int', 1, 1, '{"v":"int"}') - 'etag' AS updated;
SELECT occ_update('k_int', '1', 2, '{"v":"untyped"}') - 'etag' AS updated;
SELECT occ_update('k_int', 1::bigint, 3, '{"v":"bigint"}') - 'etag' AS updated;
SELECT occ_update('k_int', '1'::text, 4, '{"v":"text"}') - 'etag' AS updated;
SELECT id, version, v FROM k_int ORDER BY id;

-- bigint key: an int, a bigint, an untyped literal
SELECT occ_update('k_big', 5, 1, '{"v":"int"}') - 'etag' AS updated;
SELECT occ_update('k_big', 5000000000, 1, '{"v":"bigint"}') - 'etag' AS updated;
SELECT occ_update('k_big', '5000000000', 2, '{"v":"untyped"}') - 'etag' AS updated;
SELECT id, version, v FROM k_big ORDER BY id;

-- text key: an untyped literal, text, varchar
SELECT occ_update('k_text', 'abc', 1, '{"v":"untyped"}') - 'etag' AS updated;
SELECT occ_update('k_text', 'abc'::text, 2, '{"v":"text"}') - 'etag' AS updated;
SELECT occ_update('k_text', 'say "hi"'::varchar, 1, '{"v":"varchar"}') - 'etag' AS updated;
SELECT id, version, v FROM k_text ORDER BY id;

-- uuid key: an untyped literal, a uuid, text
SELECT occ_update('k_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1, '{"v":"untyped"}')
       - 'etag' AS updated;
SELECT occ_update('k_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 2, '{"v":"uuid"}')
       - 'etag' AS updated;
SELECT occ_update('k_uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::text, 3, '{"v":"text"}')
       - 'etag' AS updated;
SELECT id, version, v FROM k_uuid;

-- composite key: a jsonb object (in any key order), a json object, an untyped literal
SELECT occ_update('k_comp', '{"region":"eu","no":7}'::jsonb, 1, '{"v":"jsonb"}')
       - 'etag' AS updated;
SELECT occ_update('k_comp', '{"no":7,"region":"eu"}'::jsonb, 2, '{"v":"reordered"}')
       - 'etag' AS updated;
SELECT occ_update('k_comp', '{"region":"eu","no":7}'::json, 3, '{"v":"json"}')
       - 'etag' AS updated;
SELECT occ_update('k_comp', '{"region":"eu","no":7}', 4, '{"v":"untyped"}')
       - 'etag' AS updated;
SELECT region, no, version, v FROM k_comp ORDER BY region, no;

-- occ_delete and occ_delete_if_match convert the key the same way
SELECT occ_delete('k_int', '2', 1) - 'etag' AS deleted;
SELECT occ_delete('k_big', 5, 2) - 'etag' AS deleted;
SELECT occ_delete_if_match('k_comp', '{"region":"us","no":7}'::jsonb, '*') - 'etag' AS deleted;
SELECT (SELECT count(*) FROM k_int) AS k_int_rows, (SELECT count(*) FROM k_big) AS k_big_rows,
       (SELECT count(*) FROM k_comp) AS k_comp_rows;

-- the key as MESSAGE and DETAIL show it: a JSON number, string or object
SELECT message, detail FROM pg_temp.err($$SELECT occ_update('k_int', 99, 1, '{}')$$);
SELECT message, detail FROM pg_temp.err($$SELECT occ_update('k_big', 6000000000, 1, '{}')$$);
SELECT message, detail FROM pg_temp.err($$SELECT occ_update('k_text', 'nope', 1, '{}')$$);
SELECT message, detail FROM pg_temp.err($$SELECT occ_update('k_text', 'say "hi"', 9, '{}')$$);
SELECT message, detail
  FROM pg_temp.err($$SELECT occ_update('k_uuid', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                                       1, '{}')$$);
SELECT message, detail
  FROM pg_temp.err($$SELECT occ_update('k_comp', '{"no":9,"region":"eu"}'::jsonb, 1, '{}')$$);

-- ids that cannot be converted: the input function's code for a scalar key, 22023
-- for a composite key not given as an object naming exactly its columns
SELECT state FROM pg_temp.err($$SELECT occ_update('k_int', 'abc', 1, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_int', 5000000000, 1, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_uuid', 'not-a-uuid', 1, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_comp', '{"region":"eu"}'::jsonb, 5, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_comp', '{"region":"eu","no":7,"x":1}'::jsonb, 5, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_comp', '["eu",7]'::jsonb, 5, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_comp', 7, 5, '{}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('k_comp', '{"region":"eu","no":"seven"}'::jsonb, 5, '{}')$$);
SELECT region, no, version, v FROM k_comp ORDER BY region, no;

DROP TABLE k_int, k_big, k_text, k_uuid, k_comp;
