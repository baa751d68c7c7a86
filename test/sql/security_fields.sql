-- Field granularity under hostile documents (issue 18, items 2 and 9).  The
-- trigger compares a json column's old and new document member by member in one
-- pass over each, so its work grows linearly with the document and it can be
-- cancelled at any point (statement_timeout, pg_cancel_backend); and it forgets
-- the names of members that are gone from the document, recording only when
-- the latest of them changed ("d"), so that field_versions never outgrows the row.

\i test/sql/include/err.psql

CREATE TABLE sec_docs (id int PRIMARY KEY, doc jsonb);
SELECT occ_enable('sec_docs', granularity => 'field');
INSERT INTO sec_docs VALUES (1, '{"a": 1, "b": 2, "c": 3}');

-- removing a member forgets its name: "d" says a member of doc went at version 2
UPDATE sec_docs SET doc = '{"b": 2, "c": 4}' WHERE id = 1;
SELECT version, field_versions FROM sec_docs WHERE id = 1;

-- a client that read version 1 and sets "a" again conflicts: "a" changed at 2
SELECT state, detail::jsonb - 'current_etag' AS detail
  FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"doc": {"a": 9}}')$$);
-- as does one that sets the changed "c"; one that read version 2 merges
SELECT state FROM pg_temp.err($$SELECT occ_update('sec_docs', 1, 1, '{"doc": {"c": 9}}')$$);
SELECT occ_update('sec_docs', 1, 2, '{"doc": {"a": 9}}') - 'etag' AS merged;
SELECT version, field_versions FROM sec_docs WHERE id = 1;

-- members come and go under 200 different names: field_versions keeps only the
-- current ones
DO $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        UPDATE sec_docs SET doc = jsonb_build_object('k' || i, i, 'b', 2) WHERE id = 1;
    END LOOP;
END $$;
SELECT version, field_versions FROM sec_docs WHERE id = 1;

-- a wholesale replacement (no longer an object) resets the member records
UPDATE sec_docs SET doc = '[1]' WHERE id = 1;
SELECT version, field_versions FROM sec_docs WHERE id = 1;

-- 100,000 members: every one changes, and the UPDATE must stop within a second
-- of its statement_timeout (quadratic, uninterruptible work took minutes).  The
-- deadline is 50 ms, far below the linear work's own time (about 0.3 s; 100 ms
-- even at 1 us a member) and above the reading before it, so the statement is
-- always cancelled inside the member comparison.
INSERT INTO sec_docs
    SELECT 2, jsonb_object_agg('member_' || i, i) FROM generate_series(1, 100000) i;
UPDATE sec_docs SET doc = (SELECT jsonb_object_agg('member_' || i, i + 1)
                             FROM generate_series(1, 100000) i)
 WHERE id = 2;
SELECT jsonb_typeof(field_versions -> 'm' -> 'doc') AS tracked,
       (SELECT count(*) FROM jsonb_object_keys(field_versions -> 'm' -> 'doc')) AS members
  FROM sec_docs WHERE id = 2;
CREATE TEMP TABLE sec_next AS
    SELECT jsonb_object_agg('member_' || i, i + 2) AS doc FROM generate_series(1, 100000) i;
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '50ms';
UPDATE sec_docs SET doc = n.doc FROM sec_next n WHERE id = 2;
RESET statement_timeout;
SELECT :'LAST_ERROR_SQLSTATE' AS state,
       clock_timestamp() - :'started'::timestamptz < interval '1.2 s' AS within_a_second;
-- the row is untouched
SELECT version, doc -> 'member_1' AS member_1 FROM sec_docs WHERE id = 2;

DROP TABLE sec_docs;
