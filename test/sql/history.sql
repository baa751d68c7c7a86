-- Row history (occ 1.2): occ_enable(tbl, history => N) keeps, per row, the current
-- version and the N versions before it in a table of its own,
-- <schema>."<table>_occ_history", that only the table's owner can read. Each kept
-- version records its ETag, when (the transaction timestamp), who (current_user),
-- why (the setting occ.reason) and the row as it was. occ_history(tbl, id) lists
-- them with the RFC 7396 merge patch from the version before; occ_row_at(tbl, id,
-- version) returns the row as it was (OC410 once it is no longer kept, OC404 for a
-- version the row never reached); occ_diff(tbl, id, from, to) is the merge patch
-- between two kept versions. Deleting a row deletes its history, inserting a key
-- starts a fresh one, N can be changed, and N = 0 or occ_disable drop the table.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none).
\i test/sql/include/err.psql

-- pg_temp.hist(tbl, id) is occ_history without random values: whether each ETag is
-- the one of the row image of that version (and of the patch), whether changed_at
-- is set, changed_by (the superuser running the tests shown as <superuser>) and the
-- patch without its "etag" member.
CREATE FUNCTION pg_temp.hist(tbl regclass, id int)
RETURNS TABLE (version bigint, etag_is_images boolean, changed_at_set boolean,
               changed_by text, reason text, changes jsonb, changes_etag_ok boolean)
LANGUAGE sql AS $$
    SELECT h.version, h.etag = occ_row_at(tbl, id, h.version) ->> 'etag',
           h.changed_at IS NOT NULL,
           CASE WHEN h.changed_by = session_user THEN '<superuser>' ELSE h.changed_by END,
           h.reason, h.changes - 'etag',
           h.changes ->> 'etag' = h.etag
      FROM occ_history(tbl, id) AS h
$$;

-- row 1 exists before history is turned on
CREATE TABLE hs (id int PRIMARY KEY, title text, n int, doc jsonb);
INSERT INTO hs VALUES (1, 'draft', 1, '{"a": 1, "b": {"c": 2}}');
SELECT occ_enable('hs', history => 3);

-- the history table: next to the table, the key columns then occ's, keyed by key
-- and slot, owned by the table's owner, nobody else may touch it
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'hs_occ_history'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT pg_get_constraintdef(oid) AS history_key
  FROM pg_constraint WHERE conrelid = 'hs_occ_history'::regclass AND contype = 'p';
SELECT h.relowner = t.relowner AS owned_by_tables_owner,
       h.relnamespace = t.relnamespace AS in_tables_schema
  FROM pg_class h, pg_class t
 WHERE h.oid = 'hs_occ_history'::regclass AND t.oid = 'hs'::regclass;
SELECT count(*) AS grants_to_public
  FROM pg_class, aclexplode(relacl) a
 WHERE oid = 'hs_occ_history'::regclass AND a.grantee = 0;
SELECT table_name, granularity, history FROM occ_tables WHERE table_name = 'hs'::regclass;
-- DROP TABLE hs would drop it too: an automatic dependency
SELECT deptype FROM pg_depend
 WHERE classid = 'pg_class'::regclass AND objid = 'hs_occ_history'::regclass
   AND refobjid = 'hs'::regclass;

-- a row from before history: its current version is readable, and its first
-- update records the version it had (without who, when or why: unknown)
SELECT occ_row_at('hs', 1, 1) = to_jsonb(hs) AS current_row FROM hs WHERE id = 1;
SELECT * FROM pg_temp.hist('hs', 1);
UPDATE hs SET title = 'one' WHERE id = 1;
SELECT * FROM pg_temp.hist('hs', 1);

-- a row that was at version 3 before history: listed with its current version only
-- (no patch: what came before is unknown) until its first update
CREATE TABLE hs_late (id int PRIMARY KEY, t text, u text);
SELECT occ_enable('hs_late');
INSERT INTO hs_late VALUES (1, 'a');
UPDATE hs_late SET t = 'b';
UPDATE hs_late SET t = 'c';
SELECT occ_enable('hs_late', history => 2);
SELECT version, changed_at IS NULL AS no_time, changed_by, reason, changes
  FROM occ_history('hs_late', 1);
