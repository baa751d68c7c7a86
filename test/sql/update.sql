-- occ_update: applies a JSON patch when the row's version is the expected one, and
-- returns the new row. The patch is RFC 7396 at the column level: a value is
-- converted to the column's type as jsonb_populate_record converts it, JSON null
-- sets SQL NULL, a json/jsonb column is merged by RFC 7396 (arrays replaced, null
-- removes a member), unnamed columns keep their values, and a patch that changes
-- nothing bumps nothing. A value that does not convert is the input function's
-- error, and nothing is written.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TYPE upd_mood AS ENUM ('sad', 'happy');
CREATE TABLE upd (
    id int PRIMARY KEY,
    title text,
    n int,
    amount numeric,
    flag bool,
    at timestamptz,
    ids int[],
    tags text[],
    mood upd_mood,
    doc jsonb,
    raw json
);
INSERT INTO upd (id, title, n, doc, raw)
VALUES (1, 'first', 1, '{"a":1,"b":{"c":2,"d":3},"arr":[1,2]}', '{"x":1,"y":2}');
SELECT occ_enable('upd');

-- one column; the result is the whole new row, with the new version and ETag
SELECT occ_update('upd', 1, 1, '{"title":"second"}') AS r \gset
SELECT :'r'::jsonb - 'etag' AS returned;
SELECT :'r'::jsonb ->> 'etag' = etag AS returned_etag_is_stored,
       :'r'::jsonb = to_jsonb(upd) AS returned_row_is_stored
  FROM upd WHERE id = 1;

-- the version must be the current one: OC409 for the old one, nothing written
SELECT upd::text AS snap FROM upd WHERE id = 1 \gset
SELECT state FROM pg_temp.err($$SELECT occ_update('upd', 1, 1, '{"title":"stale"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('upd', 1, 3, '{"title":"future"}')$$);
SELECT upd::text = :'snap' AS unchanged FROM upd WHERE id = 1;

-- values converted as jsonb_populate_record converts them
SELECT occ_update('upd', 1, 2, '{"n":42,"amount":3.14159,"flag":true,
                                 "at":"2024-01-02T03:04:05Z","ids":[1,2,3],
                                 "tags":["a","b c"],"mood":"happy"}') -> 'version' AS version;
SELECT title, n, amount, flag, at = '2024-01-02 03:04:05+00' AS at_ok, ids, tags, mood
  FROM upd WHERE id = 1;
-- a number for a text column, a string for int, numeric and bool columns
SELECT occ_update('upd', 1, 3, '{"title":5,"n":"7","amount":"2.50","flag":"false"}')
       -> 'version' AS version;
SELECT title, n, amount, flag FROM upd WHERE id = 1;
-- an object for a text column becomes its JSON text, as in jsonb_populate_record
SELECT occ_update('upd', 1, 4, '{"title":{"k":[1,"v"]}}') -> 'version' AS version;
SELECT title = (jsonb_populate_record(NULL::upd, '{"title":{"k":[1,"v"]}}')).title
       AS as_populate_record
  FROM upd WHERE id = 1;

-- JSON null sets SQL NULL; columns not named keep their values
SELECT occ_update('upd', 1, 5, '{"title":null,"tags":null,"mood":null}') -> 'version' AS version;
SELECT title IS NULL AS title_null, tags IS NULL AS tags_null, mood IS NULL AS mood_null,
       n, amount, flag, ids
  FROM upd WHERE id = 1;

-- a jsonb column is merged into: nested members merge, null removes a member, an
-- array is replaced, a new member is added
SELECT occ_update('upd', 1, 6, '{"doc":{"b":{"c":20,"d":null},"arr":[9],"e":"new"}}')
       -> 'doc' AS doc;
SELECT doc = '{"a":1,"b":{"c":20},"arr":[9],"e":"new"}' AS merged FROM upd WHERE id = 1;
-- so is a json column, which stays json
SELECT occ_update('upd', 1, 7, '{"raw":{"y":null,"z":[1]}}') -> 'raw' AS raw;
SELECT pg_typeof(raw) AS type, raw::jsonb = '{"x":1,"z":[1]}' AS merged
  FROM upd WHERE id = 1;
-- a non-object value replaces the document
SELECT occ_update('upd', 1, 8, '{"doc":[1,2]}') -> 'doc' AS doc;
SELECT occ_update('upd', 1, 9, '{"doc":{"k":null,"a":1}}') -> 'doc' AS doc;
SELECT occ_update('upd', 1, 10, '{"doc":"text"}') -> 'doc' AS doc;
-- null for the column itself sets SQL NULL; merging into SQL NULL builds a document
SELECT occ_update('upd', 1, 11, '{"doc":null,"raw":null}') -> 'version' AS version;
SELECT doc IS NULL AS doc_null, raw IS NULL AS raw_null FROM upd WHERE id = 1;
SELECT occ_update('upd', 1, 12, '{"doc":{"k":1,"gone":null}}') -> 'doc' AS doc;
SELECT doc = '{"k":1}' AS built FROM upd WHERE id = 1;

-- an empty patch changes and bumps nothing, and returns the current row; it still
-- checks the version
SELECT etag AS e13, upd::text AS snap FROM upd WHERE id = 1 \gset
SELECT occ_update('upd', 1, 13, '{}') AS r \gset
SELECT (:'r'::jsonb -> 'version')::int AS version, :'r'::jsonb ->> 'etag' = :'e13' AS etag_kept,
       upd::text = :'snap' AS unchanged
  FROM upd WHERE id = 1;
SELECT state FROM pg_temp.err($$SELECT occ_update('upd', 1, 12, '{}')$$);
-- so does a patch that sets the values the row already has
SELECT occ_update('upd', 1, 13, '{"n":7,"ids":[1,2,3],"doc":{"k":1}}') AS r \gset
SELECT (:'r'::jsonb -> 'version')::int AS version, :'r'::jsonb ->> 'etag' = :'e13' AS etag_kept,
       upd::text = :'snap' AS unchanged
  FROM upd WHERE id = 1;

-- a value that does not convert: the input function's error, nothing written
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","n":"abc"}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","n":1.5}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","n":99999999999}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","flag":"maybe"}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","at":"soon"}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","ids":"notarray"}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","ids":["a"]}')$$);
SELECT state, message FROM pg_temp.err($$SELECT occ_update('upd', 1, 13, '{"title":"x","mood":"angry"}')$$);
SELECT upd::text = :'snap' AS unchanged FROM upd WHERE id = 1;

