-- Schema changes after occ_enable are seen at once, in the same session: a dropped,
-- added, renamed or retyped column, and a new primary key, change what a patch may
-- name and how its values convert and how the key is found.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE ddl_docs (id int PRIMARY KEY, a text, b text, c int);
INSERT INTO ddl_docs VALUES (1, 'a', 'b', 1);
SELECT occ_enable('ddl_docs');
SELECT occ_update('ddl_docs', 1, 1, '{"a":"a2"}') - 'etag' AS updated;

-- a dropped column is gone from patches and from the returned row
ALTER TABLE ddl_docs DROP COLUMN b;
SELECT occ_update('ddl_docs', 1, 2, '{"a":"a3"}') - 'etag' AS updated;
SELECT state FROM pg_temp.err($$SELECT occ_update('ddl_docs', 1, 3, '{"b":"x"}')$$);

-- an added column can be patched at once
ALTER TABLE ddl_docs ADD COLUMN d jsonb;
SELECT occ_update('ddl_docs', 1, 3, '{"d":{"x":1}}') - 'etag' AS updated;

-- a renamed column answers to its new name only
ALTER TABLE ddl_docs RENAME COLUMN a TO aa;
SELECT occ_update('ddl_docs', 1, 4, '{"aa":"renamed"}') - 'etag' AS updated;
SELECT state FROM pg_temp.err($$SELECT occ_update('ddl_docs', 1, 5, '{"a":"old"}')$$);

-- a column of a new type converts values to that type (the session converted
-- values for the old type just before)
SELECT state, message FROM pg_temp.err($$SELECT occ_update('ddl_docs', 1, 5, '{"c":"not an int"}')$$);
ALTER TABLE ddl_docs ALTER COLUMN c TYPE text;
SELECT occ_update('ddl_docs', 1, 5, '{"c":"now text"}') - 'etag' AS updated;

-- plain SQL goes on bumping
UPDATE ddl_docs SET aa = 'plain';
SELECT id, aa, c, d, version FROM ddl_docs;

-- a renamed table is still enabled under its new name
ALTER TABLE ddl_docs RENAME TO ddl_renamed;
SELECT occ_update('ddl_renamed', 1, 7, '{"aa":"x"}') - 'etag' AS updated;
SELECT table_name FROM occ_tables WHERE table_name = 'ddl_renamed'::regclass;

-- a new primary key: ids are looked up by it, and the old key column can be patched
CREATE TABLE ddl_keys (id int PRIMARY KEY, code text NOT NULL);
INSERT INTO ddl_keys VALUES (1, 'one');
SELECT occ_enable('ddl_keys');
SELECT occ_update('ddl_keys', 1, 1, '{"code":"uno"}') - 'etag' AS updated;
ALTER TABLE ddl_keys DROP CONSTRAINT ddl_keys_pkey;
SELECT state FROM pg_temp.err($$SELECT occ_update('ddl_keys', 1, 2, '{"code":"x"}')$$);
ALTER TABLE ddl_keys ADD PRIMARY KEY (code);
SELECT occ_update('ddl_keys', 'uno', 2, '{"id":5}') - 'etag' AS updated;
SELECT state FROM pg_temp.err($$SELECT occ_update('ddl_keys', 'uno', 3, '{"code":"x"}')$$);
SELECT table_name, key_columns FROM occ_tables WHERE table_name = 'ddl_keys'::regclass;

DROP TABLE ddl_renamed, ddl_keys;

-- a constraint added to a domain applies to the next patch of a column of that
-- domain, in the same session
CREATE DOMAIN ddl_small AS int;
CREATE TABLE ddl_dom (id int PRIMARY KEY, n ddl_small);
INSERT INTO ddl_dom VALUES (1, 1);
SELECT occ_enable('ddl_dom');
SELECT occ_update('ddl_dom', 1, 1, '{"n":50}') ->> 'n' AS n;
ALTER DOMAIN ddl_small ADD CONSTRAINT ddl_small_check CHECK (VALUE < 10) NOT VALID;
SELECT state, message FROM pg_temp.err($$SELECT occ_update('ddl_dom', 1, 2, '{"n":60}')$$);
SELECT occ_update('ddl_dom', 1, 2, '{"n":5}') ->> 'n' AS n;
DROP TABLE ddl_dom;
DROP DOMAIN ddl_small;
