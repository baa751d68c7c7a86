-- occ_enable opts a table in: it adds the missing version (bigint NOT NULL) and etag
-- (text) columns, backfills them, and installs the trigger; an existing integer or
-- bigint version column keeps its values; granularity 'field' adds a field_versions
-- (jsonb) column as well. It is idempotent, reconfigures when called with other
-- options, and checks its arguments. occ_disable removes the trigger and keeps the
-- columns. occ_tables lists the enabled tables.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

-- a table with rows and neither column
CREATE TABLE en_docs (id int PRIMARY KEY, title text);
INSERT INTO en_docs VALUES (1, 'one'), (2, 'two'), (3, 'one');
SELECT occ_enable('en_docs');

-- the two columns were added with the contract's types
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'en_docs'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;

-- and backfilled: version 1, a well-formed ETag, a different one for every row
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM en_docs ORDER BY id;
SELECT count(DISTINCT etag) AS distinct_etags FROM en_docs;

-- the trigger is installed, BEFORE INSERT OR UPDATE FOR EACH ROW
SELECT tgname, tgtype & 1 = 1 AS for_each_row, tgtype & 2 = 2 AS before,
       tgtype & 4 = 4 AS on_insert, tgtype & 16 = 16 AS on_update,
       tgtype & 8 = 8 AS on_delete
  FROM pg_trigger WHERE tgrelid = 'en_docs'::regclass AND NOT tgisinternal;

-- occ_tables shows it with its options
SELECT * FROM occ_tables WHERE table_name = 'en_docs'::regclass;

-- calling it again with the same options changes nothing: same versions and ETags,
-- still one trigger and one occ_tables row
CREATE TEMP TABLE en_before AS SELECT id, version, etag FROM en_docs;
SELECT occ_enable('en_docs');
SELECT count(*) AS rows_unchanged
  FROM en_docs d JOIN en_before b USING (id, version, etag);
SELECT count(*) AS triggers
  FROM pg_trigger WHERE tgrelid = 'en_docs'::regclass AND NOT tgisinternal;
SELECT count(*) AS occ_tables_rows FROM occ_tables WHERE table_name = 'en_docs'::regclass;

-- calling it with other options reconfigures, without touching the rows
SELECT occ_enable('en_docs', version_input => 'next');
SELECT table_name, version_input FROM occ_tables WHERE table_name = 'en_docs'::regclass;
SELECT count(*) AS rows_unchanged
  FROM en_docs d JOIN en_before b USING (id, version, etag);
-- ... and the new option is in force: an UPDATE that does not assign the version
-- now gives OC428
SELECT state FROM pg_temp.err($$UPDATE en_docs SET title = 'x' WHERE id = 1$$);
SELECT occ_enable('en_docs', version_input => 'ignore');
SELECT table_name, version_input FROM occ_tables WHERE table_name = 'en_docs'::regclass;
UPDATE en_docs SET title = 'uno' WHERE id = 1;
SELECT id, version FROM en_docs WHERE id = 1;

-- occ_disable removes the trigger and keeps the columns and their data
SELECT occ_disable('en_docs');
SELECT count(*) AS triggers
  FROM pg_trigger WHERE tgrelid = 'en_docs'::regclass AND NOT tgisinternal;
SELECT count(*) AS occ_tables_rows FROM occ_tables WHERE table_name = 'en_docs'::regclass;
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM en_docs ORDER BY id;
-- writes are plain again: no bump, and occ_update refuses the table (55000)
SELECT etag AS etag2 FROM en_docs WHERE id = 2 \gset
UPDATE en_docs SET title = 'dos' WHERE id = 2;
SELECT version, etag = :'etag2' AS etag_kept FROM en_docs WHERE id = 2;
SELECT state FROM pg_temp.err($$SELECT occ_update('en_docs', 2, 1, '{"title":"x"}')$$);
-- disabling a table that is not enabled is harmless
SELECT occ_disable('en_docs');

