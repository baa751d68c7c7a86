-- Referential actions into an enabled table: ON DELETE SET NULL, ON DELETE SET
-- DEFAULT and ON UPDATE CASCADE change the child's rows through PostgreSQL's own
-- statements, which cannot name a version.  Under version_input 'expected' and
-- 'next' they still succeed, and bump the child's version and ETag.  A client's
-- own UPDATE of the same columns still has to name the version.
\i test/sql/include/err.psql

CREATE TABLE edge_author (id int PRIMARY KEY, name text);
INSERT INTO edge_author VALUES (1, 'ann'), (2, 'bob'), (3, 'cid'), (0, 'nobody');
CREATE TABLE edge_post_null (id int PRIMARY KEY, author int REFERENCES edge_author ON DELETE SET NULL, t text);
CREATE TABLE edge_post_default (id int PRIMARY KEY,
    author int DEFAULT 0 REFERENCES edge_author ON DELETE SET DEFAULT, t text);
CREATE TABLE edge_post_cascade (id int PRIMARY KEY,
    author int REFERENCES edge_author ON UPDATE CASCADE ON DELETE CASCADE, t text);
INSERT INTO edge_post_null VALUES (1, 1, 'x');
INSERT INTO edge_post_default VALUES (1, 2, 'x');
INSERT INTO edge_post_cascade VALUES (1, 3, 'x');
SELECT occ_enable('edge_post_null', version_input => 'next'),
       occ_enable('edge_post_default', version_input => 'expected'),
       occ_enable('edge_post_cascade', version_input => 'next');
CREATE TEMP TABLE before AS
SELECT 'null' AS k, etag FROM edge_post_null UNION ALL
SELECT 'default', etag FROM edge_post_default UNION ALL
SELECT 'cascade', etag FROM edge_post_cascade;

DELETE FROM edge_author WHERE id IN (1, 2);
UPDATE edge_author SET id = 33 WHERE id = 3;
SELECT 'null' AS k, author, version, etag <> (SELECT etag FROM before WHERE k = 'null') AS new_etag
  FROM edge_post_null
UNION ALL
SELECT 'default', author, version, etag <> (SELECT etag FROM before WHERE k = 'default')
  FROM edge_post_default
UNION ALL
SELECT 'cascade', author, version, etag <> (SELECT etag FROM before WHERE k = 'cascade')
  FROM edge_post_cascade;
-- the new version counts for occ_update
SELECT occ_update('edge_post_cascade', 1, 2, '{"t": "y"}')->'version' AS version;

-- the same columns, changed by a client, still need the version
SELECT state FROM pg_temp.err($$UPDATE edge_post_null SET author = NULL$$);
SELECT state FROM pg_temp.err($$UPDATE edge_post_cascade SET author = 0$$);
-- even as the owner inside a SECURITY DEFINER function
CREATE FUNCTION edge_sneak() RETURNS void SECURITY DEFINER LANGUAGE sql
AS $$ UPDATE edge_post_default SET author = 0 $$;
SELECT state FROM pg_temp.err($$SELECT edge_sneak()$$);
-- a BEFORE trigger of the table's own may change other columns during the action
CREATE FUNCTION edge_touch() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN NEW.t := 'touched'; RETURN NEW; END $$;
CREATE TRIGGER a_touch BEFORE UPDATE ON edge_post_cascade FOR EACH ROW EXECUTE FUNCTION edge_touch();
SELECT state FROM pg_temp.err($$UPDATE edge_author SET id = 34 WHERE id = 33$$);
SELECT author, t, version FROM edge_post_cascade;

DROP TABLE edge_post_null, edge_post_default, edge_post_cascade, edge_author;
DROP FUNCTION edge_sneak(), edge_touch();
