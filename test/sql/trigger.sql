-- The trigger: every write gets a correct version and ETag, whoever makes it. INSERT
-- starts at version 1; an UPDATE that changes something bumps the version and the
-- ETag, one that changes nothing keeps both; forged values are replaced; the table's
-- other BEFORE triggers are seen; ORM-style optimistic locking and upserts keep
-- working; the version never wraps; on a replica (session_replication_role) the
-- trigger does not fire.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

CREATE TABLE trg (id int PRIMARY KEY, title text, n int);
SELECT occ_enable('trg');

-- INSERT: version 1 and a fresh ETag, whatever the client sent
INSERT INTO trg (id, title, version, etag) VALUES (1, 'a', 99, 'forged-forged-forged-xxx');
INSERT INTO trg (id, title) VALUES (2, 'b'), (3, 'c');
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok,
       etag <> 'forged-forged-forged-xxx' AS not_forged
  FROM trg ORDER BY id;

-- COPY is an INSERT too
COPY trg (id, title, version, etag) FROM stdin;
5	copied	7	forged
\.
SELECT id, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM trg WHERE id = 5;
DELETE FROM trg WHERE id = 5;

-- a real change: version + 1 and a new ETag
SELECT etag AS e1 FROM trg WHERE id = 1 \gset
UPDATE trg SET title = 'a2' WHERE id = 1;
SELECT version, etag <> :'e1' AS etag_changed FROM trg WHERE id = 1;

-- no change: both kept (also NULL to NULL)
SELECT etag AS e1 FROM trg WHERE id = 1 \gset
UPDATE trg SET title = 'a2', n = NULL WHERE id = 1;
UPDATE trg SET title = title WHERE id = 1;
SELECT version, etag = :'e1' AS etag_kept FROM trg WHERE id = 1;

-- the same contents written again are no change, also for large (TOASTed, compressed)
-- values and for a jsonb document written with other spacing and key order
CREATE TABLE trg_big (id int PRIMARY KEY, body text, packed text, doc jsonb);
SELECT occ_enable('trg_big');
INSERT INTO trg_big
SELECT 1, string_agg(md5(i::text), ''), repeat('x', 100000), '{"a":1,"b":[2]}'
  FROM generate_series(1, 5000) i;
SELECT etag AS eb FROM trg_big \gset
UPDATE trg_big SET body = body, packed = packed;
UPDATE trg_big
   SET body = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 5000) i),
       packed = repeat('x', 100000),
       doc = '{ "b" : [2], "a" : 1 }';
SELECT version, etag = :'eb' AS etag_kept FROM trg_big;
UPDATE trg_big SET packed = repeat('x', 99999) || 'y';
SELECT version, etag <> :'eb' AS etag_changed FROM trg_big;
DROP TABLE trg_big;

-- forged values alone change nothing (they are replaced, and nothing else changed)
UPDATE trg SET version = 99 WHERE id = 1;
UPDATE trg SET etag = 'forged' WHERE id = 1;
UPDATE trg SET version = 1, etag = NULL WHERE id = 1;
SELECT version, etag = :'e1' AS etag_kept FROM trg WHERE id = 1;

-- forged values next to a real change: replaced by old + 1 and a real ETag
UPDATE trg SET title = 'a3', version = 99, etag = 'forged' WHERE id = 1;
SELECT version, etag <> :'e1' AND etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_new FROM trg WHERE id = 1;
-- keeping the version by hand does not prevent the bump
UPDATE trg SET title = 'a4', version = version WHERE id = 1;
SELECT version FROM trg WHERE id = 1;
-- copying another row's ETag does not work either
UPDATE trg SET title = 'a5', etag = (SELECT etag FROM trg WHERE id = 2) WHERE id = 1;
SELECT count(DISTINCT etag) AS distinct_etags FROM trg;

-- a statement that updates several rows bumps each of them once
UPDATE trg SET n = 7;
SELECT id, version FROM trg ORDER BY id;

