-- occ_try_update: occ_update that never raises for a conflict or a missing row, and
-- says what happened in its result instead:
--   {"status": "updated"|"merged"|"unchanged"|"conflict"|"not_found",
--    "row": ..., "current_version": ..., "conflicting_fields": [...]}
-- (plus "changed_fields" with field granularity). On a conflict "row" is the
-- current row, so an API can answer 409 with the current state and no second
-- query. Input errors still raise, with PostgreSQL's own codes.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none).
CREATE FUNCTION pg_temp.err(stmt text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;

-- pg_temp.shown(result) is a result without the random ETag of its row.
CREATE FUNCTION pg_temp.shown(result jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT result #- '{row,etag}' $$;

CREATE TABLE tu (id int PRIMARY KEY, title text, body text, n int);
INSERT INTO tu VALUES (1, 'draft', 'hello', 1), (2, 'second', 'row', 2);
SELECT occ_enable('tu', granularity => 'field');

-- "updated": the expected version is the current one and the patch changes
-- something; "row" is the new row, as occ_update returns it
SELECT pg_temp.shown(occ_try_update('tu', 1, 1, '{"title":"by A"}')) AS updated;
SELECT occ_try_update('tu', 1, 2, '{"n":2}') AS r \gset
SELECT :'r'::jsonb -> 'row' = to_jsonb(tu) AS row_is_stored,
       (:'r'::jsonb ->> 'current_version')::bigint = version AS current_version_is_stored
  FROM tu WHERE id = 1;

-- "unchanged": the patch sets what the row already holds (or is empty); nothing bumps
SELECT pg_temp.shown(occ_try_update('tu', 1, 3, '{"title":"by A"}')) AS unchanged;
SELECT occ_try_update('tu', 1, 3, '{}') ->> 'status' AS empty_patch;
SELECT version FROM tu WHERE id = 1;

-- "merged": a stale version, but nothing the patch touches changed since; it is
-- applied and the version bumped once
SELECT pg_temp.shown(occ_try_update('tu', 1, 1, '{"body":"by B"}')) AS merged;
-- a stale patch that only repeats current values is "unchanged"
SELECT pg_temp.shown(occ_try_update('tu', 1, 1, '{"title":"by A","body":"by B"}')) AS converged;

-- "conflict": a patched field changed since; "row" is the current row (so no second
-- query is needed), nothing is written and nothing is raised
SELECT tu::text AS snap FROM tu WHERE id = 1 \gset
SELECT pg_temp.shown(occ_try_update('tu', 1, 1, '{"title":"by C","n":9}')) AS conflict;
SELECT occ_try_update('tu', 1, 1, '{"title":"by C"}') AS r \gset
SELECT :'r'::jsonb -> 'row' = to_jsonb(tu) AS row_is_current FROM tu WHERE id = 1;
SELECT tu::text = :'snap' AS unchanged FROM tu WHERE id = 1;
-- a version the row never had is a conflict too
SELECT pg_temp.shown(occ_try_update('tu', 1, 99, '{"body":"future"}')) AS future;

-- "not_found": no such row; row and current_version are null
SELECT occ_try_update('tu', 7, 1, '{"title":"x"}') AS not_found;

-- the keys of each result
SELECT s.status, array_agg(k ORDER BY k) AS keys
  FROM (VALUES ('updated', occ_try_update('tu', 2, 1, '{"n":3}')),
               ('conflict', occ_try_update('tu', 2, 1, '{"n":4}')),
               ('not_found', occ_try_update('tu', 8, 1, '{"n":4}'))) AS s(status, r),
       jsonb_object_keys(s.r) AS k
 GROUP BY s.status ORDER BY s.status;

-- a conflict does not abort the caller's transaction: it can go on and use the row
BEGIN;
SELECT occ_try_update('tu', 1, 1, '{"title":"by D"}') ->> 'status' AS status;
SELECT occ_try_update('tu', 1, (SELECT version FROM tu WHERE id = 1), '{"title":"by D"}')
       #>> '{row,title}' AS retried;
COMMIT;
SELECT title, version FROM tu WHERE id = 1;

-- row granularity: any stale version is a conflict; no changed_fields
CREATE TABLE tu_row (id text PRIMARY KEY, title text, body text);
INSERT INTO tu_row VALUES ('a', 'draft', 'hello');
SELECT occ_enable('tu_row');
SELECT pg_temp.shown(occ_try_update('tu_row', 'a', 1, '{"title":"by A"}')) AS updated;
SELECT pg_temp.shown(occ_try_update('tu_row', 'a', 1, '{"body":"by B"}')) AS conflict;
SELECT occ_try_update('tu_row', 'b', 1, '{"body":"by B"}') AS not_found;

-- row-level security: a row the caller cannot see is "not_found", and its data and
-- version stay hidden
CREATE ROLE regress_occ_try_user;
CREATE TABLE tu_rls (id int PRIMARY KEY, owner_name text, title text);
INSERT INTO tu_rls VALUES (1, 'regress_occ_try_user', 'mine'), (2, 'someone else', 'theirs');
SELECT occ_enable('tu_rls');
ALTER TABLE tu_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY tu_rls_own ON tu_rls USING (owner_name = current_user);
GRANT SELECT, UPDATE ON tu_rls TO regress_occ_try_user;
SET ROLE regress_occ_try_user;
SELECT occ_try_update('tu_rls', 2, 1, '{"title":"stolen"}') AS hidden;
SELECT pg_temp.shown(occ_try_update('tu_rls', 1, 1, '{"title":"still mine"}')) AS visible;
RESET ROLE;
SELECT id, title, version FROM tu_rls ORDER BY id;
DROP TABLE tu_rls;
DROP ROLE regress_occ_try_user;

-- input errors still raise, and write nothing
SELECT tu::text AS snap FROM tu WHERE id = 1 \gset
-- a patch key that is not a column: 42703
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '{"nope":1}')$$);
-- a patch that sets an occ column or the key: 428C9
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '{"field_versions":{}}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '{"version":5}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '{"id":5}')$$);
-- a patch that is not an object: 22023
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '[]')$$);
-- a NULL argument: 22004
SELECT * FROM pg_temp.err($$SELECT occ_try_update(NULL, 1, 1, '{"n":1}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', NULL::int, 1, '{"n":1}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, NULL, '{"n":1}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, NULL)$$);
-- a value or key that does not convert: the input function's code
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 1, 1, '{"n":"many"}')$$);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu', 'one'::text, 1, '{"n":1}')$$);
-- a table that is not enabled: 55000
CREATE TABLE tu_plain (id int PRIMARY KEY, n int);
SELECT * FROM pg_temp.err($$SELECT occ_try_update('tu_plain', 1, 1, '{"n":1}')$$);
SELECT tu::text = :'snap' AS unchanged FROM tu WHERE id = 1;

DROP TABLE tu, tu_row, tu_plain;
