-- version_input 'expected' and 'next': for ORMs that write the version themselves.
-- Every plain UPDATE must assign the version column: with 'expected' the version it
-- read, with 'next' the version it read plus one (Hibernate, Rails, SQLAlchemy). A
-- wrong value is OC409, no assignment OC428, and nothing is written; a correct one
-- works. INSERT always starts at the start version (the version column's constant
-- DEFAULT, else 1: see start_version), and occ_update keeps working.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

-- 'expected'
CREATE TABLE vi_exp (id int PRIMARY KEY, title text);
INSERT INTO vi_exp VALUES (1, 'a'), (2, 'b');
SELECT occ_enable('vi_exp', version_input => 'expected');
SELECT version_input FROM occ_tables WHERE table_name = 'vi_exp'::regclass;

-- assigning the version read: the update happens and the version is bumped
SELECT etag AS e1 FROM vi_exp WHERE id = 1 \gset
UPDATE vi_exp SET title = 'a2', version = 1 WHERE id = 1;
SELECT title, version, etag <> :'e1' AS etag_changed FROM vi_exp WHERE id = 1;
-- assigning a stale version: OC409
SELECT vi_exp::text AS snap, etag AS e2 FROM vi_exp WHERE id = 1 \gset
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = :'e2' AS detail_etag_is_current
  FROM pg_temp.err($$UPDATE vi_exp SET title = 'stale', version = 1 WHERE id = 1$$);
-- not assigning it: OC428
SELECT state, message, detail, hint, schema_name, table_name, column_name
  FROM pg_temp.err($$UPDATE vi_exp SET title = 'unversioned' WHERE id = 1$$);
\x off
SELECT state FROM pg_temp.err($$UPDATE vi_exp SET title = 'ahead', version = 3 WHERE id = 1$$);
SELECT vi_exp::text = :'snap' AS unchanged FROM vi_exp WHERE id = 1;
-- the version read, and no other change: nothing bumped
UPDATE vi_exp SET title = 'a2', version = 2 WHERE id = 1;
SELECT vi_exp::text = :'snap' AS unchanged FROM vi_exp WHERE id = 1;
-- the ORM's own check in the WHERE clause works alongside
WITH u AS (UPDATE vi_exp SET title = 'b2', version = 1
           WHERE id = 2 AND version = 1 RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
WITH u AS (UPDATE vi_exp SET title = 'b3', version = 1
           WHERE id = 2 AND version = 1 RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
SELECT title, version FROM vi_exp WHERE id = 2;
-- INSERT starts at 1 whatever is sent
INSERT INTO vi_exp (id, title, version) VALUES (3, 'c', 8);
INSERT INTO vi_exp (id, title) VALUES (4, 'd');
SELECT id, version FROM vi_exp WHERE id IN (3, 4) ORDER BY id;
-- occ_update and occ_update_if_match need no assignment from the caller
SELECT occ_update('vi_exp', 1, 2, '{"title":"patched"}') - 'etag' AS updated;
SELECT occ_update_if_match('vi_exp', 1, '*', '{"title":"matched"}') - 'etag' AS updated;
SELECT state FROM pg_temp.err($$SELECT occ_update('vi_exp', 1, 2, '{"title":"stale"}')$$);

-- 'next', on a Rails-style lock_version column that already has values
CREATE TABLE vi_next (id int PRIMARY KEY, title text, lock_version integer NOT NULL DEFAULT 0);
INSERT INTO vi_next VALUES (1, 'a', 0), (2, 'b', 0);
SELECT occ_enable('vi_next', version_column => 'lock_version', version_input => 'next');
SELECT version_column, version_input FROM occ_tables WHERE table_name = 'vi_next'::regclass;

-- the ORM's update: SET lock_version = read + 1 WHERE lock_version = read
SELECT etag AS e1 FROM vi_next WHERE id = 1 \gset
WITH u AS (UPDATE vi_next SET title = 'a1', lock_version = 1
           WHERE id = 1 AND lock_version = 0 RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
WITH u AS (UPDATE vi_next SET title = 'stale', lock_version = 1
           WHERE id = 1 AND lock_version = 0 RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
SELECT title, lock_version, etag <> :'e1' AS etag_changed FROM vi_next WHERE id = 1;
-- a wrong value: OC409 (the read version itself, or two ahead)
SELECT vi_next::text AS snap FROM vi_next WHERE id = 1 \gset
SELECT state, message, detail, column_name
  FROM pg_temp.err($$UPDATE vi_next SET title = 'x', lock_version = 1 WHERE id = 1$$);
SELECT state
  FROM pg_temp.err($$UPDATE vi_next SET title = 'x', lock_version = 3 WHERE id = 1$$);
-- no assignment: OC428, with the hint for 'next'
SELECT state, message, hint, column_name
  FROM pg_temp.err($$UPDATE vi_next SET title = 'x' WHERE id = 1$$);
SELECT vi_next::text = :'snap' AS unchanged FROM vi_next WHERE id = 1;
-- a correct assignment alone counts as a change (the ORM now holds read + 1)
SELECT etag AS e2 FROM vi_next WHERE id = 1 \gset
UPDATE vi_next SET lock_version = lock_version + 1 WHERE id = 1;
SELECT lock_version, etag <> :'e2' AS etag_changed FROM vi_next WHERE id = 1;
-- INSERT starts at the column's DEFAULT, 0, whatever is sent
INSERT INTO vi_next (id, title, lock_version) VALUES (3, 'c', 5);
SELECT lock_version FROM vi_next WHERE id = 3;
-- occ_update works, and bumps by one
SELECT occ_update('vi_next', 1, 2, '{"title":"patched"}') - 'etag' AS updated;
SELECT occ_delete('vi_next', 2, 0) - 'etag' AS deleted;

-- back to 'ignore': plain UPDATEs need no assignment again
SELECT occ_enable('vi_next', version_column => 'lock_version');
UPDATE vi_next SET title = 'free' WHERE id = 1;
SELECT title, lock_version FROM vi_next WHERE id = 1;

DROP TABLE vi_exp, vi_next;
