-- Row history never shows more than the caller may SELECT from the table now: the
-- history table belongs to the table's owner and nobody else may touch it; the
-- reading functions run as the caller, so a caller without SELECT on the table or
-- on one of its columns gets 42501, and a row that row-level security hides now has
-- no readable history (OC404 naming only table and key), whatever it was before.
-- Writers need no right on the history table: occ keeps it for them. A merge
-- conflict's conflicting_paths, changed_by and reasons reach only callers who may
-- read every column; the others get 42501 before any row is read.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag>.
\i test/sql/include/err.psql

CREATE ROLE regress_occ_hsec_owner;
CREATE ROLE regress_occ_hsec_eve;
CREATE SCHEMA hsec AUTHORIZATION regress_occ_hsec_owner;

-- a table owned by an ordinary role, enabled by it: the history table is its own
SET ROLE regress_occ_hsec_owner;
CREATE TABLE hsec.doc (id int PRIMARY KEY, owner_name text, title text, secret text, body jsonb);
SELECT occ_enable('hsec.doc', history => 5);
INSERT INTO hsec.doc VALUES
    (1, 'regress_occ_hsec_eve', 'mine', 'TOPSECRET-1', '{"a": {"b": 1}}'),
    (2, 'someone', 'theirs', 'TOPSECRET-2', '{"a": {"b": 1}}');
UPDATE hsec.doc SET title = title || ' v2', secret = secret || '-v2';
SELECT pg_get_userbyid(relowner) AS history_owner
  FROM pg_class WHERE oid = 'hsec.doc_occ_history'::regclass;
SELECT count(*) AS owner_reads_history FROM hsec.doc_occ_history;
GRANT USAGE ON SCHEMA hsec TO regress_occ_hsec_eve;
GRANT SELECT, INSERT, UPDATE, DELETE ON hsec.doc TO regress_occ_hsec_eve;
RESET ROLE;

-- eve may read and write the table, but not the history table, in any way
SET ROLE regress_occ_hsec_eve;
SELECT s AS statement, (pg_temp.err(s)).state FROM unnest(ARRAY[
    'SELECT * FROM hsec.doc_occ_history',
    'SELECT count(*) FROM hsec.doc_occ_history',
    'INSERT INTO hsec.doc_occ_history (id, occ_slot) VALUES (1, 99)',
    'UPDATE hsec.doc_occ_history SET occ_reason = ''forged''',
    'DELETE FROM hsec.doc_occ_history',
    'TRUNCATE hsec.doc_occ_history',
    'DROP TABLE hsec.doc_occ_history',
    'ALTER TABLE hsec.doc_occ_history ADD COLUMN x int'
]) AS s;
COPY hsec.doc_occ_history TO STDOUT;
-- through the functions she reads it as she reads the table
SELECT version, changes - 'etag' AS changes FROM occ_history('hsec.doc', 1);
SELECT occ_row_at('hsec.doc', 1, 1) ->> 'secret' AS secret_at_1;
-- and writes need no right on it: her update is recorded, her delete removes it
UPDATE hsec.doc SET title = 'by eve' WHERE id = 1;
SELECT version, changed_by FROM occ_history('hsec.doc', 1);
INSERT INTO hsec.doc VALUES (4, 'regress_occ_hsec_eve', 'short-lived', 'TOPSECRET-4', NULL);
UPDATE hsec.doc SET title = 'gone soon' WHERE id = 4;
SELECT count(*) AS versions_of_4 FROM occ_history('hsec.doc', 4);
DELETE FROM hsec.doc WHERE id = 4;
RESET ROLE;
SELECT id, count(*) AS records FROM hsec.doc_occ_history GROUP BY id ORDER BY id;

