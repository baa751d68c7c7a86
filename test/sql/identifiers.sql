-- Identifiers that need quoting: a schema, table, key and columns whose names have
-- spaces, capitals and double quotes, and custom version and etag column names, work
-- in occ_enable, patches, returned rows, errors and occ_tables.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."My ""Docs""" (
    "Doc Id" int PRIMARY KEY,
    "Title Text" text,
    "Body" jsonb
);
INSERT INTO "Odd Schema"."My ""Docs""" VALUES (1, 'first', '{"a":1}');
SELECT occ_enable('"Odd Schema"."My ""Docs"""',
                  version_column => 'Row Version', etag_column => 'E"Tag');

SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = '"Odd Schema"."My ""Docs"""'::regclass AND attnum > 0
   AND NOT attisdropped
 ORDER BY attnum;
SELECT * FROM occ_tables WHERE table_name = '"Odd Schema"."My ""Docs"""'::regclass;
SELECT "Row Version", "E""Tag" ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM "Odd Schema"."My ""Docs""";

-- a patch naming quoted columns; the returned row uses the real column names
SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 1,
                  '{"Title Text":"second","Body":{"b":2}}') AS r \gset
SELECT :'r'::jsonb - 'E"Tag' AS returned,
       :'r'::jsonb ->> 'E"Tag' = "E""Tag" AS returned_etag_is_stored
  FROM "Odd Schema"."My ""Docs""";

-- plain SQL bumps the custom version column
UPDATE "Odd Schema"."My ""Docs""" SET "Title Text" = 'third';
INSERT INTO "Odd Schema"."My ""Docs""" ("Doc Id", "Title Text", "Row Version", "E""Tag")
VALUES (2, 'new', 50, 'forged');
SELECT "Doc Id", "Row Version", "E""Tag" ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok
  FROM "Odd Schema"."My ""Docs""" ORDER BY 1;

-- conflicts name the table (quoted where SQL needs it) and the custom version column
\x on
SELECT state, message, detail, schema_name, table_name, column_name
  FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 1,
                                       '{"Title Text":"stale"}')$$);
SELECT state, message, detail, schema_name, table_name, column_name
  FROM pg_temp.err($$SELECT occ_delete('"Odd Schema"."My ""Docs"""', 9, 1)$$);
\x off
-- the DETAIL is valid JSON whose "table" reads back as the same table
SELECT (detail::jsonb ->> 'table')::regclass = '"Odd Schema"."My ""Docs"""'::regclass
       AS table_round_trips
  FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 1,
                                       '{"Title Text":"stale"}')$$);

-- the custom version and etag columns cannot be patched (428C9), an unknown quoted
-- column is 42703
SELECT state FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 3,
                                                  '{"Row Version":9}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 3,
                                                  '{"E\"Tag":"x"}')$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."My ""Docs"""', 1, 3,
                                                  '{"title text":"x"}')$$);

-- a composite key whose column names need quoting
CREATE TABLE "Odd Schema"."Line Items" ("Order No" int, "line.no" int, qty int,
                                        PRIMARY KEY ("Order No", "line.no"));
INSERT INTO "Odd Schema"."Line Items" VALUES (10, 1, 5);
SELECT occ_enable('"Odd Schema"."Line Items"');
SELECT occ_update('"Odd Schema"."Line Items"', '{"Order No":10,"line.no":1}'::jsonb, 1,
                  '{"qty":6}') - 'etag' AS updated;
SELECT message, detail
  FROM pg_temp.err($$SELECT occ_update('"Odd Schema"."Line Items"',
                                       '{"Order No":10,"line.no":2}'::jsonb, 1,
                                       '{"qty":6}')$$);

DROP TABLE "Odd Schema"."My ""Docs""", "Odd Schema"."Line Items";
DROP SCHEMA "Odd Schema";
