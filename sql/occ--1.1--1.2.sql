/* occ--1.1--1.2.sql: occ 1.2 (a fresh install runs occ--1.0.sql and every upgrade script) */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION occ UPDATE TO '1.2'" to load this file. \quit

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
