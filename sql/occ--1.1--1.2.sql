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
