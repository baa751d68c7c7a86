-- Table inheritance: the children of an inheritance parent would get neither
-- occ's trigger nor versions, so occ_enable refuses a parent with children, and
-- occ's event trigger refuses to give an enabled table children (CREATE TABLE
-- ... INHERITS, ALTER TABLE ... INHERIT).  Partitions are versioned instead.
\i test/sql/include/err.psql

CREATE TABLE edge_parent (id int PRIMARY KEY, v text);
CREATE TABLE edge_child (extra text, PRIMARY KEY (id)) INHERITS (edge_parent);
INSERT INTO edge_child VALUES (2, 'child row', 'x');
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('edge_parent')$$);
-- nothing was changed
SELECT count(*) AS occ_columns FROM pg_attribute
 WHERE attrelid = 'edge_parent'::regclass AND attname IN ('version', 'etag');
-- without the child, it is accepted
ALTER TABLE edge_child NO INHERIT edge_parent;
SELECT occ_enable('edge_parent');

-- an enabled table cannot gain children
SELECT state, message, hint
  FROM pg_temp.err($$CREATE TABLE edge_child2 (extra text) INHERITS (edge_parent)$$);
SELECT to_regclass('edge_child2') AS child2;
-- nor foreign children
CREATE FOREIGN DATA WRAPPER edge_fdw;
CREATE SERVER edge_server FOREIGN DATA WRAPPER edge_fdw;
SELECT state, message
  FROM pg_temp.err($$CREATE FOREIGN TABLE edge_remote (extra text) INHERITS (edge_parent) SERVER edge_server$$);
-- a table without children can be enabled on its own
SELECT state FROM pg_temp.err($$SELECT occ_enable('edge_child')$$);
-- and then has the columns to inherit from edge_parent, which is refused
SELECT state, message, hint FROM pg_temp.err($$ALTER TABLE edge_child INHERIT edge_parent$$);
SELECT count(*) AS children FROM pg_inherits WHERE inhparent = 'edge_parent'::regclass;

-- after occ_disable, inheritance is allowed again
SELECT occ_disable('edge_parent');
ALTER TABLE edge_child INHERIT edge_parent;
SELECT count(*) AS children FROM pg_inherits WHERE inhparent = 'edge_parent'::regclass;

-- an enabled child may inherit from a table that is not enabled
CREATE TABLE edge_base (id int);
SELECT state FROM pg_temp.err($$ALTER TABLE edge_child INHERIT edge_base$$);

-- partitions of an enabled partitioned table are still welcome
CREATE TABLE edge_parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
SELECT occ_enable('edge_parted');
CREATE TABLE edge_part1 PARTITION OF edge_parted FOR VALUES FROM (0) TO (100);
INSERT INTO edge_parted VALUES (1, 'a');
SELECT occ_update('edge_parted', 1, 1, '{"v": "b"}')->'version' AS version;

-- the event trigger is cheap for other DDL and proof against search_path
CREATE SCHEMA edge_evil;
CREATE FUNCTION edge_evil.pg_event_trigger_ddl_commands() RETURNS SETOF int
LANGUAGE sql AS 'SELECT 1';
SET search_path = edge_evil, public;
CREATE TABLE edge_other (id int);
ALTER TABLE edge_other ADD COLUMN v text;
RESET search_path;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger
 WHERE oid IN (SELECT objid FROM pg_depend
                WHERE classid = 'pg_event_trigger'::regclass
                  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'occ'));

DROP TABLE edge_child, edge_parent, edge_base, edge_parted;
DROP SCHEMA edge_evil CASCADE;
DROP SERVER edge_server;
DROP FOREIGN DATA WRAPPER edge_fdw;