-- enabling again keeps the versions and gives every row a fresh ETag (rows may have
-- changed while it was disabled)
TRUNCATE en_before;
INSERT INTO en_before SELECT id, version, etag FROM en_docs;
SELECT occ_enable('en_docs');
SELECT d.id, d.version = b.version AS version_kept, d.etag <> b.etag AS etag_fresh,
       d.etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM en_docs d JOIN en_before b USING (id) ORDER BY d.id;
UPDATE en_docs SET title = 'two' WHERE id = 2;
SELECT id, version FROM en_docs WHERE id = 2;

-- an existing integer version column (an ORM's lock_version) keeps its values and
-- its type; an existing etag column gets real ETags
CREATE TABLE en_orm (id bigint PRIMARY KEY, title text,
                     lock_version integer NOT NULL DEFAULT 0, etag text);
INSERT INTO en_orm VALUES (1, 'a', 0, 'forged'), (2, 'b', 7, NULL);
SELECT occ_enable('en_orm', version_column => 'lock_version');
SELECT id, lock_version, pg_typeof(lock_version) AS type,
       etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM en_orm ORDER BY id;
SELECT count(*) AS version_columns_added
  FROM pg_attribute WHERE attrelid = 'en_orm'::regclass AND attname = 'version';
SELECT * FROM occ_tables WHERE table_name = 'en_orm'::regclass;
UPDATE en_orm SET title = 'bb' WHERE id = 2;
SELECT id, lock_version FROM en_orm ORDER BY id;

-- an existing bigint version column keeps its values too
CREATE TABLE en_big (id int PRIMARY KEY, title text, version bigint NOT NULL);
INSERT INTO en_big VALUES (1, 'a', 41);
SELECT occ_enable('en_big');
SELECT id, version FROM en_big;
SELECT occ_update('en_big', 1, 41, '{"title":"b"}') -> 'version' AS new_version;

-- custom column names, a composite key and an empty table
CREATE TABLE en_comp (region text, no int, title text, PRIMARY KEY (no, region));
SELECT occ_enable('en_comp', version_column => 'rev', etag_column => 'tag');
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'en_comp'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT * FROM occ_tables WHERE table_name = 'en_comp'::regclass;
INSERT INTO en_comp VALUES ('eu', 1, 'x');
SELECT rev, tag ~ '^[A-Za-z0-9_-]{24}$' AS tag_ok FROM en_comp;

-- the backfill reaches every row, also those that row-level security hides from a
-- table owner who is subject to it (FORCE ROW LEVEL SECURITY)
CREATE ROLE regress_occ_enable_owner;
GRANT CREATE ON SCHEMA public TO regress_occ_enable_owner;
SET ROLE regress_occ_enable_owner;
CREATE TABLE en_forced (id int PRIMARY KEY, owner_name text);
INSERT INTO en_forced VALUES (1, 'regress_occ_enable_owner'), (2, 'someone else');
ALTER TABLE en_forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE en_forced FORCE ROW LEVEL SECURITY;
CREATE POLICY en_forced_own ON en_forced USING (owner_name = current_user);
SELECT occ_enable('en_forced');
RESET ROLE;
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM en_forced ORDER BY id;
DROP TABLE en_forced;
REVOKE CREATE ON SCHEMA public FROM regress_occ_enable_owner;
DROP ROLE regress_occ_enable_owner;

-- field granularity adds a third column, field_versions (jsonb), which the trigger
-- (given it as a fifth argument) maintains; every row starts tracking at its version
CREATE TABLE en_field (id int PRIMARY KEY, title text, version bigint NOT NULL);
INSERT INTO en_field VALUES (1, 'one', 1), (2, 'two', 3);
SELECT occ_enable('en_field', granularity => 'field');
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'en_field'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT * FROM occ_tables WHERE table_name = 'en_field'::regclass;
SELECT pg_get_triggerdef(oid) AS trigger
  FROM pg_trigger WHERE tgrelid = 'en_field'::regclass AND NOT tgisinternal;
SELECT id, version, field_versions, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM en_field ORDER BY id;
UPDATE en_field SET title = 'uno' WHERE id = 1;
SELECT id, version, field_versions FROM en_field WHERE id = 1;
-- back to row granularity: the trigger loses its fifth argument, the column stays
SELECT occ_enable('en_field');
SELECT table_name, granularity FROM occ_tables WHERE table_name = 'en_field'::regclass;
SELECT pg_get_triggerdef(oid) AS trigger
  FROM pg_trigger WHERE tgrelid = 'en_field'::regclass AND NOT tgisinternal;
SELECT count(*) AS field_versions_columns
  FROM pg_attribute WHERE attrelid = 'en_field'::regclass AND attname = 'field_versions';

-- occ_tables has one row per enabled table
SELECT table_name FROM occ_tables
 WHERE table_name::text LIKE 'en\_%' ORDER BY table_name::text;

-- errors; none of them adds a column or a trigger
CREATE TABLE en_bad (id int PRIMARY KEY, title text);
-- no primary key: 55000 with a hint
CREATE TABLE en_nopk (id int, title text);
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('en_nopk')$$);
-- not a table: 42809
CREATE VIEW en_view AS SELECT * FROM en_bad;
CREATE SEQUENCE en_seq;
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('en_view')$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_seq')$$);
-- a version column of another type, or an etag column that is not text: 42804
CREATE TABLE en_textver (id int PRIMARY KEY, version text);
CREATE TABLE en_smallver (id int PRIMARY KEY, version smallint);
CREATE TABLE en_numver (id int PRIMARY KEY, version numeric);
CREATE TABLE en_intetag (id int PRIMARY KEY, etag integer);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('en_textver')$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_smallver')$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_numver')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('en_intetag')$$);
-- unknown granularity or version_input: 22023
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('en_bad', granularity => 'cell')$$);
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('en_bad', version_input => 'always')$$);
-- with field granularity, a field_versions column that is not jsonb: 42804; a
-- version or etag column named field_versions: 22023
CREATE TABLE en_textfv (id int PRIMARY KEY, field_versions text);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('en_textfv', granularity => 'field')$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', granularity => 'field',
                                                  version_column => 'field_versions')$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', etag_column => 'field_versions')$$);
