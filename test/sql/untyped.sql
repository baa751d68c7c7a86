-- Untyped ids: drivers send bind parameters without a type (node-postgres for every
-- value, psycopg 3 for a str, pgx for a string, pgjdbc with stringtype=unspecified,
-- PREPARE without types, pgbench -M prepared). Every id-taking function takes such
-- an id through its text overload and reads it by the key column's type (a composite
-- key: as a JSON object); expected_version, if_match and patch may be untyped too.
-- Typed ids keep resolving to the "any" functions, and nothing is ambiguous. A value
-- the key's type cannot read is 22P02 and writes nothing.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE u_int (id int PRIMARY KEY, v text);
CREATE TABLE u_big (id bigint PRIMARY KEY, v text);
CREATE TABLE u_text (id text PRIMARY KEY, v text);
CREATE TABLE u_uuid (id uuid PRIMARY KEY, v text);
CREATE TABLE u_comp (region text, no int, v text, PRIMARY KEY (region, no));
INSERT INTO u_int VALUES (1, 'a'), (2, 'a'), (3, 'a');
INSERT INTO u_big VALUES (5000000000, 'a'), (5000000001, 'a');
INSERT INTO u_text VALUES ('abc', 'a'), ('def', 'a');
INSERT INTO u_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a'),
                          ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
INSERT INTO u_comp VALUES ('eu', 7, 'a'), ('eu', 8, 'a');
SELECT occ_enable('u_int'), occ_enable('u_big'), occ_enable('u_text'),
       occ_enable('u_uuid'), occ_enable('u_comp');

-- every argument untyped, as a driver sends them: PREPARE without types
PREPARE upd AS SELECT occ_update($1, $2, $3, $4) - 'etag';
PREPARE try AS SELECT occ_try_update($1, $2, $3, $4) #>> '{status}';
PREPARE upd_m AS SELECT occ_update_if_match($1, $2, $3, $4) - 'etag';
PREPARE del AS SELECT occ_delete($1, $2, $3) - 'etag';
PREPARE del_m AS SELECT occ_delete_if_match($1, $2, $3) - 'etag';
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name;

EXECUTE upd('u_int', '1', '1', '{"v":"int"}');
EXECUTE upd('u_big', '5000000000', '1', '{"v":"bigint"}');
EXECUTE upd('u_text', 'abc', '1', '{"v":"text"}');
EXECUTE upd('u_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1', '{"v":"uuid"}');
EXECUTE upd('u_comp', '{"region":"eu","no":7}', '1', '{"v":"composite"}');

-- a stale version through the untyped statement: OC409, nothing written
SELECT u_int::text AS snap FROM u_int WHERE id = 1 \gset
SELECT state, detail FROM pg_temp.err($$EXECUTE upd('u_int', '1', '1', '{"v":"stale"}')$$);
SELECT u_int::text = :'snap' AS unchanged FROM u_int WHERE id = 1;

EXECUTE try('u_int', '1', '2', '{"v":"try"}');
EXECUTE try('u_big', '5000000000', '1', '{"v":"stale try"}');
EXECUTE try('u_comp', '{"no":7,"region":"eu"}', '2', '{"v":"try"}');

SELECT etag AS e_text FROM u_text WHERE id = 'abc' \gset
EXECUTE upd_m('u_text', 'abc', :'e_text', '{"v":"if-match"}');
SELECT etag AS e_uuid FROM u_uuid WHERE id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' \gset
EXECUTE upd_m('u_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', :'e_uuid', '{"v":"if-match"}');

EXECUTE del('u_int', '2', '1');
EXECUTE del('u_comp', '{"region":"eu","no":8}', '1');
SELECT etag AS e_big FROM u_big WHERE id = 5000000001 \gset
EXECUTE del_m('u_big', '5000000001', :'e_big');
EXECUTE del_m('u_uuid', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '*');

SELECT id, version, v FROM u_int ORDER BY id;
SELECT id, version, v FROM u_big ORDER BY id;
SELECT id, version, v FROM u_text ORDER BY id;
SELECT id, version, v FROM u_uuid ORDER BY id;
SELECT region, no, version, v FROM u_comp ORDER BY region, no;

-- an id the key's type cannot read: 22P02, nothing written
SELECT string_agg(u_int::text, ';' ORDER BY id) AS snap_int FROM u_int \gset
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', 'abc', '3', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', '3.5', '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', '', '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE del('u_int', 'abc', '1')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_big', '99999999999999999999', '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_uuid', 'not-a-uuid', '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_comp', 'eu', '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_comp', '{"region":"eu"}', '1', '{"v":"x"}')$$);
-- a NULL id or version, untyped: 22004
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', NULL, '1', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', '3', NULL, '{"v":"x"}')$$);
-- an untyped version or patch is read as bigint and jsonb
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', '3', 'one', '{"v":"x"}')$$);
SELECT state, message FROM pg_temp.err($$EXECUTE upd('u_int', '3', '1', '{"v":')$$);
SELECT string_agg(u_int::text, ';' ORDER BY id) = :'snap_int' AS unchanged FROM u_int;