UPDATE hs_late SET t = 'd';
SELECT version, changed_at IS NULL AS no_time, changes - 'etag' AS changes
  FROM occ_history('hs_late', 1);
-- a stale client that read version 3 merges; one that read version 2 (never kept)
-- conflicts as without history
SELECT occ_try_update('hs_late', 1, 2, '{"u": "y"}') - 'row' AS from_2;
SELECT occ_try_update('hs_late', 1, 3, '{"u": "x"}') #- '{row,etag}' AS from_3;
-- TRUNCATE empties the history with the table
TRUNCATE hs_late;
SELECT count(*) AS records_after_truncate FROM hs_late_occ_history;
DROP TABLE hs_late;

-- who and why: changed_by is current_user (SET ROLE counts), reason is occ.reason
-- (NULL when empty), changed_at the transaction timestamp
CREATE ROLE regress_occ_hist_writer;
GRANT SELECT, UPDATE, INSERT, DELETE ON hs TO regress_occ_hist_writer;
SET ROLE regress_occ_hist_writer;
SET occ.reason = 'typo';
UPDATE hs SET doc = '{"a": 1, "b": {"c": 3}}' WHERE id = 1;
RESET occ.reason;
RESET ROLE;
BEGIN;
SET LOCAL occ.reason = 'bulk price update';
SELECT occ_update('hs', 1, 3, '{"n": 2}') -> 'version' AS v4;
SELECT changed_at = now() AS at_transaction_time FROM occ_history('hs', 1) WHERE version = 4;
COMMIT;
SHOW occ.reason;
SELECT * FROM pg_temp.hist('hs', 1);

-- occ.reason: at most 256 bytes (characters of two bytes count twice)
SELECT state, left(message, 42) AS message
  FROM pg_temp.err($$SET occ.reason = '$$ || repeat('x', 257) || $$'$$);
SELECT state, left(message, 42) AS message
  FROM pg_temp.err($$SELECT set_config('occ.reason', repeat('é', 129), false)$$);
SHOW occ.reason;
SELECT length(set_config('occ.reason', repeat('é', 128), false)) AS chars_256_bytes;
RESET occ.reason;

-- a row inserted with history on: its first version's patch is the whole row
INSERT INTO hs VALUES (2, 'new', 0, NULL);
SELECT * FROM pg_temp.hist('hs', 2);
SELECT (SELECT changes FROM occ_history('hs', 2)) = to_jsonb(hs) AS first_patch_is_row
  FROM hs WHERE id = 2;

-- occ_row_at: every kept version, the current one being the row itself
SELECT v, occ_row_at('hs', 1, v) - 'etag' AS row_at FROM generate_series(1, 4) AS v;
SELECT occ_row_at('hs', 1, 4) = to_jsonb(hs) AS current_is_row FROM hs WHERE id = 1;

-- the invariant: each version's patch applied to the row before gives the row
SELECT count(*) AS patches,
       bool_and(occ_merge_patch(occ_row_at('hs', 1, h.version - 1), h.changes)
                = occ_row_at('hs', 1, h.version)) AS patch_gives_row
  FROM occ_history('hs', 1) AS h WHERE h.changes IS NOT NULL AND h.version > 1;

-- occ_diff: the merge patch between two kept versions, either way, {} for equal ones
SELECT occ_diff('hs', 1, 1, 4) - 'etag' AS from_1_to_4,
       occ_diff('hs', 1, 4, 2) - 'etag' AS from_4_to_2,
       occ_diff('hs', 1, 3, 3) AS same;
SELECT bool_and(occ_merge_patch(occ_row_at('hs', 1, f), occ_diff('hs', 1, f, t))
                = occ_row_at('hs', 1, t)) AS diff_gives_row
  FROM generate_series(1, 4) f, generate_series(1, 4) t;

