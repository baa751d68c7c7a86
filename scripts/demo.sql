-- occ demo: two clients edit the same row; the one that saves second is told so.
-- Run by scripts/demo.sh in a fresh database (psql -X -q -v ON_ERROR_STOP=1).
\pset footer off

\echo
\echo '=== 1. Install occ and opt a table in (it needs a primary key)'
CREATE EXTENSION occ;
CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body jsonb NOT NULL DEFAULT '{}');
SELECT occ_enable('docs') \g /dev/null
SELECT * FROM occ_tables;

\echo '=== 2. Every INSERT gets version 1 and an ETag from the server'
INSERT INTO docs (id, title, body) VALUES (42, 'Draft', '{"tags": ["new"]}');
SELECT id, title, body, version, etag FROM docs;

\echo '=== 3. Clients A and B both read the row'
SELECT version AS read_version, etag AS read_etag FROM docs WHERE id = 42 \gset
\echo 'A and B both hold version' :read_version 'and ETag' :read_etag

\echo
\echo '=== 4. A saves first: occ_update(''docs'', 42, 1, patch) succeeds and returns version 2'
SELECT occ_update('docs', 42, 1, '{"title": "Draft by A"}');

\echo '=== 5. B saves with its stale version 1: ERROR with SQLSTATE OC409 and a JSON DETAIL'
\set ON_ERROR_STOP 0
SELECT occ_update('docs', 42, 1, '{"body": {"tags": ["reviewed"]}}');
\set ON_ERROR_STOP 1
\echo 'psql says LAST_ERROR_SQLSTATE =' :LAST_ERROR_SQLSTATE

\echo
\echo '=== 5b. The same conflict caught in PL/pgSQL, as application code would catch it'
DO $$
DECLARE
	state text;
	detail text;
	hint text;
BEGIN
	PERFORM occ_update('docs', 42, 1, '{"body": {"tags": ["reviewed"]}}');
EXCEPTION WHEN SQLSTATE 'OC000' THEN	-- the whole OC class: OC409, OC412, OC404, OC428
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RAISE NOTICE 'caught %, DETAIL %', state, detail;
	RAISE NOTICE 'the row is now at version %; hint: %', detail::jsonb ->> 'current_version', hint;
END
$$;

\echo
\echo '=== 6. B re-reads and retries with the current version: succeeds, version 3'
SELECT version AS read_version FROM docs WHERE id = 42 \gset
SELECT occ_update('docs', 42, :read_version, '{"body": {"tags": ["reviewed"]}}');

\echo '=== 7. An HTTP client sends If-Match with the ETag it read in step 3: OC412'
\set ON_ERROR_STOP 0
SELECT occ_update_if_match('docs', 42, :'read_etag', '{"title": "Final"}');
\set ON_ERROR_STOP 1
\echo 'psql says LAST_ERROR_SQLSTATE =' :LAST_ERROR_SQLSTATE

\echo
\echo '=== 8. With the current ETag, quoted as the If-Match header carries it, it succeeds'
SELECT '"' || etag || '"' AS if_match FROM docs WHERE id = 42 \gset
\echo 'If-Match:' :if_match
SELECT occ_update_if_match('docs', 42, :'if_match', '{"title": "Final"}');

\echo '=== 9. The row: no update was lost'
SELECT id, title, body, version, etag FROM docs;