-- no SELECT on the table: 42501 from every reader (UPDATE alone is not enough)
REVOKE ALL ON hsec.doc FROM regress_occ_hsec_eve;
GRANT UPDATE ON hsec.doc TO regress_occ_hsec_eve;
SET ROLE regress_occ_hsec_eve;
SELECT s AS statement, e.state, e.detail FROM unnest(ARRAY[
    'SELECT * FROM occ_history(''hsec.doc'', 1)',
    'SELECT occ_row_at(''hsec.doc'', 1, 1)',
    'SELECT occ_diff(''hsec.doc'', 1, 1, 2)',
    'SELECT * FROM occ_history(''hsec.doc'', 99)'
]) AS s, LATERAL pg_temp.err(s) AS e;
RESET ROLE;

-- SELECT on some columns only: 42501 too, even though the history of the others
-- would be harmless; SELECT granted column by column on every column is enough
REVOKE ALL ON hsec.doc FROM regress_occ_hsec_eve;
GRANT SELECT (id, owner_name, title, body, version, etag), UPDATE (title, body)
   ON hsec.doc TO regress_occ_hsec_eve;
SET ROLE regress_occ_hsec_eve;
SELECT s AS statement, (pg_temp.err(s)).state FROM unnest(ARRAY[
    'SELECT * FROM occ_history(''hsec.doc'', 1)',
    'SELECT occ_row_at(''hsec.doc'', 1, 1)',
    'SELECT occ_diff(''hsec.doc'', 1, 1, 2)',
    -- a stale merge would read the history too
    'SELECT occ_update(''hsec.doc'', 1, 1, ''{"title": "x"}'')',
    'SELECT occ_try_update(''hsec.doc'', 1, 1, ''{"title": "x"}'')'
]) AS s;
RESET ROLE;
GRANT SELECT (secret) ON hsec.doc TO regress_occ_hsec_eve;
SET ROLE regress_occ_hsec_eve;
SELECT count(*) AS versions_with_every_column FROM occ_history('hsec.doc', 1);
RESET ROLE;

-- a merge conflict: a caller who may read every column sees conflicting_paths,
-- changed_by and reasons; one who may not gets 42501 with no DETAIL at all
SET ROLE regress_occ_hsec_owner;
SET occ.reason = 'owner edit';
UPDATE hsec.doc SET body = '{"a": {"b": 2}}' WHERE id = 1;
RESET occ.reason;
RESET ROLE;
SELECT version AS v FROM hsec.doc WHERE id = 1 \gset
SET ROLE regress_occ_hsec_eve;
SELECT state, NULLIF(detail, '')::jsonb - 'current_etag' AS detail
  FROM pg_temp.err(format($$SELECT occ_update('hsec.doc', 1, %s, '{"body": {"a": {"b": 3}}}')$$, :v - 1));
SELECT r - 'row' - 'changes_since' AS conflict, (r -> 'changes_since') - 'etag' AS changes_since
  FROM occ_try_update('hsec.doc', 1, :v - 1, '{"body": {"a": {"b": 3}}}') AS r;
RESET ROLE;
REVOKE SELECT (secret) ON hsec.doc FROM regress_occ_hsec_eve;
SET ROLE regress_occ_hsec_eve;
SELECT state, message, detail, hint
  FROM pg_temp.err(format($$SELECT occ_update('hsec.doc', 1, %s, '{"body": {"a": {"b": 3}}}')$$, :v - 1));
SELECT state, message, detail
  FROM pg_temp.err(format($$SELECT occ_try_update('hsec.doc', 1, %s, '{"body": {"a": {"b": 3}}}')$$, :v - 1));
RESET ROLE;

