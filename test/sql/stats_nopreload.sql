-- Conflict statistics without shared_preload_libraries = 'occ' (the regression
-- server does not preload occ): occ_stats, occ_recent_conflicts and
-- occ_stats_reset() raise 55000 with a hint naming shared_preload_libraries,
-- while every conflict-control function works as usual.  Settings prefixed
-- occ. are reserved once the module is loaded.  test/t/010_stats.pl covers the
-- statistics themselves, on a server that preloads occ.
SELECT pg_catalog.current_setting('shared_preload_libraries') !~ '\mocc\M'
    AS occ_not_preloaded;

-- The occ. prefix.  This session has not loaded occ yet, so, as for any
-- unknown prefix, SET makes a placeholder; loading occ removes it with a
-- warning, and from then on SET of an unknown occ.* setting is refused.
SET occ.no_such_setting = 'x';
LOAD 'occ';
SET occ.no_such_setting = 'y';
\echo :LAST_ERROR_SQLSTATE
-- the module's own settings are there
SHOW occ.log_conflicts;

-- pg_temp.err(stmt) runs stmt and returns the error it raised
-- (state is 'no error' if none)
CREATE FUNCTION pg_temp.err(stmt text,
    OUT state text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
        hint = PG_EXCEPTION_HINT;
END
$$;

-- The statistics: 55000, with a hint naming shared_preload_libraries.
SELECT state, message, hint LIKE '%shared_preload_libraries%' AS hint_names_setting
  FROM pg_temp.err('SELECT * FROM occ_stats');
SELECT state, message, hint LIKE '%shared_preload_libraries%' AS hint_names_setting
  FROM pg_temp.err('SELECT * FROM occ_recent_conflicts');
SELECT state, message, hint LIKE '%shared_preload_libraries%' AS hint_names_setting
  FROM pg_temp.err('SELECT occ_stats_reset()');
-- occ_stats_reset() stays revoked from PUBLIC
SELECT pg_catalog.has_function_privilege('public', 'occ_stats_reset()', 'EXECUTE')
    AS public_may_reset;

-- Everything else works: updates, each kind of conflict, a field merge.
CREATE TABLE np_docs (id int PRIMARY KEY, title text);
SELECT occ_enable('np_docs');
INSERT INTO np_docs VALUES (1, 'first');
SELECT occ_update('np_docs', 1, 1, '{"title":"second"}') ->> 'version' AS version;
SELECT state FROM pg_temp.err($$SELECT occ_update('np_docs', 1, 1, '{"title":"stale"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update_if_match('np_docs', 1,
                                    'AAAAAAAAAAAAAAAAAAAAAAAA', '{"title":"stale"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('np_docs', 2, 1, '{"title":"none"}')$$);
SELECT occ_try_update('np_docs', 1, 1, '{"title":"stale"}') ->> 'status' AS status;
UPDATE np_docs SET title = title;   -- a no-op UPDATE
SELECT id, title, version FROM np_docs;

CREATE TABLE np_orm (id int PRIMARY KEY, name text);
SELECT occ_enable('np_orm', version_input => 'expected');
INSERT INTO np_orm VALUES (1, 'x');
SELECT state FROM pg_temp.err($$UPDATE np_orm SET name = 'y' WHERE id = 1$$);
SELECT state FROM pg_temp.err($$UPDATE np_orm SET name = 'y', version = 5 WHERE id = 1$$);
UPDATE np_orm SET name = 'y', version = 1 WHERE id = 1;
SELECT id, name, version FROM np_orm;

CREATE TABLE np_notes (id int PRIMARY KEY, a text, b text);
SELECT occ_enable('np_notes', granularity => 'field');
INSERT INTO np_notes VALUES (1, 'a', 'b');
SELECT occ_update('np_notes', 1, 1, '{"a":"a2"}') ->> 'version' AS version;
-- written against version 1, touching only b: merged
SELECT occ_update('np_notes', 1, 1, '{"b":"b2"}') ->> 'version' AS version;
SELECT id, a, b, version FROM np_notes;

SELECT occ_delete('np_docs', 1, 2) ->> 'id' AS deleted;

DROP TABLE np_docs, np_orm, np_notes;
