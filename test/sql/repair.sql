-- A table whose version or ETag column was renamed refuses writes until
-- occ_enable() is called again with the new name; occ_enable() and
-- occ_disable() can always repair it, and versions and ETags carry on.
CREATE TABLE rp (id int PRIMARY KEY, x int);
INSERT INTO rp VALUES (1, 1);
SELECT occ_enable('rp');
SELECT etag AS etag_before FROM rp \gset
ALTER TABLE rp RENAME COLUMN version TO row_version;
\set VERBOSITY terse
UPDATE rp SET x = 2;
\set VERBOSITY default
SELECT occ_enable('rp', version_column => 'row_version');
SELECT version_column FROM occ_tables WHERE table_name = 'rp'::regclass;
UPDATE rp SET x = 2;
SELECT x, row_version, etag <> :'etag_before' AS etag_changed FROM rp;
-- the same for the ETag column, repaired by disabling
ALTER TABLE rp RENAME COLUMN etag TO tag;
SELECT occ_disable('rp');
UPDATE rp SET x = 3;
SELECT x, row_version FROM rp;
SELECT occ_enable('rp', version_column => 'row_version', etag_column => 'tag');
SELECT occ_update('rp', 1, 2, '{"x": 4}')->>'row_version' AS version_after_update;
DROP TABLE rp;
-- A version or field versions column retyped after occ_enable():
-- writes and occ_enable() refuse it with the same check and message (42804).
CREATE TABLE rp_type (id int PRIMARY KEY, x int);
SELECT occ_enable('rp_type', granularity => 'field');
ALTER TABLE rp_type ALTER COLUMN version TYPE numeric;
\set VERBOSITY terse
INSERT INTO rp_type VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT occ_enable('rp_type', granularity => 'field');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
ALTER TABLE rp_type ALTER COLUMN version TYPE bigint;
ALTER TABLE rp_type ALTER COLUMN field_versions TYPE json;
\set VERBOSITY terse
INSERT INTO rp_type VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT occ_enable('rp_type', granularity => 'field');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
ALTER TABLE rp_type ALTER COLUMN field_versions TYPE jsonb;
INSERT INTO rp_type VALUES (1, 1);
SELECT id, version FROM rp_type;
DROP TABLE rp_type;