-- ORM-style optimistic locking: UPDATE ... SET version = v + 1 WHERE id = ? AND
-- version = v updates one row, and a second client holding the same v updates none
SELECT version AS v FROM trg WHERE id = 2 \gset
WITH u AS (UPDATE trg SET title = 'orm', version = :v + 1
           WHERE id = 2 AND version = :v RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
WITH u AS (UPDATE trg SET title = 'stale orm', version = :v + 1
           WHERE id = 2 AND version = :v RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
SELECT title, version = :v + 1 AS bumped_once FROM trg WHERE id = 2;

-- an upsert that updates goes through the same rules
INSERT INTO trg (id, title) VALUES (3, 'c2')
  ON CONFLICT (id) DO UPDATE SET title = excluded.title;
INSERT INTO trg (id, title) VALUES (3, 'c2')
  ON CONFLICT (id) DO UPDATE SET title = excluded.title;
SELECT id, title, version FROM trg WHERE id = 3;

-- the trigger fires after the table's other BEFORE triggers, so it sees the final row
CREATE TABLE trg_touch (id int PRIMARY KEY, title text, touches int NOT NULL DEFAULT 0);
INSERT INTO trg_touch (id, title) VALUES (1, 'x');
SELECT occ_enable('trg_touch');
CREATE FUNCTION trg_count_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touches := OLD.touches + 1;
    RETURN NEW;
END
$$;
CREATE TRIGGER a_count_touch BEFORE UPDATE ON trg_touch
  FOR EACH ROW EXECUTE FUNCTION trg_count_touch();
-- the client changes nothing, the other trigger changes a column: a bump
SELECT etag AS et FROM trg_touch WHERE id = 1 \gset
UPDATE trg_touch SET title = title WHERE id = 1;
SELECT touches, version, etag <> :'et' AS etag_changed FROM trg_touch WHERE id = 1;

CREATE TABLE trg_norm (id int PRIMARY KEY, title text);
CREATE FUNCTION trg_normalize() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := upper(NEW.title);
    NEW.version := 1000;
    NEW.etag := 'forged';
    RETURN NEW;
END
$$;
CREATE TRIGGER a_normalize BEFORE INSERT OR UPDATE ON trg_norm
  FOR EACH ROW EXECUTE FUNCTION trg_normalize();
SELECT occ_enable('trg_norm');
INSERT INTO trg_norm VALUES (1, 'abc');
SELECT title, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM trg_norm;
-- the client changes the title, the other trigger changes it back, and forges
-- version and ETag: no change, nothing bumped
SELECT etag AS en FROM trg_norm WHERE id = 1 \gset
UPDATE trg_norm SET title = 'Abc' WHERE id = 1;
SELECT title, version, etag = :'en' AS etag_kept FROM trg_norm;
-- a real change: one bump, the forged values replaced
UPDATE trg_norm SET title = 'xyz' WHERE id = 1;
SELECT title, version, etag <> :'en' AND etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_new FROM trg_norm;

-- the version never wraps: at the maximum of an integer column, a change fails with
-- 22003 and writes nothing; a no-op is still fine
CREATE TABLE trg_max (id int PRIMARY KEY, title text, lock_version integer NOT NULL);
INSERT INTO trg_max VALUES (1, 'a', 2147483647);
SELECT occ_enable('trg_max', version_column => 'lock_version');
SELECT trg_max::text AS snapmax FROM trg_max \gset
SELECT state FROM pg_temp.err($$UPDATE trg_max SET title = 'b' WHERE id = 1$$);
SELECT state FROM pg_temp.err($$SELECT occ_update('trg_max', 1, 2147483647, '{"title":"b"}')$$);
UPDATE trg_max SET title = 'a' WHERE id = 1;
SELECT trg_max::text = :'snapmax' AS unchanged FROM trg_max;
-- the same for bigint
CREATE TABLE trg_bigmax (id int PRIMARY KEY, title text, version bigint NOT NULL);
INSERT INTO trg_bigmax VALUES (1, 'a', 9223372036854775807);
SELECT occ_enable('trg_bigmax');
SELECT trg_bigmax::text AS snapmax FROM trg_bigmax \gset
SELECT state FROM pg_temp.err($$UPDATE trg_bigmax SET title = 'b' WHERE id = 1$$);
SELECT state
  FROM pg_temp.err($$SELECT occ_update('trg_bigmax', 1, 9223372036854775807, '{"title":"b"}')$$);
SELECT trg_bigmax::text = :'snapmax' AS unchanged FROM trg_bigmax;
-- one below the maximum still works
CREATE TABLE trg_nearmax (id int PRIMARY KEY, title text, lock_version integer NOT NULL);
INSERT INTO trg_nearmax VALUES (1, 'a', 2147483646);
SELECT occ_enable('trg_nearmax', version_column => 'lock_version');
UPDATE trg_nearmax SET title = 'b' WHERE id = 1;
SELECT lock_version FROM trg_nearmax;

-- on a logical replica (session_replication_role = replica) the trigger does not fire:
-- rows keep the version and ETag the publisher sent
SET session_replication_role = replica;
UPDATE trg SET title = 'replicated', version = 41, etag = 'from-the-publisher' WHERE id = 1;
INSERT INTO trg (id, title, version, etag) VALUES (4, 'replicated', 5, 'from-the-publisher-too');
RESET session_replication_role;
SELECT id, title, version, etag FROM trg WHERE id IN (1, 4) ORDER BY id;

-- DELETE is not affected
DELETE FROM trg WHERE id = 4;
SELECT count(*) AS rows_left FROM trg;

DROP TABLE trg, trg_touch, trg_norm, trg_max, trg_bigmax, trg_nearmax;
DROP FUNCTION trg_count_touch(), trg_normalize();