-- how calls resolve: typed ids of a type with no implicit cast to text (int, bigint,
-- uuid, json, jsonb) go to "any"; text, untyped literals and the string types (varchar,
-- char, name: implicit casts to text) go to the text overload, with the same result
CREATE FUNCTION pg_temp.resolved(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || call INTO plan;
    RETURN plan -> 0 -> 'Plan' -> 'Output' ->> 0;
END
$$;
SELECT pg_temp.resolved($$SELECT occ_update('u_int', 3, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_int', 3::bigint, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_int', '3', 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_int', '3'::text, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_text', 'abc'::varchar, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_comp', '{"region":"eu","no":7}'::jsonb, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update('u_comp', '{"region":"eu","no":7}'::json, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update_if_match('u_int', 3, '*', '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_update_if_match('u_int', '3', '*', '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_try_update('u_big', 5000000000, 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_try_update('u_big', '5000000000', 1, '{}')$$);
SELECT pg_temp.resolved($$SELECT occ_delete('u_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 1)$$);
SELECT pg_temp.resolved($$SELECT occ_delete('u_uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1)$$);
SELECT pg_temp.resolved($$SELECT occ_delete_if_match('u_comp', '{"region":"eu","no":7}'::jsonb, '*')$$);
SELECT pg_temp.resolved($$SELECT occ_delete_if_match('u_comp', '{"region":"eu","no":7}', '*')$$);

-- typed calls of every kind still work (none is ambiguous)
SELECT occ_update('u_int', 3, 1, '{"v":"int"}') ->> 'version' AS v_int,
       occ_update('u_int', 3::bigint, 2, '{"v":"bigint"}') ->> 'version' AS v_bigint,
       occ_update('u_int', '3'::text, 3, '{"v":"text"}') ->> 'version' AS v_text,
       occ_update('u_int', '3'::varchar, 4, '{"v":"varchar"}') ->> 'version' AS v_varchar;
SELECT occ_update('u_text', 'def'::varchar, 1, '{"v":"varchar"}') ->> 'version' AS v_varchar,
       occ_update('u_text', 'def'::name, 2, '{"v":"name"}') ->> 'version' AS v_name,
       occ_update('u_text', 'def'::char(3), 3, '{"v":"char"}') ->> 'version' AS v_char;
SELECT occ_update('u_comp', '{"region":"eu","no":7}'::json, 3, '{"v":"json"}') ->> 'version' AS v_json;
-- a varchar id now reads as text does: too long for a varchar(n) key is 22001
CREATE TABLE u_vc (id varchar(5) PRIMARY KEY, v text);
INSERT INTO u_vc VALUES ('abc', 'a');
SELECT occ_enable('u_vc');
SELECT occ_update('u_vc', 'abc'::varchar, 1, '{"v":"b"}') ->> 'version' AS v_varchar;
SELECT state, message FROM pg_temp.err($$SELECT occ_update('u_vc', 'abcdefgh'::varchar, 2, '{}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('u_vc', 'abcdefgh', 2, '{}')$$);

-- "char" casts to text implicitly but is no string type: its own overloads keep
-- a "char" id unambiguous (a "char" key, and a "char" id for an int key)
CREATE TABLE u_ch (id "char" PRIMARY KEY, v text);
INSERT INTO u_ch VALUES ('a', 'a');
SELECT occ_enable('u_ch');
SELECT pg_temp.resolved($$SELECT occ_update('u_ch', 'a'::"char", 1, '{}')$$);
SELECT occ_update('u_ch', 'a'::"char", 1, '{"v":"char"}') ->> 'version' AS v_char,
       occ_update('u_ch', 'a', 2, '{"v":"untyped"}') ->> 'version' AS v_untyped,
       occ_update('u_int', '3'::"char", 5, '{"v":"char"}') ->> 'version' AS v_int_by_char;
SELECT occ_try_update('u_ch', 'a'::"char", 3, '{}') ->> 'status' AS try_status,
       occ_update_if_match('u_ch', 'a'::"char", '*', '{}') ->> 'v' AS if_match_v;
SELECT occ_delete('u_ch', 'a'::"char", 3) ->> 'v' AS deleted;
SELECT occ_delete_if_match('u_int', '3'::"char", '*') ->> 'v' AS deleted;

-- the overloads: "any", text and "char" per id-taking function
SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p
 WHERE p.pronamespace = (SELECT extnamespace FROM pg_extension WHERE extname = 'occ')
   AND p.proname IN ('occ_update', 'occ_update_if_match', 'occ_try_update',
                     'occ_delete', 'occ_delete_if_match')
 ORDER BY 1, 2;

DEALLOCATE ALL;
DROP TABLE u_int, u_big, u_text, u_uuid, u_comp, u_vc, u_ch;