-- the id overloads: untyped, text and the key's own type
SELECT count(*) AS untyped FROM occ_history('hs', '1');
SELECT occ_row_at('hs', '1', 2) = occ_row_at('hs', 1, 2) AS untyped_row_at,
       occ_diff('hs', '1', 1, 2) = occ_diff('hs', 1, 1, 2) AS untyped_diff;

-- retention: 3 versions before the current one; older ones are dropped at each write
UPDATE hs SET n = n + 1 WHERE id = 1;
SELECT version FROM hs WHERE id = 1;
SELECT version, changes IS NULL AS predecessor_gone FROM occ_history('hs', 1);
-- OC410 for a version that is no longer kept, naming the oldest kept one
\x on
SELECT * FROM pg_temp.err($$SELECT occ_row_at('hs', 1, 1)$$);
\x off
SELECT state, detail FROM pg_temp.err($$SELECT occ_diff('hs', 1, 1, 5)$$);
SELECT state, detail FROM pg_temp.err($$SELECT occ_diff('hs', 1, 5, 1)$$);
-- OC404 for a version above the current one
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_row_at('hs', 1, 6)$$);
SELECT state, detail FROM pg_temp.err($$SELECT occ_diff('hs', 1, 2, 6)$$);
-- OC404 for a key that has no row
SELECT state, message, detail FROM pg_temp.err($$SELECT * FROM occ_history('hs', 9)$$);
SELECT state, detail FROM pg_temp.err($$SELECT occ_row_at('hs', 9, 1)$$);
SELECT state, detail FROM pg_temp.err($$SELECT occ_diff('hs', 9, 1, 1)$$);

-- many updates later, each key keeps exactly N + 1 records and N row images
DO $$
BEGIN
    FOR i IN 1 .. 50 LOOP
        UPDATE hs SET n = i, doc = jsonb_build_object('i', i);
    END LOOP;
END $$;
SELECT id, count(*) AS records, count(occ_row) AS images,
       min(occ_version) AS oldest, max(occ_version) AS newest
  FROM hs_occ_history GROUP BY id ORDER BY id;
SELECT id, version FROM hs ORDER BY id;
SELECT count(*) AS listed, min(version) AS oldest FROM occ_history('hs', 1);
-- a no-op UPDATE bumps nothing and records nothing
UPDATE hs SET n = n WHERE id = 1;
SELECT count(*) AS records, max(occ_version) AS newest FROM hs_occ_history WHERE id = 1;

-- changing N: fewer drops the oldest at once; more keeps what is there and grows
SELECT occ_enable('hs', history => 1);
SELECT id, count(*) AS records, count(occ_row) AS images, min(occ_version) AS oldest
  FROM hs_occ_history GROUP BY id ORDER BY id;
SELECT history FROM occ_tables WHERE table_name = 'hs'::regclass;
SELECT occ_enable('hs', history => 5);
SELECT count(*) AS records FROM hs_occ_history WHERE id = 1;
UPDATE hs SET n = -1 WHERE id = 1;
UPDATE hs SET n = -2 WHERE id = 1;
SELECT count(*) AS records, count(occ_row) AS images FROM hs_occ_history WHERE id = 1;
SELECT history FROM occ_tables WHERE table_name = 'hs'::regclass;

-- after any change of N the kept versions are exactly the newest N + 1
CREATE FUNCTION pg_temp.kept(key int) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT array_agg(occ_version ORDER BY occ_version) FROM hs_occ_history WHERE id = key
$$;
SELECT version, pg_temp.kept(1) AS kept FROM hs WHERE id = 1;
SELECT occ_enable('hs', history => 2);
SELECT pg_temp.kept(1) AS kept_2;
DO $$
BEGIN
    FOR i IN 1 .. 10 LOOP
        UPDATE hs SET n = 1000 + i WHERE id = 1;
    END LOOP;
