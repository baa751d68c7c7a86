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

-- Conflict statistics (shared_preload_libraries = 'occ').
CREATE FUNCTION @extschema@.occ_stats_internal(
    OUT database pg_catalog.text, OUT schema_name pg_catalog.text, OUT table_name pg_catalog.text,
    OUT relid pg_catalog.oid,
    OUT updates pg_catalog.int8, OUT noop_updates pg_catalog.int8, OUT merges pg_catalog.int8,
    OUT conflicts pg_catalog.int8, OUT etag_mismatches pg_catalog.int8, OUT not_found pg_catalog.int8,
    OUT precondition_required pg_catalog.int8, OUT conflict_rate pg_catalog.float8,
    OUT retries_succeeded pg_catalog.int8, OUT mean_resolution_ms pg_catalog.float8,
    OUT max_resolution_ms pg_catalog.float8, OUT stats_reset pg_catalog.timestamptz)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'occ_stats_internal';
COMMENT ON FUNCTION @extschema@.occ_stats_internal() IS
    'the shared conflict counters behind the occ_stats view';

CREATE VIEW @extschema@.occ_stats AS
    SELECT * FROM @extschema@.occ_stats_internal();
COMMENT ON VIEW @extschema@.occ_stats IS
    'cluster-wide occ counters per enabled table: updates, no-op updates, merges, conflicts, retries and time to resolution';
GRANT SELECT ON @extschema@.occ_stats TO PUBLIC;

CREATE FUNCTION @extschema@.occ_recent_conflicts_internal(
    OUT occurred_at pg_catalog.timestamptz, OUT database pg_catalog.text,
    OUT schema_name pg_catalog.text, OUT table_name pg_catalog.text,
    OUT sqlstate pg_catalog.text, OUT key pg_catalog.jsonb,
    OUT expected_version pg_catalog.int8, OUT current_version pg_catalog.int8,
    OUT conflicting_fields pg_catalog.jsonb, OUT role pg_catalog.text,
    OUT application_name pg_catalog.text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'occ_recent_conflicts_internal';
COMMENT ON FUNCTION @extschema@.occ_recent_conflicts_internal() IS
    'the ring buffer of recent conflicts behind the occ_recent_conflicts view';

CREATE VIEW @extschema@.occ_recent_conflicts AS
    SELECT * FROM @extschema@.occ_recent_conflicts_internal();
COMMENT ON VIEW @extschema@.occ_recent_conflicts IS
    'the latest conflicts (occ.recent_conflicts_size of them), newest first';
GRANT SELECT ON @extschema@.occ_recent_conflicts TO PUBLIC;

CREATE FUNCTION @extschema@.occ_stats_reset() RETURNS void
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_stats_reset';
COMMENT ON FUNCTION @extschema@.occ_stats_reset() IS
    'forgets every occ counter and recent conflict';
REVOKE ALL ON FUNCTION @extschema@.occ_stats_reset() FROM PUBLIC;