-- row-level security: eve sees only her rows; row 2 has history but none of it is
-- hers to read (OC404 with table and key only), and a row she could see before but
-- not now has no readable history either
REVOKE ALL ON hsec.doc FROM regress_occ_hsec_eve;
GRANT SELECT, UPDATE ON hsec.doc TO regress_occ_hsec_eve;
SET ROLE regress_occ_hsec_owner;
ALTER TABLE hsec.doc ENABLE ROW LEVEL SECURITY;
CREATE POLICY doc_own ON hsec.doc USING (owner_name = current_user);
INSERT INTO hsec.doc VALUES (3, 'regress_occ_hsec_eve', 'was mine', 'TOPSECRET-3', NULL);
UPDATE hsec.doc SET owner_name = 'someone' WHERE id = 3;
RESET ROLE;
SET ROLE regress_occ_hsec_eve;
SELECT id FROM hsec.doc ORDER BY id;
SELECT count(*) AS own_row_versions FROM occ_history('hsec.doc', 1);
CREATE TEMP TABLE hsec_errors AS
SELECT s AS stmt, (pg_temp.err(s)).* FROM unnest(ARRAY[
    'SELECT * FROM occ_history(''hsec.doc'', 2)',
    'SELECT occ_row_at(''hsec.doc'', 2, 1)',
    'SELECT occ_row_at(''hsec.doc'', 2, 99)',
    'SELECT occ_diff(''hsec.doc'', 2, 1, 2)',
    'SELECT * FROM occ_history(''hsec.doc'', 3)',
    'SELECT occ_row_at(''hsec.doc'', 3, 1)',
    'SELECT occ_update(''hsec.doc'', 2, 1, ''{"title": "x"}'')',
    'SELECT * FROM occ_history(''hsec.doc'', 42)'
]) AS s;
-- a stale merge on a visible row, under row-level security, still says why it failed
SELECT state, NULLIF(detail, '')::jsonb - 'current_etag' AS detail
  FROM pg_temp.err(format($$SELECT occ_update('hsec.doc', 1, %s, '{"body": {"a": {"b": 3}}}')$$, :v - 1));
RESET ROLE;
SELECT stmt, state, message, detail FROM hsec_errors ORDER BY stmt;
SELECT count(*) AS fields_holding_a_secret FROM hsec_errors
 WHERE concat(message, detail, hint) LIKE '%TOPSECRET%';
-- the owner, who is subject to no policy, reads them all
SET ROLE regress_occ_hsec_owner;
SELECT count(*) AS owner_reads_row_3 FROM occ_history('hsec.doc', 3);
RESET ROLE;

-- a dropped column is readable by nobody now, so no history shows it either
SET ROLE regress_occ_hsec_owner;
ALTER TABLE hsec.doc DROP COLUMN secret;
RESET ROLE;
SET ROLE regress_occ_hsec_eve;
SELECT bool_or(occ_row_at('hsec.doc', 1, h.version) ? 'secret') AS image_shows_dropped,
       bool_or(h.changes ? 'secret') AS changes_show_dropped
  FROM occ_history('hsec.doc', 1) AS h;
SELECT occ_diff('hsec.doc', 1, 1, :v) ? 'secret' AS diff_shows_dropped;
SELECT occ_try_update('hsec.doc', 1, :v - 1, '{"body": {"a": {"b": 3}}}') -> 'changes_since' ? 'secret'
       AS changes_since_shows_dropped;
RESET ROLE;

-- the readers run as the caller: none of occ's functions is SECURITY DEFINER
SELECT p.proname, count(*) AS overloads, bool_or(p.prosecdef) AS security_definer
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'occ' AND d.deptype = 'e'
   AND p.proname IN ('occ_history', 'occ_row_at', 'occ_diff')
 GROUP BY p.proname ORDER BY p.proname;

-- the history table is found by the table, not by search_path: a look-alike table
-- earlier on the path is never read
CREATE TABLE public.doc_occ_history (id int, occ_slot int, occ_version int8, occ_etag text,
    occ_changed_at timestamptz, occ_changed_by text, occ_reason text, occ_row jsonb);
INSERT INTO public.doc_occ_history VALUES (1, 0, 1, 'x', now(), 'mallory', 'forged', '{}');
SET search_path = public, hsec;
SELECT count(*) AS records, bool_or(changed_by = 'mallory') AS forged
  FROM occ_history('hsec.doc', 1);
SET ROLE regress_occ_hsec_owner;
SELECT occ_row_at('hsec.doc', 1, 1) ->> 'title' AS title_at_1;
RESET ROLE;
RESET search_path;
DROP TABLE public.doc_occ_history;

DROP TABLE hsec_errors;
DROP SCHEMA hsec CASCADE;
DROP ROLE regress_occ_hsec_eve, regress_occ_hsec_owner;