END $$;
SELECT version, pg_temp.kept(1) AS kept_2 FROM hs WHERE id = 1;
SELECT occ_enable('hs', history => 4);
UPDATE hs SET n = 2001 WHERE id = 1;
SELECT version, pg_temp.kept(1) AS kept_4 FROM hs WHERE id = 1;
UPDATE hs SET n = 2002 WHERE id = 1;
UPDATE hs SET n = 2003 WHERE id = 1;
SELECT version, pg_temp.kept(1) AS kept_4 FROM hs WHERE id = 1;
SELECT array_agg(version ORDER BY version) AS listed,
       bool_and(changes IS NOT NULL) FILTER (WHERE version > (SELECT min(occ_version) FROM hs_occ_history WHERE id = 1)) AS patches_known
  FROM occ_history('hs', 1);
SELECT count(*) AS images FROM hs_occ_history WHERE id = 1 AND occ_row IS NOT NULL;

-- N out of range: 22023, and nothing changes
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('hs', history => -1)$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('hs', history => 10001)$$);
SELECT history, to_regclass('hs_occ_history') IS NOT NULL AS kept
  FROM occ_tables WHERE table_name = 'hs'::regclass;

-- deleting a row deletes its history; inserting the key again starts afresh
SELECT count(*) AS records_of_2 FROM hs_occ_history WHERE id = 2;
DELETE FROM hs WHERE id = 2;
SELECT count(*) AS records_of_2 FROM hs_occ_history WHERE id = 2;
SELECT state, detail FROM pg_temp.err($$SELECT * FROM occ_history('hs', 2)$$);
INSERT INTO hs VALUES (2, 'again', 0, NULL);
SELECT * FROM pg_temp.hist('hs', 2);
SELECT occ_delete('hs', 2, 1) ->> 'title' AS occ_delete_too;
SELECT count(*) AS records_of_2 FROM hs_occ_history WHERE id = 2;

-- N = 0 turns history off and drops the table; reading it is then 55000
SELECT occ_enable('hs', history => 0);
SELECT to_regclass('hs_occ_history') AS history_table,
       (SELECT history FROM occ_tables WHERE table_name = 'hs'::regclass) AS history;
SELECT * FROM pg_temp.err($$SELECT * FROM occ_history('hs', 1)$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_row_at('hs', 1, 1)$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_diff('hs', 1, 1, 1)$$);
-- without history writes go on as before
SELECT version AS v FROM hs WHERE id = 1 \gset
UPDATE hs SET n = 100 WHERE id = 1;
SELECT version = :v + 1 AS bumped FROM hs WHERE id = 1;
-- history => 0 is the default: occ_enable without it turns history off
SELECT occ_enable('hs', history => 2);
SELECT to_regclass('hs_occ_history') IS NOT NULL AS on_again;
SELECT occ_enable('hs', granularity => 'field');
SELECT to_regclass('hs_occ_history') AS history_table,
       (SELECT history FROM occ_tables WHERE table_name = 'hs'::regclass) AS history;

-- occ_disable drops it, DROP TABLE too
SELECT occ_enable('hs', history => 2);
SELECT occ_disable('hs');
SELECT to_regclass('hs_occ_history') AS after_disable;
SELECT occ_enable('hs', history => 2);
DROP TABLE hs;
SELECT to_regclass('hs_occ_history') AS after_drop;

-- field granularity keeps field_versions in the images too
CREATE TABLE hf (id int PRIMARY KEY, title text);
SELECT occ_enable('hf', granularity => 'field', history => 2);
INSERT INTO hf VALUES (1, 'a');
UPDATE hf SET title = 'b';
SELECT occ_row_at('hf', 1, 1) - 'etag' AS v1, occ_diff('hf', 1, 1, 2) - 'etag' AS d12;
DROP TABLE hf;

-- a composite key: the history table has both key columns, the id is an object
CREATE TABLE hc (region text, no int, v text, PRIMARY KEY (region, no));
SELECT occ_enable('hc', history => 2);
INSERT INTO hc VALUES ('eu', 7, 'a');
SELECT occ_update('hc', '{"region": "eu", "no": 7}'::jsonb, 1, '{"v": "b"}') -> 'version' AS v2;
SELECT attname FROM pg_attribute
 WHERE attrelid = 'hc_occ_history'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT version, changes - 'etag' AS changes FROM occ_history('hc', '{"no": 7, "region": "eu"}'::jsonb);
