-- The extension in a schema that is not on search_path: every function works when
-- called schema-qualified, and none of them, nor the trigger, can be hijacked through
-- search_path: decoy functions, operators and relations named like the ones occ
-- might use, planted in public ahead of pg_catalog, are never reached.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

DROP EXTENSION occ;
CREATE SCHEMA occ_x;
CREATE EXTENSION occ SCHEMA occ_x;
SELECT n.nspname AS extension_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'occ';
SELECT has_table_privilege('public', 'occ_x.occ_secret', 'SELECT') AS public_reads_secret;

CREATE TABLE sp_docs (id bigint PRIMARY KEY, title text, doc jsonb);
INSERT INTO sp_docs VALUES (1, 'one', '{"k":1,"n":1}'), (2, 'two', '{}'), (3, 'three', '{}');

-- the decoys: each raises an error if it is ever called
CREATE FUNCTION public.occ_hijacked() RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'hijacked through search_path'; END$$;
CREATE FUNCTION public.occ_hijacked_eq(bigint, bigint) RETURNS boolean
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN true; END$$;
CREATE FUNCTION public.occ_hijacked_eq(integer, integer) RETURNS boolean
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN true; END$$;
CREATE FUNCTION public.occ_hijacked_eq(text, text) RETURNS boolean
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN true; END$$;
CREATE FUNCTION public.occ_hijacked_eq(oid, oid) RETURNS boolean
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN true; END$$;
CREATE FUNCTION public.occ_hijacked_eq(jsonb, jsonb) RETURNS boolean
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN true; END$$;
CREATE FUNCTION public.occ_hijacked_jsonb(jsonb, jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $1; END$$;
CREATE FUNCTION public.occ_hijacked_field(jsonb, text) RETURNS jsonb
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $1; END$$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.occ_hijacked_eq);
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.occ_hijacked_eq);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.occ_hijacked_eq);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.occ_hijacked_eq);
CREATE OPERATOR public.= (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.occ_hijacked_eq);
CREATE OPERATOR public.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.occ_hijacked_jsonb);
CREATE OPERATOR public.- (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.occ_hijacked_field);
CREATE OPERATOR public.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.occ_hijacked_field);
CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN NULL; END$$;
CREATE FUNCTION public.row_to_json(record) RETURNS json
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN NULL; END$$;
CREATE FUNCTION public.jsonb_populate_record(anyelement, jsonb) RETURNS anyelement
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $1; END$$;
CREATE FUNCTION public.quote_ident(text) RETURNS text
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $1; END$$;
CREATE FUNCTION public.sha256(bytea) RETURNS bytea
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $1; END$$;
CREATE FUNCTION public.encode(bytea, text) RETURNS text
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $2; END$$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN NULL; END$$;
CREATE FUNCTION public.occ_merge_patch(jsonb, jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN $2; END$$;
CREATE FUNCTION public.occ_trigger() RETURNS trigger
  LANGUAGE plpgsql AS $$BEGIN PERFORM public.occ_hijacked(); RETURN NEW; END$$;
CREATE VIEW public.occ_secret AS
  SELECT 1 AS id, NULL::bytea AS secret, public.occ_hijacked() AS hijack;
CREATE VIEW public.occ_tables AS
  SELECT 'sp_docs'::regclass AS table_name, public.occ_hijacked() AS hijack;

-- with public ahead of pg_catalog, and occ_x not on the path at all: every call below
-- either works or reports its own error, never 'hijacked through search_path'
SET search_path = public, pg_catalog;
SELECT occ_x.occ_enable('sp_docs');
INSERT INTO sp_docs VALUES (4, 'four', '{}');
UPDATE sp_docs SET title = 'plain' WHERE id OPERATOR(pg_catalog.=) 2;
SELECT occ_x.occ_update('sp_docs', 1, 1, '{"title":"patched","doc":{"k":null,"m":2}}') AS r1 \gset
SELECT occ_x.occ_update('sp_docs', '3', 1, '{}') AS r3 \gset
SELECT etag AS e3 FROM sp_docs WHERE id OPERATOR(pg_catalog.=) 3 \gset
SELECT occ_x.occ_update_if_match('sp_docs', 3, :'e3', '{"title":"matched"}') AS r3b \gset
SELECT state, message
  FROM pg_temp.err($$SELECT occ_x.occ_update('sp_docs', 1, 1, '{"title":"stale"}')$$);
SELECT state, message
  FROM pg_temp.err($$SELECT occ_x.occ_update_if_match('sp_docs', 1, 'nope', '{}')$$);
SELECT state, message
  FROM pg_temp.err($$SELECT occ_x.occ_update('sp_docs', 99, 1, '{}')$$);
SELECT state, message
  FROM pg_temp.err($$SELECT occ_x.occ_update('sp_docs', 1, 2, '{"nope":1}')$$);
SELECT occ_x.occ_delete('sp_docs', 4, 1) AS d4 \gset
SELECT occ_x.occ_delete_if_match('sp_docs', 2, '*') AS d2 \gset
SELECT occ_x.occ_merge_patch('{"a":1,"b":2}', '{"a":null}') AS merged;
SELECT table_name, key_columns, version_column, etag_column, granularity, version_input
  FROM occ_x.occ_tables;
SELECT occ_x.occ_enable('sp_docs', version_input => 'expected');
SELECT state
  FROM pg_temp.err($$UPDATE sp_docs SET title = 'x' WHERE id OPERATOR(pg_catalog.=) 1$$);
SELECT occ_x.occ_enable('sp_docs');
RESET search_path;

-- what those calls did
SELECT :'r1'::jsonb - 'etag' AS r1, :'r3'::jsonb - 'etag' AS r3, :'r3b'::jsonb - 'etag' AS r3b;
SELECT :'d4'::jsonb - 'etag' AS d4, :'d2'::jsonb - 'etag' AS d2;
SELECT id, title, doc, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM sp_docs ORDER BY id;
SELECT :'r1'::jsonb ->> 'etag' = etag AS r1_etag_is_stored FROM sp_docs WHERE id = 1;

-- the functions are not found without the schema
SELECT state FROM pg_temp.err($$SELECT occ_update('sp_docs', 1, 2, '{}')$$);

SELECT occ_x.occ_disable('sp_docs');
SELECT count(*) AS triggers
  FROM pg_trigger WHERE tgrelid = 'sp_docs'::regclass AND NOT tgisinternal;

-- clean up, and put occ back in public for the tests that follow
DROP VIEW public.occ_secret, public.occ_tables;
DROP TABLE sp_docs;
DROP OPERATOR public.= (bigint, bigint), public.= (integer, integer), public.= (text, text),
  public.= (oid, oid), public.= (jsonb, jsonb), public.|| (jsonb, jsonb),
  public.- (jsonb, text), public.-> (jsonb, text);
DROP FUNCTION public.occ_hijacked_eq(bigint, bigint), public.occ_hijacked_eq(integer, integer),
  public.occ_hijacked_eq(text, text), public.occ_hijacked_eq(oid, oid),
  public.occ_hijacked_eq(jsonb, jsonb), public.occ_hijacked_jsonb(jsonb, jsonb),
  public.occ_hijacked_field(jsonb, text);
DROP FUNCTION public.to_jsonb(anyelement), public.row_to_json(record),
  public.jsonb_populate_record(anyelement, jsonb), public.quote_ident(text),
  public.sha256(bytea), public.encode(bytea, text), public.gen_random_uuid(),
  public.occ_merge_patch(jsonb, jsonb), public.occ_trigger(), public.occ_hijacked();
DROP EXTENSION occ;
DROP SCHEMA occ_x;
CREATE EXTENSION occ;
SELECT n.nspname AS extension_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'occ';
