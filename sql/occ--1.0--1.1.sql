/* occ--1.0--1.1.sql: field granularity, non-raising and batch updates */

\echo Use "ALTER EXTENSION occ UPDATE TO '1.1'" to load this file. \quit

CREATE FUNCTION @extschema@.occ_try_update(
    tbl pg_catalog.regclass, id "any", expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_try_update';
COMMENT ON FUNCTION @extschema@.occ_try_update(pg_catalog.regclass, "any", pg_catalog.int8, pg_catalog.jsonb) IS
    'occ_update that returns {"status", "row", "current_version", "conflicting_fields"} instead of raising a conflict or not-found error';

CREATE FUNCTION @extschema@.occ_update_many(tbl pg_catalog.regclass, changes pg_catalog.jsonb)
    RETURNS SETOF pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 10
    AS 'MODULE_PATHNAME', 'occ_update_many';
COMMENT ON FUNCTION @extschema@.occ_update_many(pg_catalog.regclass, pg_catalog.jsonb) IS
    'applies an array of {"id", "version", "patch"} changes all or nothing, locking rows in key order';