-- a chain of updates, each with the version the previous one returned
SELECT occ_update('upd', 1, 13, '{"n":100}') -> 'version' AS v \gset
SELECT occ_update('upd', 1, :v, '{"n":101}') -> 'version' AS v \gset
SELECT occ_update('upd', 1, :v, '{"n":102}') -> 'version' AS v \gset
SELECT n, version, version = :v AS returned_version_is_stored FROM upd WHERE id = 1;

-- the returned row is exactly to_jsonb(row), whatever the column types:
-- arrays of the types occ converts itself (with NULLs, empty, more
-- dimensions, bounds), domains, json, dropped columns
CREATE DOMAIN upd_posint AS integer CHECK (VALUE > 0);
CREATE TABLE upd_types (
    id bigint PRIMARY KEY,
    gone text,
    i2 smallint[], i4 integer[], i8 bigint[], b boolean[], t text[], vc varchar(5)[],
    jb jsonb[], num numeric[], dom upd_posint, doms upd_posint[], j json, d date,
    s smallint, big bigint, vch varchar, flag boolean, obj jsonb);
ALTER TABLE upd_types DROP COLUMN gone;
SELECT occ_enable('upd_types');
INSERT INTO upd_types VALUES
    (1, '{1,NULL,-3}', '{2147483647,-2147483648}', '{9223372036854775807,NULL}', '{t,f,NULL}',
     '{"a","","quote\"d",NULL}', '{ab,cd}', ARRAY['{"k":[1,2]}'::jsonb, '3', 'null', NULL],
     '{1.50,NaN}', 7, '{1,2}', '{"x": [1, 2]}', '2024-02-29', -5, 42, 'v', true, '{"b":1,"a":[null]}'),
    (2, '{}', '{{1,2},{3,4}}', '[0:1]={5,6}', '{}', '{}', NULL, '{}', NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, 'null');
SELECT occ_update('upd_types', 1, 1, '{"s": 6}') AS r1 \gset
SELECT occ_update('upd_types', 2, 1, '{"s": 6}') AS r2 \gset
SELECT id, to_jsonb(u) = CASE id WHEN 1 THEN :'r1'::jsonb ELSE :'r2'::jsonb END AS returned_is_to_jsonb
  FROM upd_types u ORDER BY id;
SELECT :'r1'::jsonb - 'etag' AS returned;
SELECT :'r2'::jsonb - 'etag' AS returned;
SELECT occ_update('upd_types', 2, 2, '{"i4": [1, 2], "i8": null, "t": ["z", null]}') AS r2 \gset
SELECT to_jsonb(u) = :'r2'::jsonb AS returned_is_to_jsonb, i4, i8, t FROM upd_types u WHERE id = 2;
DROP TABLE upd_types;
DROP DOMAIN upd_posint;

DROP TABLE upd;
DROP TYPE upd_mood;
