-- Conflict errors never show data the caller cannot SELECT: their DETAIL holds only
-- the table, the key, versions, ETags and field names, never a column's value; a row
-- that row-level security hides is OC404 with only table and key; a caller without
-- SELECT on the columns gets 42501 from the conditional functions, before any row
-- is read; and the errors the trigger raises (version_input expected/next) do not
-- tell a caller the key, version or ETag of a row it may update but not read.

-- pg_temp.err(stmt) runs stmt and returns the error's fields ('no error' if none)
CREATE FUNCTION pg_temp.err(stmt text,
    OUT state text, OUT message text, OUT detail text, OUT hint text, OUT context text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
        detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT, context = PG_EXCEPTION_CONTEXT;
END
$$;

CREATE ROLE regress_occ_eve;
CREATE TABLE hd_docs (id int PRIMARY KEY, owner text, title text, secret text, doc jsonb);
INSERT INTO hd_docs VALUES
    (1, 'regress_occ_eve', 'mine', 'TOPSECRET-1', '{"pin": "TOPSECRET-2"}'),
    (4711, 'someone', 'theirs', 'TOPSECRET-3', '{"pin": "TOPSECRET-4"}');
SELECT occ_enable('hd_docs', granularity => 'field');
UPDATE hd_docs SET title = 'changed', doc = '{"pin": "TOPSECRET-5"}' WHERE id = 1;
GRANT SELECT, UPDATE, DELETE ON hd_docs TO regress_occ_eve;

-- every error field of every conflict: no column value in any of them
SET ROLE regress_occ_eve;
CREATE TEMP TABLE hd_errors AS
SELECT s AS stmt, (pg_temp.err(s)).* FROM unnest(ARRAY[
    'SELECT occ_update(''hd_docs'', 1, 1, ''{"title": "x"}'')',
    'SELECT occ_update(''hd_docs'', 1, 1, ''{"doc": {"pin": "x"}}'')',
    'SELECT occ_update(''hd_docs'', 1, 9, ''{"secret": "x"}'')',
    'SELECT occ_update_if_match(''hd_docs'', 1, ''"nope"'', ''{"title": "x"}'')',
    'SELECT occ_delete(''hd_docs'', 1, 1)',
    'SELECT occ_delete_if_match(''hd_docs'', 1, ''nope'')',
    'SELECT occ_update_many(''hd_docs'', ''[{"id": 1, "version": 1, "patch": {"title": "x"}}, {"id": 2, "version": 1, "patch": {}}]'')',
    'SELECT occ_update(''hd_docs'', 1, 2, ''{"doc": {"pin": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, "title": 5}'')'
]) AS s;
RESET ROLE;
SELECT stmt, state, message,
       regexp_replace(detail, '"[A-Za-z0-9_-]{24}"', '"<etag>"', 'g') AS detail
  FROM hd_errors ORDER BY stmt;
SELECT count(*) AS fields_holding_a_secret FROM hd_errors
 WHERE concat(message, detail, hint, context) LIKE '%TOPSECRET%';
-- the DETAIL of each OC error is one JSON object with only these members
SELECT DISTINCT k AS detail_member
  FROM hd_errors, jsonb_object_keys(detail::jsonb) k
 WHERE state LIKE 'OC%' ORDER BY 1;
SELECT DISTINCT k AS batch_item_member
  FROM hd_errors, jsonb_array_elements(detail::jsonb -> 'items') i, jsonb_object_keys(i) k
 WHERE state LIKE 'OC%' ORDER BY 1;

-- row-level security: a row eve may not see is OC404, naming only table and key
ALTER TABLE hd_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY hd_own ON hd_docs USING (owner = current_user);
SET ROLE regress_occ_eve;
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('hd_docs', 4711, 1, '{"title": "x"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('hd_docs', 4711, 5, '{"title": "x"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update_if_match('hd_docs', 4711, 'x', '{"title": "x"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_delete('hd_docs', 4711, 1)$$);
SELECT occ_try_update('hd_docs', 4711, 1, '{"title": "x"}') AS try_hidden_row;
RESET ROLE;
DROP POLICY hd_own ON hd_docs;
ALTER TABLE hd_docs DISABLE ROW LEVEL SECURITY;

-- without SELECT on a column the conditional functions refuse before reading a row
REVOKE ALL ON hd_docs FROM regress_occ_eve;
GRANT SELECT (id, title, version, etag), UPDATE (title) ON hd_docs TO regress_occ_eve;
SET ROLE regress_occ_eve;
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('hd_docs', 4711, 1, '{"title": "x"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('hd_docs', 4711, 99, '{"title": "x"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_try_update('hd_docs', 4711, 99, '{"title": "x"}')$$);
RESET ROLE;

-- the trigger's own errors (version_input expected): eve may update the rows but not
-- read them, so the error must not tell her their key, version or ETag
CREATE TABLE hd_orm (id int PRIMARY KEY, email text, t text);
INSERT INTO hd_orm VALUES (4711, 'ceo@example.com', 'a');
SELECT occ_enable('hd_orm', version_input => 'expected');
UPDATE hd_orm SET t = 'b', version = 1;
SELECT version AS current_version, etag AS current_etag FROM hd_orm \gset
-- (a) UPDATE privilege on two columns, no SELECT privilege at all
GRANT UPDATE (t, version) ON hd_orm TO regress_occ_eve;
SET ROLE regress_occ_eve;
CREATE TEMP TABLE hd_trigger_errors AS
SELECT 'no SELECT privilege' AS why, s AS stmt, (pg_temp.err(s)).* FROM unnest(ARRAY[
    'UPDATE hd_orm SET t = ''z'', version = 99',
    'UPDATE hd_orm SET t = ''z''']) AS s;
RESET ROLE;
REVOKE ALL ON hd_orm FROM regress_occ_eve;
-- (b) row-level security: eve's UPDATE policy covers rows her SELECT policy hides
ALTER TABLE hd_orm ENABLE ROW LEVEL SECURITY;
CREATE POLICY hd_sel ON hd_orm FOR SELECT USING (false);
CREATE POLICY hd_upd ON hd_orm FOR UPDATE USING (true);
GRANT SELECT, UPDATE ON hd_orm TO regress_occ_eve;
SET ROLE regress_occ_eve;
SELECT count(*) AS rows_eve_can_see FROM hd_orm;
INSERT INTO hd_trigger_errors
SELECT 'row hidden by RLS', s, (pg_temp.err(s)).* FROM unnest(ARRAY[
    'UPDATE hd_orm SET t = ''z'', version = 99',
    'UPDATE hd_orm SET t = ''z''']) AS s;
RESET ROLE;
SELECT why, stmt, state,
       message LIKE '%4711%' OR detail LIKE '%4711%' AS shows_key,
       detail LIKE '%"current_version":' || :current_version || '%' AS shows_version,
       detail LIKE '%' || :'current_etag' || '%' AS shows_etag,
       concat(message, detail, hint, context) LIKE '%ceo@%' AS shows_data
  FROM hd_trigger_errors ORDER BY why, stmt;
SELECT t, version FROM hd_orm;

DROP TABLE hd_docs, hd_orm, hd_errors, hd_trigger_errors;
DROP ROLE regress_occ_eve;