SELECT state, detail FROM pg_temp.err($$SELECT occ_row_at('hc', '{"region": "eu", "no": 7}'::jsonb, 9)$$);
DROP TABLE hc;

-- text and "char" keys have overloads of their own, as for occ_update
CREATE TABLE ht (id text PRIMARY KEY, v text);
CREATE TABLE hch (id "char" PRIMARY KEY, v text);
SELECT occ_enable('ht', history => 1), occ_enable('hch', history => 1);
INSERT INTO ht VALUES ('k', 'a');
INSERT INTO hch VALUES ('k', 'a');
UPDATE ht SET v = 'b';
UPDATE hch SET v = 'b';
SELECT (SELECT count(*) FROM occ_history('ht', 'k'::text)) AS text_versions,
       occ_row_at('ht', 'k'::text, 1) ->> 'v' AS text_v1,
       occ_diff('ht', 'k'::text, 1, 2) - 'etag' AS text_diff,
       (SELECT count(*) FROM occ_history('hch', 'k'::"char")) AS char_versions,
       occ_row_at('hch', 'k'::"char", 1) ->> 'v' AS char_v1,
       occ_diff('hch', 'k'::"char", 1, 2) - 'etag' AS char_diff;
DROP TABLE ht, hch;

-- the history table's name is cut to fit 63 bytes; one of the same name that occ
-- did not make is 42P07
CREATE TABLE hs_a_table_with_a_name_long_enough_to_need_cutting_here (id int PRIMARY KEY);
SELECT occ_enable('hs_a_table_with_a_name_long_enough_to_need_cutting_here', history => 1);
SELECT c.relname, octet_length(c.relname) AS bytes
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND c.relkind = 'r'
   AND d.refobjid = 'hs_a_table_with_a_name_long_enough_to_need_cutting_here'::regclass;
DROP TABLE hs_a_table_with_a_name_long_enough_to_need_cutting_here;
CREATE TABLE hx (id int PRIMARY KEY, t text);
CREATE TABLE hx_occ_history (note text);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('hx', history => 1)$$);
SELECT count(*) AS enabled FROM occ_tables WHERE table_name = 'hx'::regclass;
DROP TABLE hx_occ_history;
-- the maximum
SELECT occ_enable('hx', history => 10000);
SELECT history FROM occ_tables WHERE table_name = 'hx'::regclass;

-- a table that keeps no history: 55000 for every reader; not enabled at all: 55000
CREATE TABLE hn (id int PRIMARY KEY, t text);
INSERT INTO hn VALUES (1, 'x');
SELECT occ_enable('hn');
SELECT * FROM pg_temp.err($$SELECT * FROM occ_history('hn', 1)$$);
SELECT occ_disable('hn');
SELECT state FROM pg_temp.err($$SELECT * FROM occ_history('hn', 1)$$);
-- NULL arguments: 22004, as for the other functions
SELECT state FROM pg_temp.err($$SELECT * FROM occ_history('hx', NULL::int)$$);
SELECT state FROM pg_temp.err($$SELECT occ_row_at('hx', 1, NULL)$$);

DROP TABLE hx, hn;
DROP ROLE regress_occ_hist_writer;

-- whoever writes is recorded: upserts, MERGE, COPY and referential actions
CREATE TABLE hw (id int PRIMARY KEY, t text);
SELECT occ_enable('hw', history => 5);
INSERT INTO hw VALUES (1, 'a');
-- an upsert that inserts nothing records nothing; one that updates records an update
INSERT INTO hw VALUES (1, 'ignored') ON CONFLICT (id) DO NOTHING;
INSERT INTO hw VALUES (1, 'upserted') ON CONFLICT (id) DO UPDATE SET t = EXCLUDED.t;
SELECT version, changes - 'etag' AS changes FROM occ_history('hw', 1);
MERGE INTO hw USING (VALUES (1, 'merged'), (2, 'new')) AS v(id, t) ON hw.id = v.id
  WHEN MATCHED THEN UPDATE SET t = v.t
  WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.t);
