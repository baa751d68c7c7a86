/* occ--1.1--1.2.sql: occ 1.2 (a fresh install runs occ--1.0.sql and every upgrade script) */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION occ UPDATE TO '1.2'" to load this file. \quit

-- Inheritance (issue 13): an enabled table may not gain inheritance children,
-- whose rows would get neither occ's trigger nor versions.  Fires for everyone's
-- CREATE/ALTER TABLE and CREATE/ALTER FOREIGN TABLE; one qualified catalog query
-- (src/inheritance.c).
CREATE FUNCTION @extschema@.occ_refuse_inheritance() RETURNS event_trigger
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_refuse_inheritance';
COMMENT ON FUNCTION @extschema@.occ_refuse_inheritance() IS
    'event trigger: refuses CREATE TABLE ... INHERITS and ALTER TABLE ... INHERIT onto a table enabled for occ';

CREATE EVENT TRIGGER occ_refuse_inheritance ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION @extschema@.occ_refuse_inheritance();
COMMENT ON EVENT TRIGGER occ_refuse_inheritance IS
    'keeps inheritance children away from tables enabled for occ';

-- Untyped ids: a bind parameter sent without a type (node-postgres, pgx, psycopg 3
-- with a str, pgjdbc with stringtype=unspecified, PREPARE without types) cannot
-- resolve to "any".  These text overloads take it instead: an unknown value prefers
-- the string category, while int, bigint, uuid, json and jsonb ids still resolve to
-- "any" (they have no implicit cast to text).  The C function reads the id by the
-- key column's type (a composite key: as a JSON object), as it reads "any".
-- "char" also casts to text implicitly, but outside the string category, so a
-- "char" id would match "any" and text equally: its own overloads keep it unique.
CREATE FUNCTION @extschema@.occ_update(
    tbl pg_catalog.regclass, id pg_catalog.text, expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update';
COMMENT ON FUNCTION @extschema@.occ_update(pg_catalog.regclass, pg_catalog.text, pg_catalog.int8, pg_catalog.jsonb) IS
    'occ_update for an id given as text or an untyped parameter, read by the key column''s type';

CREATE FUNCTION @extschema@.occ_update_if_match(
    tbl pg_catalog.regclass, id pg_catalog.text, if_match pg_catalog.text,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update_if_match';
COMMENT ON FUNCTION @extschema@.occ_update_if_match(pg_catalog.regclass, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
    'occ_update_if_match for an id given as text or an untyped parameter, read by the key column''s type';

CREATE FUNCTION @extschema@.occ_try_update(
    tbl pg_catalog.regclass, id pg_catalog.text, expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_try_update';
COMMENT ON FUNCTION @extschema@.occ_try_update(pg_catalog.regclass, pg_catalog.text, pg_catalog.int8, pg_catalog.jsonb) IS
    'occ_try_update for an id given as text or an untyped parameter, read by the key column''s type';

CREATE FUNCTION @extschema@.occ_delete(
    tbl pg_catalog.regclass, id pg_catalog.text, expected_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete';
COMMENT ON FUNCTION @extschema@.occ_delete(pg_catalog.regclass, pg_catalog.text, pg_catalog.int8) IS
    'occ_delete for an id given as text or an untyped parameter, read by the key column''s type';

CREATE FUNCTION @extschema@.occ_delete_if_match(
    tbl pg_catalog.regclass, id pg_catalog.text, if_match pg_catalog.text)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete_if_match';
COMMENT ON FUNCTION @extschema@.occ_delete_if_match(pg_catalog.regclass, pg_catalog.text, pg_catalog.text) IS
    'occ_delete_if_match for an id given as text or an untyped parameter, read by the key column''s type';

CREATE FUNCTION @extschema@.occ_update(
    tbl pg_catalog.regclass, id pg_catalog."char", expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update';
COMMENT ON FUNCTION @extschema@.occ_update(pg_catalog.regclass, pg_catalog."char", pg_catalog.int8, pg_catalog.jsonb) IS
    'occ_update for a "char" id, which would be ambiguous between "any" and text';

CREATE FUNCTION @extschema@.occ_update_if_match(
    tbl pg_catalog.regclass, id pg_catalog."char", if_match pg_catalog.text,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update_if_match';
COMMENT ON FUNCTION @extschema@.occ_update_if_match(pg_catalog.regclass, pg_catalog."char", pg_catalog.text, pg_catalog.jsonb) IS
    'occ_update_if_match for a "char" id, which would be ambiguous between "any" and text';

CREATE FUNCTION @extschema@.occ_try_update(
    tbl pg_catalog.regclass, id pg_catalog."char", expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_try_update';
COMMENT ON FUNCTION @extschema@.occ_try_update(pg_catalog.regclass, pg_catalog."char", pg_catalog.int8, pg_catalog.jsonb) IS
    'occ_try_update for a "char" id, which would be ambiguous between "any" and text';

CREATE FUNCTION @extschema@.occ_delete(
    tbl pg_catalog.regclass, id pg_catalog."char", expected_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete';
COMMENT ON FUNCTION @extschema@.occ_delete(pg_catalog.regclass, pg_catalog."char", pg_catalog.int8) IS
    'occ_delete for a "char" id, which would be ambiguous between "any" and text';

CREATE FUNCTION @extschema@.occ_delete_if_match(
    tbl pg_catalog.regclass, id pg_catalog."char", if_match pg_catalog.text)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete_if_match';
COMMENT ON FUNCTION @extschema@.occ_delete_if_match(pg_catalog.regclass, pg_catalog."char", pg_catalog.text) IS
    'occ_delete_if_match for a "char" id, which would be ambiguous between "any" and text';

-- Security hardening (issue 18): how full the fixed statistics table is.
CREATE FUNCTION @extschema@.occ_stats_capacity(
    OUT max_tables pg_catalog.int4,
    OUT tracked_tables pg_catalog.int4,
    OUT untracked_events pg_catalog.int8)
    RETURNS record
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'occ_stats_capacity';
COMMENT ON FUNCTION @extschema@.occ_stats_capacity() IS
    'occ.max_tables, the tables occ keeps statistics for, and the events not counted because the table was full';

-- Row history and the three-way merge (issue 16).  occ_enable gains history => N:
-- the 1.1 form is replaced, so that calls naming its five arguments still resolve.
DROP FUNCTION @extschema@.occ_enable(pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text);
CREATE FUNCTION @extschema@.occ_enable(
    tbl pg_catalog.regclass,
    version_column pg_catalog.name DEFAULT 'version',
    etag_column pg_catalog.name DEFAULT 'etag',
    granularity pg_catalog.text DEFAULT 'row',
    version_input pg_catalog.text DEFAULT 'ignore',
    history pg_catalog.int4 DEFAULT 0)
    RETURNS void
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_enable';
COMMENT ON FUNCTION @extschema@.occ_enable(pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text, pg_catalog.int4) IS
    'opts a table in to optimistic concurrency control, or reconfigures it; history => N keeps each row''s last N versions';

CREATE FUNCTION @extschema@.occ_history_trigger() RETURNS trigger
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_history_trigger';
COMMENT ON FUNCTION @extschema@.occ_history_trigger() IS
    'row and TRUNCATE trigger installed by occ_enable(..., history => N): a new row starts its history, a deleted one''s goes';

CREATE FUNCTION @extschema@.occ_history(tbl pg_catalog.regclass, id "any",
    OUT version pg_catalog.int8, OUT etag pg_catalog.text,
    OUT changed_at pg_catalog.timestamptz, OUT changed_by pg_catalog.text,
    OUT reason pg_catalog.text, OUT changes pg_catalog.jsonb)
    RETURNS SETOF record
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 10
    AS 'MODULE_PATHNAME', 'occ_history';
COMMENT ON FUNCTION @extschema@.occ_history(pg_catalog.regclass, "any") IS
    'the kept versions of a row, oldest first: version, ETag, when, who, why and the merge patch from the version before';

CREATE FUNCTION @extschema@.occ_row_at(tbl pg_catalog.regclass, id "any", version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_row_at';
COMMENT ON FUNCTION @extschema@.occ_row_at(pg_catalog.regclass, "any", pg_catalog.int8) IS
    'a row as it was at a kept version';

CREATE FUNCTION @extschema@.occ_diff(tbl pg_catalog.regclass, id "any",
    from_version pg_catalog.int8, to_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_diff';
COMMENT ON FUNCTION @extschema@.occ_diff(pg_catalog.regclass, "any", pg_catalog.int8, pg_catalog.int8) IS
    'the JSON merge patch from one kept version of a row to another';

CREATE FUNCTION @extschema@.occ_history(tbl pg_catalog.regclass, id pg_catalog.text,
    OUT version pg_catalog.int8, OUT etag pg_catalog.text,
    OUT changed_at pg_catalog.timestamptz, OUT changed_by pg_catalog.text,
    OUT reason pg_catalog.text, OUT changes pg_catalog.jsonb)
    RETURNS SETOF record
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 10
    AS 'MODULE_PATHNAME', 'occ_history';
COMMENT ON FUNCTION @extschema@.occ_history(pg_catalog.regclass, pg_catalog.text) IS
    'the kept versions of a row, oldest first: version, ETag, when, who, why and the merge patch from the version before (an id given as text or an untyped parameter)';

CREATE FUNCTION @extschema@.occ_row_at(tbl pg_catalog.regclass, id pg_catalog.text, version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_row_at';
COMMENT ON FUNCTION @extschema@.occ_row_at(pg_catalog.regclass, pg_catalog.text, pg_catalog.int8) IS
    'a row as it was at a kept version (an id given as text or an untyped parameter)';

CREATE FUNCTION @extschema@.occ_diff(tbl pg_catalog.regclass, id pg_catalog.text,
    from_version pg_catalog.int8, to_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_diff';
COMMENT ON FUNCTION @extschema@.occ_diff(pg_catalog.regclass, pg_catalog.text, pg_catalog.int8, pg_catalog.int8) IS
    'the JSON merge patch from one kept version of a row to another (an id given as text or an untyped parameter)';

CREATE FUNCTION @extschema@.occ_history(tbl pg_catalog.regclass, id pg_catalog."char",
    OUT version pg_catalog.int8, OUT etag pg_catalog.text,
    OUT changed_at pg_catalog.timestamptz, OUT changed_by pg_catalog.text,
    OUT reason pg_catalog.text, OUT changes pg_catalog.jsonb)
    RETURNS SETOF record
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 10
    AS 'MODULE_PATHNAME', 'occ_history';
COMMENT ON FUNCTION @extschema@.occ_history(pg_catalog.regclass, pg_catalog."char") IS
    'the kept versions of a row, oldest first: version, ETag, when, who, why and the merge patch from the version before (a "char" id)';

CREATE FUNCTION @extschema@.occ_row_at(tbl pg_catalog.regclass, id pg_catalog."char", version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_row_at';
COMMENT ON FUNCTION @extschema@.occ_row_at(pg_catalog.regclass, pg_catalog."char", pg_catalog.int8) IS
    'a row as it was at a kept version (a "char" id)';

CREATE FUNCTION @extschema@.occ_diff(tbl pg_catalog.regclass, id pg_catalog."char",
    from_version pg_catalog.int8, to_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_diff';
COMMENT ON FUNCTION @extschema@.occ_diff(pg_catalog.regclass, pg_catalog."char", pg_catalog.int8, pg_catalog.int8) IS
    'the JSON merge patch from one kept version of a row to another (a "char" id)';

-- DROP TABLE drops the table's history table: by a dependency, which pg_dump does
-- not keep, and after a restore by this event trigger, which goes by the history
-- table's comment and drops only the dropping role's own tables (src/historytable.c).
CREATE FUNCTION @extschema@.occ_drop_history() RETURNS event_trigger
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_drop_history';
COMMENT ON FUNCTION @extschema@.occ_drop_history() IS
    'event trigger: drops the history table of a dropped table';

CREATE EVENT TRIGGER occ_drop_history ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.occ_drop_history();
COMMENT ON EVENT TRIGGER occ_drop_history IS
    'drops the history table of a table enabled with history => N when the table is dropped';

-- occ_tables shows history => N (0: off) as its last column.
CREATE OR REPLACE VIEW @extschema@.occ_tables AS
SELECT c.oid::pg_catalog.regclass AS table_name,
       ARRAY(SELECT a.attname
               FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) c.oid
                AND a.attnum OPERATOR(pg_catalog.=) k.attnum
              WHERE k.ord OPERATOR(pg_catalog.<=) i.indnkeyatts
              ORDER BY k.ord) AS key_columns,
       args[1]::pg_catalog.name AS version_column,
       args[2]::pg_catalog.name AS etag_column,
       args[3] AS granularity,
       args[4] AS version_input,
       COALESCE(args[6]::pg_catalog.int4, 0) AS history
  FROM pg_catalog.pg_trigger tg
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tg.tgrelid
  CROSS JOIN LATERAL @extschema@.occ_trigger_args(tg.tgargs) AS args
  LEFT JOIN pg_catalog.pg_index i
    ON i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary
 WHERE tg.tgname OPERATOR(pg_catalog.=) 'zz_occ_version'
   AND tg.tgparentid OPERATOR(pg_catalog.=) 0
   AND tg.tgfoid OPERATOR(pg_catalog.=) '@extschema@.occ_trigger()'::pg_catalog.regprocedure;
