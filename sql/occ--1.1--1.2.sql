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
