-- Hostile roles: a role that is not the extension's owner cannot read, change,
-- replace or reset the ETag secret (every statement on occ_secret and every internal
-- function is refused), cannot derive ETags by reusing occ_trigger on a table of its
-- own, cannot switch occ off on a table it does not own (occ_enable, occ_disable,
-- DROP/DISABLE TRIGGER, session_replication_role, DROP/ALTER EXTENSION), and no occ
-- function runs with its owner's rights.

-- pg_temp.state(stmt) runs stmt and returns its SQLSTATE ('00000' if it succeeded)
CREATE FUNCTION pg_temp.state(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
    EXECUTE stmt;
    RETURN '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    RETURN st;
END
$$;

CREATE ROLE regress_occ_mallory;
CREATE SCHEMA mallory AUTHORIZATION regress_occ_mallory;
CREATE TABLE hp_docs (id int PRIMARY KEY, t text);
INSERT INTO hp_docs VALUES (1, 'x');
SELECT occ_enable('hp_docs');
-- mallory may do anything to the rows, but does not own the table
GRANT ALL ON hp_docs TO regress_occ_mallory;
-- a table in mallory's own schema that someone else owns
CREATE TABLE mallory.not_hers (id int PRIMARY KEY, t text);
GRANT ALL ON mallory.not_hers TO regress_occ_mallory;
SELECT secret AS secret FROM occ_secret \gset

SET ROLE regress_occ_mallory;
SELECT s AS statement, pg_temp.state(s) AS sqlstate FROM unnest(ARRAY[
    -- the secret: no statement on it
    'SELECT * FROM occ_secret',
    'SELECT count(*) FROM occ_secret',
    'UPDATE occ_secret SET secret = ''\x00''',
    'DELETE FROM occ_secret',
    'INSERT INTO occ_secret VALUES (''\x00'')',
    'TRUNCATE occ_secret',
    'LOCK occ_secret',
    'ALTER TABLE occ_secret DISABLE TRIGGER ALL',
    'DROP TABLE occ_secret',
    -- occ's internal functions
    'SELECT occ_secret_replace()',
    'SELECT occ_trigger()',
    'SELECT occ_stats_reset()',
    'CREATE TABLE mallory.s (secret bytea)',
    'CREATE TRIGGER s BEFORE INSERT ON mallory.s FOR EACH ROW EXECUTE FUNCTION occ_secret_replace()',
    -- switching occ off on a table she does not own
    'SELECT occ_enable(''hp_docs'', version_input => ''next'')',
    'SELECT occ_enable(''hp_docs'', etag_column => ''mine'')',
    'SELECT occ_disable(''hp_docs'')',
    'SELECT occ_enable(''mallory.not_hers'')',
    'ALTER TABLE hp_docs DISABLE TRIGGER zz_occ_version',
    'DROP TRIGGER zz_occ_version ON hp_docs',
    'SET session_replication_role = replica',
    'DROP EXTENSION occ',
    'ALTER EXTENSION occ UPDATE'
]) AS s;
COPY occ_secret TO STDOUT;
RESET ROLE;

-- nothing changed: one secret, the same; the table still enabled as it was; every
-- write still versioned
SELECT count(*) AS secrets, bool_and(secret = :'secret') AS secret_unchanged FROM occ_secret;
SELECT table_name, version_column, etag_column, version_input FROM occ_tables
 WHERE table_name IN ('hp_docs'::regclass, 'mallory.not_hers'::regclass);
SET ROLE regress_occ_mallory;
UPDATE hp_docs SET t = 'by mallory', version = 100, etag = 'forged';
RESET ROLE;
SELECT id, t, version, etag ~ '^[A-Za-z0-9_-]{24}$' AS etag_ok FROM hp_docs;

-- no occ function runs as its owner (SECURITY DEFINER), so none can read the
-- secret for a caller
SELECT count(*) AS security_definer_functions
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'occ' AND d.deptype = 'e' AND p.prosecdef;
-- functions only the owner may run
SELECT p.oid::regprocedure AS owner_only
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'occ' AND d.deptype = 'e'
   AND NOT has_function_privilege('regress_occ_mallory', p.oid, 'EXECUTE')
 ORDER BY 1;

-- occ_trigger on a table of her own keys its ETags with the secret, but over her
-- table's identity: copying a row of hp_docs (key, version and ETag) into her table
-- and making the same change there gives an ETag the real row never gets
SET ROLE regress_occ_mallory;
CREATE TABLE mallory.copy (id int PRIMARY KEY, t text, version bigint, etag text);
CREATE TRIGGER zz_occ_version BEFORE INSERT OR UPDATE ON mallory.copy FOR EACH ROW
    EXECUTE FUNCTION occ_trigger('version', 'etag', 'row', 'ignore');
INSERT INTO mallory.copy (id, t) VALUES (1, 'by mallory');
ALTER TABLE mallory.copy DISABLE TRIGGER zz_occ_version;
UPDATE mallory.copy c SET version = d.version, etag = d.etag FROM hp_docs d WHERE d.id = c.id;
ALTER TABLE mallory.copy ENABLE TRIGGER zz_occ_version;
SELECT (SELECT version FROM hp_docs) = version AS same_version,
       (SELECT etag FROM hp_docs) = etag AS same_etag
  FROM mallory.copy;
UPDATE mallory.copy SET t = 'next';
UPDATE hp_docs SET t = 'next';
SELECT (SELECT version FROM hp_docs) = version AS same_version,
       (SELECT etag FROM hp_docs) = etag AS same_etag
  FROM mallory.copy;
RESET ROLE;

DROP TABLE hp_docs;
DROP SCHEMA mallory CASCADE;
DROP ROLE regress_occ_mallory;
