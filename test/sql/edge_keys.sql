-- Keys occ_enable refuses or renders with care: a DEFERRABLE primary key is
-- refused with the real reason; a key of a domain over an integer type is a JSON
-- number in MESSAGE, DETAIL and the returned row alike.
\i test/sql/include/err.psql

-- DEFERRABLE: occ_update finds rows by their key, which must be unique at every
-- moment; PostgreSQL does not even count a deferrable key as the primary key
CREATE TABLE edge_deferred (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('edge_deferred')$$);
CREATE TABLE edge_deferrable (id int PRIMARY KEY DEFERRABLE, v text);
SELECT state, message, hint FROM pg_temp.err($$SELECT occ_enable('edge_deferrable')$$);
-- made immediate, it is accepted
ALTER TABLE edge_deferrable DROP CONSTRAINT edge_deferrable_pkey, ADD PRIMARY KEY (id);
SELECT occ_enable('edge_deferrable');
-- and a key made deferrable later fails every write with the same reason
ALTER TABLE edge_deferrable DROP CONSTRAINT edge_deferrable_pkey,
    ADD PRIMARY KEY (id) DEFERRABLE;
SELECT state, message FROM pg_temp.err($$INSERT INTO edge_deferrable VALUES (1, 'a')$$);
-- no primary key at all keeps its own message
CREATE TABLE edge_nokey (id int UNIQUE, v text);
SELECT state, message FROM pg_temp.err($$SELECT occ_enable('edge_nokey')$$);

-- a domain over int, over bigint, over text: numbers stay numbers
CREATE DOMAIN edge_posint AS int CHECK (VALUE > 0);
CREATE DOMAIN edge_bigid AS bigint;
CREATE DOMAIN edge_posint2 AS edge_posint;   -- a domain over a domain
CREATE DOMAIN edge_code AS text;
CREATE TABLE edge_dom (id edge_posint PRIMARY KEY, v text);
CREATE TABLE edge_dom2 (id edge_posint2 PRIMARY KEY, v text);
CREATE TABLE edge_domc (a edge_bigid, b edge_code, v text, PRIMARY KEY (a, b));
INSERT INTO edge_dom VALUES (5, 'a');
INSERT INTO edge_dom2 VALUES (5, 'a');
INSERT INTO edge_domc VALUES (7, 'x', 'a');
SELECT occ_enable('edge_dom'), occ_enable('edge_dom2'), occ_enable('edge_domc');
SELECT occ_update('edge_dom', 5, 1, '{"v": "b"}')->'id' AS id_in_row;
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('edge_dom', 5, 1, '{"v": "c"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_update('edge_dom2', 5, 7, '{"v": "c"}')$$);
SELECT state, message, detail FROM pg_temp.err($$SELECT occ_delete('edge_dom', 6, 1)$$);
SELECT state, message, detail
  FROM pg_temp.err($$SELECT occ_update('edge_domc', '{"a": 7, "b": "x"}', 3, '{"v": "c"}')$$);

DROP TABLE edge_deferred, edge_deferrable, edge_nokey, edge_dom, edge_dom2, edge_domc;
DROP DOMAIN edge_posint2, edge_posint, edge_bigid, edge_code;
