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
