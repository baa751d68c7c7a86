-- Security: occ runs as the caller, so table and column privileges and row-level
-- security apply exactly as to a plain UPDATE or DELETE (42501, and a row the caller
-- cannot see or may not change is OC404 with no version in its DETAIL); occ_enable
-- and occ_disable need ownership; nobody but the owner can read the ETag secret,
-- while writes by other roles still get real ETags.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE ROLE regress_occ_alice;
CREATE ROLE regress_occ_bob;

CREATE TABLE sec_docs (id int PRIMARY KEY, title text, body text);
INSERT INTO sec_docs VALUES (1, 'one', 'body'), (2, 'two', 'body');
SELECT occ_enable('sec_docs');
SELECT sec_docs::text AS snap1 FROM sec_docs WHERE id = 1 \gset

-- the secret: not readable by other roles
SET ROLE regress_occ_alice;
SELECT state FROM pg_temp.err($$SELECT * FROM occ_secret$$);
-- ownership: occ_enable and occ_disable on someone else's table
SELECT state FROM pg_temp.err($$SELECT occ_enable('sec_docs', version_input => 'next')$$);
SELECT state FROM pg_temp.err($$SELECT occ_disable('sec_docs')$$);
-- no privilege on the table at all
SELECT state FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('sec_docs', 1, '*', '{"title":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete('sec_docs', 1, 1)$$);
SELECT state FROM pg_temp.err($$SELECT occ_delete_if_match('sec_docs', 1, '*')$$);
RESET ROLE;
SELECT version_input FROM occ_tables WHERE table_name = 'sec_docs'::regclass;
SELECT count(*) AS triggers
  FROM pg_trigger WHERE tgrelid = 'sec_docs'::regclass AND NOT tgisinternal;

-- UPDATE but no SELECT: occ_update must read the row (as UPDATE ... RETURNING does)
GRANT UPDATE ON sec_docs TO regress_occ_bob;
SET ROLE regress_occ_bob;
SELECT state FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"title":"x"}')$$);
RESET ROLE;

-- SELECT and UPDATE of one column only
GRANT SELECT, INSERT ON sec_docs TO regress_occ_alice;
GRANT UPDATE (title) ON sec_docs TO regress_occ_alice;
SET ROLE regress_occ_alice;
-- a patch of another column: 42501
SELECT state FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"body":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"title":"x","body":"x"}')$$);
-- DELETE not granted: 42501
SELECT state FROM pg_temp.err($$SELECT occ_delete('sec_docs', 1, 1)$$);
RESET ROLE;
SELECT sec_docs::text = :'snap1' AS nothing_written FROM sec_docs WHERE id = 1;
SET ROLE regress_occ_alice;
-- the granted column: works, as a plain UPDATE of it would, and the trigger bumps the
-- version and computes a real ETag though alice can neither update those columns nor
-- read the secret
SELECT occ_update('sec_docs', 1, 1, '{"title":"by alice"}') - 'etag' AS updated;
UPDATE sec_docs SET title = 'plain by alice' WHERE id = 2;
INSERT INTO sec_docs (id, title) VALUES (3, 'inserted by alice');
SELECT id, title, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM sec_docs ORDER BY id;
RESET ROLE;
SELECT count(DISTINCT etag) AS distinct_etags FROM sec_docs;

-- row-level security: alice sees her rows and bob's public ones, and may change only
-- her own
CREATE TABLE rls_docs (id int PRIMARY KEY, owner_name text, public bool, title text);
INSERT INTO rls_docs VALUES (1, 'regress_occ_alice', false, 'alice''s'),
                            (2, 'regress_occ_bob', false, 'bob''s secret'),
                            (3, 'regress_occ_bob', true, 'bob''s public');
SELECT occ_enable('rls_docs');
UPDATE rls_docs SET title = title || '!' WHERE id = 2;
ALTER TABLE rls_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY rls_select ON rls_docs FOR SELECT
  USING (owner_name = current_user OR public);
CREATE POLICY rls_update ON rls_docs FOR UPDATE
  USING (owner_name = current_user) WITH CHECK (owner_name = current_user);
CREATE POLICY rls_delete ON rls_docs FOR DELETE
  USING (owner_name = current_user);
GRANT SELECT, UPDATE, DELETE ON rls_docs TO regress_occ_alice;
CREATE TEMP TABLE rls_before AS SELECT * FROM rls_docs;

SET ROLE regress_occ_alice;
SELECT id FROM rls_docs ORDER BY id;
-- occ_tables is readable by everyone
SELECT table_name, version_column FROM occ_tables WHERE table_name = 'rls_docs'::regclass;
-- a hidden row: OC404 whatever version is given; the DETAIL holds only table and key
\x on
SELECT state, message, detail, hint, table_name, column_name
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 2, 2, '{"title":"x"}')$$);
\x off
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 2, 1, '{"title":"x"}')$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 2, 2, '{}')$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update_if_match('rls_docs', 2, '*', '{"title":"x"}')$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_delete('rls_docs', 2, 2)$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_delete_if_match('rls_docs', 2, '*')$$);
-- a row alice can see but whose UPDATE/DELETE policy excludes her: OC404 too
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 3, 1, '{"title":"x"}')$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 3, 7, '{"title":"x"}')$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_delete('rls_docs', 3, 1)$$);
-- occ_delete cannot test DELETE policies before it deletes: a stale version on
-- a row the caller can SELECT reports OC409 (its version is no secret to her)
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_delete('rls_docs', 3, 7)$$);
SELECT state, detail
  FROM pg_temp.err($$SELECT occ_delete_if_match('rls_docs', 3, '*')$$);
-- her own row: works; handing it to bob breaks the WITH CHECK policy (42501)
SELECT occ_update('rls_docs', 1, 1, '{"title":"alice''s, edited"}') - 'etag' AS updated;
SELECT state
  FROM pg_temp.err($$SELECT occ_update('rls_docs', 1, 2, '{"owner_name":"regress_occ_bob"}')$$);
-- and a stale version of a row she may change is an ordinary OC409
SELECT state FROM pg_temp.err($$SELECT occ_update('rls_docs', 1, 1, '{"title":"x"}')$$);
RESET ROLE;
-- bob's rows are untouched, alice's has version 2
SELECT r.id, r.version, r::text = b::text AS unchanged
  FROM rls_docs r JOIN rls_before b USING (id) ORDER BY r.id;

DROP TABLE sec_docs, rls_docs;
DROP ROLE regress_occ_alice;
DROP ROLE regress_occ_bob;
