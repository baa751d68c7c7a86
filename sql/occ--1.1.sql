/* occ--1.1.sql: optimistic concurrency control for any table */

\echo Use "CREATE EXTENSION occ" to load this file. \quit

-- The per-database secret that keys every ETag.  Only the extension's owner
-- may read it; pg_dump keeps it, and a restored secret replaces the one
-- CREATE EXTENSION made (occ_secret_replace).
CREATE TABLE @extschema@.occ_secret (
    secret pg_catalog.bytea NOT NULL
);
REVOKE ALL ON @extschema@.occ_secret FROM PUBLIC;
COMMENT ON TABLE @extschema@.occ_secret IS
    'per-database secret that keys occ ETags; readable only by the extension owner';

CREATE FUNCTION @extschema@.occ_secret_replace() RETURNS trigger
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_secret_replace';
REVOKE ALL ON FUNCTION @extschema@.occ_secret_replace() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.occ_secret_replace() IS
    'keeps occ_secret at one row: a new secret replaces the old one';

CREATE TRIGGER occ_secret_single BEFORE INSERT ON @extschema@.occ_secret
    FOR EACH ROW EXECUTE FUNCTION @extschema@.occ_secret_replace();

INSERT INTO @extschema@.occ_secret (secret)
    SELECT pg_catalog.decode(pg_catalog.replace(
               pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||)
               pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||)
               pg_catalog.gen_random_uuid()::pg_catalog.text, '-', ''), 'hex');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.occ_secret', '');

-- The row trigger that keeps version and ETag right.
CREATE FUNCTION @extschema@.occ_trigger() RETURNS trigger
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_trigger';
COMMENT ON FUNCTION @extschema@.occ_trigger() IS
    'row trigger installed by occ_enable: keeps the version and ETag columns right';

CREATE FUNCTION @extschema@.occ_enable(
    tbl pg_catalog.regclass,
    version_column pg_catalog.name DEFAULT 'version',
    etag_column pg_catalog.name DEFAULT 'etag',
    granularity pg_catalog.text DEFAULT 'row',
    version_input pg_catalog.text DEFAULT 'ignore')
    RETURNS void
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_enable';
COMMENT ON FUNCTION @extschema@.occ_enable(pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text) IS
    'opts a table in to optimistic concurrency control, or reconfigures it';

CREATE FUNCTION @extschema@.occ_disable(tbl pg_catalog.regclass)
    RETURNS void
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_disable';
COMMENT ON FUNCTION @extschema@.occ_disable(pg_catalog.regclass) IS
    'removes occ''s trigger from a table; its version and ETag columns stay';

CREATE FUNCTION @extschema@.occ_update(
    tbl pg_catalog.regclass, id "any", expected_version pg_catalog.int8,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update';
COMMENT ON FUNCTION @extschema@.occ_update(pg_catalog.regclass, "any", pg_catalog.int8, pg_catalog.jsonb) IS
    'applies a JSON merge patch to a row if its version is the expected one; returns the new row';

CREATE FUNCTION @extschema@.occ_update_if_match(
    tbl pg_catalog.regclass, id "any", if_match pg_catalog.text,
    patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_update_if_match';
COMMENT ON FUNCTION @extschema@.occ_update_if_match(pg_catalog.regclass, "any", pg_catalog.text, pg_catalog.jsonb) IS
    'applies a JSON merge patch to a row if its ETag matches an If-Match value; returns the new row';

CREATE FUNCTION @extschema@.occ_delete(
    tbl pg_catalog.regclass, id "any", expected_version pg_catalog.int8)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete';
COMMENT ON FUNCTION @extschema@.occ_delete(pg_catalog.regclass, "any", pg_catalog.int8) IS
    'deletes a row if its version is the expected one; returns the deleted row';

CREATE FUNCTION @extschema@.occ_delete_if_match(
    tbl pg_catalog.regclass, id "any", if_match pg_catalog.text)
    RETURNS pg_catalog.jsonb
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'occ_delete_if_match';
COMMENT ON FUNCTION @extschema@.occ_delete_if_match(pg_catalog.regclass, "any", pg_catalog.text) IS
    'deletes a row if its ETag matches an If-Match value; returns the deleted row';

CREATE FUNCTION @extschema@.occ_merge_patch(target pg_catalog.jsonb, patch pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'occ_merge_patch';
COMMENT ON FUNCTION @extschema@.occ_merge_patch(pg_catalog.jsonb, pg_catalog.jsonb) IS
    'RFC 7396 JSON Merge Patch; a NULL target counts as JSON null';

CREATE FUNCTION @extschema@.occ_trigger_args(tgargs pg_catalog.bytea)
    RETURNS pg_catalog.text[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'occ_trigger_args';
COMMENT ON FUNCTION @extschema@.occ_trigger_args(pg_catalog.bytea) IS
    'splits pg_trigger.tgargs; used by the occ_tables view';

CREATE VIEW @extschema@.occ_tables AS
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
       args[4] AS version_input
  FROM pg_catalog.pg_trigger tg
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tg.tgrelid
  CROSS JOIN LATERAL @extschema@.occ_trigger_args(tg.tgargs) AS args
  LEFT JOIN pg_catalog.pg_index i
    ON i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary
 WHERE tg.tgname OPERATOR(pg_catalog.=) 'zz_occ_version'
   AND tg.tgparentid OPERATOR(pg_catalog.=) 0
   AND tg.tgfoid OPERATOR(pg_catalog.=) '@extschema@.occ_trigger()'::pg_catalog.regprocedure;
COMMENT ON VIEW @extschema@.occ_tables IS
    'one row per table enabled for occ, with its key columns and configuration';
GRANT SELECT ON @extschema@.occ_tables TO PUBLIC;

-- Since 1.1: field granularity, non-raising and batch updates, statistics.

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