SELECT id, count(*) AS records, max(occ_version) AS newest FROM hw_occ_history GROUP BY id ORDER BY id;
MERGE INTO hw USING (VALUES (2)) AS v(id) ON hw.id = v.id WHEN MATCHED THEN DELETE;
COPY hw (id, t) FROM STDIN;
3	copied
\.
SELECT id, count(*) AS records, max(occ_version) AS newest FROM hw_occ_history GROUP BY id ORDER BY id;
DROP TABLE hw;
-- a child whose key includes a foreign key: ON UPDATE CASCADE moves its history to
-- the new key, ON DELETE CASCADE deletes it
CREATE TABLE hw_parent (id int PRIMARY KEY);
CREATE TABLE hw_child (pid int REFERENCES hw_parent ON DELETE CASCADE ON UPDATE CASCADE,
                       n int, t text, PRIMARY KEY (pid, n));
SELECT occ_enable('hw_child', history => 3);
INSERT INTO hw_parent VALUES (1), (2);
INSERT INTO hw_child VALUES (1, 1, 'a'), (2, 1, 'b');
UPDATE hw_child SET t = 'a2' WHERE pid = 1;
UPDATE hw_parent SET id = 10 WHERE id = 1;
DELETE FROM hw_parent WHERE id = 2;
SELECT pid, n, array_agg(occ_version ORDER BY occ_version) AS versions
  FROM hw_child_occ_history GROUP BY pid, n ORDER BY pid, n;
SELECT version, changes - 'etag' AS changes
  FROM occ_history('hw_child', '{"pid": 10, "n": 1}'::jsonb);
DROP TABLE hw_child, hw_parent;

-- a table whose key columns change (type, or another primary key) no longer fits its
-- history table: writes refuse with 55000 until history is turned off and on, and
-- so do readers that cannot find the key in it
CREATE TABLE hkt (id int PRIMARY KEY, code text NOT NULL UNIQUE, t text);
SELECT occ_enable('hkt', history => 3);
INSERT INTO hkt VALUES (1, 'x', 'a');
UPDATE hkt SET t = 'b';
ALTER TABLE hkt ALTER COLUMN id TYPE bigint;
SELECT state, hint FROM pg_temp.err($$UPDATE hkt SET t = 'c'$$);
ALTER TABLE hkt DROP CONSTRAINT hkt_pkey, ADD PRIMARY KEY (code);
SELECT state, hint FROM pg_temp.err($$UPDATE hkt SET t = 'c'$$);
SELECT state, hint FROM pg_temp.err($$SELECT * FROM occ_history('hkt', 'x'::text)$$);
SELECT state FROM pg_temp.err($$SELECT occ_row_at('hkt', 'x'::text, 1)$$);
SELECT occ_enable('hkt', history => 0);
SELECT occ_enable('hkt', history => 3);
UPDATE hkt SET t = 'c';
SELECT version, changes IS NULL AS predecessor_unknown FROM occ_history('hkt', 'x'::text);
DROP TABLE hkt;

-- a renamed schema: the table and its history table move together, and a session
-- that used them before the rename finds them under the new name
CREATE SCHEMA hs_a;
CREATE TABLE hs_a.t (id int PRIMARY KEY, v text);
SELECT occ_enable('hs_a.t', history => 2);
INSERT INTO hs_a.t VALUES (1, 'a');
SELECT occ_update('hs_a.t', 1, 1, '{"v": "b"}') ->> 'version' AS v2;
SELECT count(*) AS versions FROM occ_history('hs_a.t', 1);
ALTER SCHEMA hs_a RENAME TO hs_b;
SELECT occ_update('hs_b.t', 1, 2, '{"v": "c"}') ->> 'version' AS v3;
SELECT array_agg(version ORDER BY version) AS versions,
       occ_row_at('hs_b.t', 1, 1) ->> 'v' AS v_at_1
  FROM occ_history('hs_b.t', 1);
DROP SCHEMA hs_b CASCADE;