-- a NULL argument: 22004
SELECT state FROM pg_temp.err($$SELECT occ_enable(NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', version_column => NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', etag_column => NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', granularity => NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_enable('en_bad', version_input => NULL)$$);
SELECT state FROM pg_temp.err($$SELECT occ_disable(NULL)$$);
-- nothing was added to the tables that failed
SELECT attrelid::regclass AS tbl, attname
  FROM pg_attribute
 WHERE attrelid IN ('en_bad'::regclass, 'en_nopk'::regclass, 'en_textver'::regclass,
                    'en_smallver'::regclass, 'en_numver'::regclass,
                    'en_intetag'::regclass, 'en_textfv'::regclass)
   AND attnum > 0
 ORDER BY attrelid::regclass::text, attnum;
SELECT count(*) AS triggers
  FROM pg_trigger
 WHERE tgrelid IN ('en_bad'::regclass, 'en_nopk'::regclass, 'en_textver'::regclass,
                   'en_smallver'::regclass, 'en_numver'::regclass,
                   'en_intetag'::regclass, 'en_textfv'::regclass)
   AND NOT tgisinternal;
SELECT count(*) AS occ_tables_rows FROM occ_tables
 WHERE table_name::text IN ('en_bad', 'en_nopk', 'en_textver', 'en_smallver',
                            'en_numver', 'en_intetag', 'en_textfv');

DROP VIEW en_view;
DROP SEQUENCE en_seq;
DROP TABLE en_docs, en_orm, en_big, en_comp, en_field, en_bad, en_nopk, en_textver,
           en_smallver, en_numver, en_intetag, en_textfv;