-- a key that changes keeps its history under the new key
CREATE TABLE hk (id int PRIMARY KEY, t text);
SELECT occ_enable('hk', history => 3);
INSERT INTO hk VALUES (1, 'a');
UPDATE hk SET t = 'b';
UPDATE hk SET id = 10 WHERE id = 1;
SELECT (SELECT count(*) FROM hk_occ_history WHERE id = 1) AS records_of_1,
       (SELECT count(*) FROM hk_occ_history WHERE id = 10) AS records_of_10;
SELECT version, changes - 'etag' AS changes FROM occ_history('hk', 10);
SELECT state FROM pg_temp.err($$SELECT * FROM occ_history('hk', 1)$$);
-- a stale merge still finds the versions kept under the old key
SELECT occ_update('hk', 10, 2, '{"t": "merged"}') -> 'version' AS merged_version;
DROP TABLE hk;

-- a key written otherwise but equal by its type (numeric 1.0 and 1.00) is the same
-- key: its history stays whole
CREATE TABLE hkn (id numeric PRIMARY KEY, t text);
SELECT occ_enable('hkn', history => 3);
INSERT INTO hkn VALUES (1.0, 'a');
UPDATE hkn SET t = 'b';
UPDATE hkn SET id = 1.00, t = 'c';
SELECT id, version FROM hkn;
SELECT version, changes - 'etag' AS changes FROM occ_history('hkn', 1);
DROP TABLE hkn;

-- a partitioned table: one history table, for the parent; a row that a change of
-- its key moves to another partition keeps its history under the new key
CREATE TABLE hp (id int PRIMARY KEY, t text) PARTITION BY RANGE (id);
CREATE TABLE hp_1 PARTITION OF hp FOR VALUES FROM (1) TO (100);
CREATE TABLE hp_2 PARTITION OF hp FOR VALUES FROM (100) TO (200);
SELECT occ_enable('hp', history => 3);
INSERT INTO hp VALUES (1, 'a');
UPDATE hp SET t = 'b' WHERE id = 1;
UPDATE hp SET id = 150 WHERE id = 1;
SELECT tableoid::regclass AS part, id, t, version FROM hp;
SELECT version, changes - 'etag' AS changes FROM occ_history('hp', 150);
SELECT count(*) AS records_of_1 FROM hp_occ_history WHERE id = 1;
SELECT to_regclass('hp_1_occ_history') AS partition_history_table;
-- TRUNCATE of one partition (not of the partitioned table) leaves the records of its
-- rows (a documented limitation): unreadable, as the rows are gone, and an INSERT of
-- the key starts afresh
INSERT INTO hp VALUES (2, 'c');
TRUNCATE hp_2;
SELECT id, count(*) AS records FROM hp_occ_history GROUP BY id ORDER BY id;
SELECT state FROM pg_temp.err($$SELECT * FROM occ_history('hp', 150)$$);
INSERT INTO hp VALUES (150, 'again');
SELECT version, changes - 'etag' AS changes FROM occ_history('hp', 150);
-- TRUNCATE of the partitioned table empties it
TRUNCATE hp;
SELECT count(*) AS records FROM hp_occ_history;
DROP TABLE hp;

-- DROP TABLE drops the history table also where the dependency is gone, as after
-- pg_dump and restore (which does not keep it): the event trigger occ_drop_history
-- finds it by its comment.  A look-alike that another role owns stays, and does not
-- make the DROP fail.
CREATE TABLE hd (id int PRIMARY KEY, t text);
SELECT occ_enable('hd', history => 2);
SELECT obj_description('hd_occ_history'::regclass, 'pg_class') AS history_comment;
DELETE FROM pg_depend
 WHERE classid = 'pg_class'::regclass AND objid = 'hd_occ_history'::regclass
   AND refobjid = 'hd'::regclass;
CREATE ROLE hd_other;
CREATE TABLE hd_fake (id int);
ALTER TABLE hd_fake OWNER TO hd_other;
SELECT format('COMMENT ON TABLE hd_fake IS %L', obj_description('hd_occ_history'::regclass, 'pg_class')) \gexec
DROP TABLE hd;
SELECT to_regclass('hd_occ_history') AS history_table_after_drop,
       to_regclass('hd_fake') AS look_alike_after_drop;
DROP TABLE hd_fake;
DROP ROLE hd_other;
