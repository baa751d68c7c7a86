-- bench/setup.sql: the tables and helpers the throughput benchmark (run.sh) uses.
-- Run by run.sh with psql variables narrow_rows, wide_rows, wide_bytes, hot_rows;
-- occ must be installed in the database and its schema on search_path.
--
-- bench_narrow and bench_wide hold the same five tables, one per variant, so that
-- the pgbench scripts name a table without a schema and run on either shape
-- (search_path picks the schema):
--   t_plain    no occ                                   variant 1 (the floor)
--   t_trigger  occ_enable()d                            variant 2 (plain UPDATE + trigger)
--   t_orm      a version column, no trigger             variant 3 (hand-written conditional UPDATE)
--   t_occ      occ_enable()d                            variant 4 (occ_update)
--   t_plpgsql  version + etag, the PL/pgSQL trigger     variant 5 (bench_occ_update)
-- bench.hot_occ and bench.hot_lock (variant 6) are hot_rows narrow rows, both
-- occ_enable()d.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP SCHEMA IF EXISTS bench, bench_narrow, bench_wide CASCADE;
CREATE SCHEMA bench;
CREATE SCHEMA bench_narrow;
CREATE SCHEMA bench_wide;

\ir tables.sql
\ir plpgsql_occ.sql

-- The five tables of one shape.
CREATE FUNCTION bench.make_shape(s name, nrows bigint, payload_bytes integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM bench.make_plain(s, nrows, payload_bytes);
    PERFORM bench.copy_plain(s, 't_trigger');
    PERFORM occ_enable(format('%I.t_trigger', s)::regclass);
    PERFORM bench.copy_plain(s, 't_orm');
    EXECUTE format('ALTER TABLE %I.t_orm ADD COLUMN version bigint NOT NULL DEFAULT 1', s);
    PERFORM bench.copy_plain(s, 't_occ');
    PERFORM occ_enable(format('%I.t_occ', s)::regclass);
    PERFORM bench.copy_plain(s, 't_plpgsql');
    PERFORM bench.plpgsql_occ_enable(format('%I.t_plpgsql', s)::regclass);
END
$fn$;

SELECT bench.make_shape('bench_narrow', :narrow_rows, 0);
SELECT bench.make_shape('bench_wide', :wide_rows, :wide_bytes);

-- Variant 6: hot rows, updated optimistically (hot_occ) or under FOR UPDATE (hot_lock).
CREATE TABLE bench.hot_occ (LIKE bench_narrow.t_plain INCLUDING ALL) WITH (autovacuum_enabled = false);
INSERT INTO bench.hot_occ SELECT * FROM bench_narrow.t_plain WHERE id <= :hot_rows;
SELECT occ_enable('bench.hot_occ');
CREATE TABLE bench.hot_lock (LIKE bench_narrow.t_plain INCLUDING ALL) WITH (autovacuum_enabled = false);
INSERT INTO bench.hot_lock SELECT * FROM bench_narrow.t_plain WHERE id <= :hot_rows;
SELECT occ_enable('bench.hot_lock');

-- Conflicts seen by bench.hot_occ_update (a sequence: not rolled back with the
-- subtransaction that caught the conflict, and no row for 16 clients to fight over).
CREATE SEQUENCE bench.hot_conflicts;

-- What an application does with occ under contention: try occ_update with the
-- version it read; on OC409 re-read the row and try again.  Returns the number
-- of conflicts it went through.  (PL/pgSQL, because only PL/pgSQL can catch the
-- error inside the server; pgbench cannot retry on a custom SQLSTATE.)
CREATE FUNCTION bench.hot_occ_update(p_id bigint, p_version bigint, p_patch jsonb)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v         bigint := p_version;
    conflicts integer := 0;
BEGIN
    LOOP
        BEGIN
            PERFORM occ_update('bench.hot_occ', p_id, v, p_patch);
            RETURN conflicts;
        EXCEPTION WHEN SQLSTATE 'OC409' THEN
            conflicts := conflicts + 1;
            PERFORM nextval('bench.hot_conflicts');
        END;
        SELECT h.version INTO v FROM bench.hot_occ AS h WHERE h.id = p_id;
    END LOOP;
END
$fn$;

-- Every table starts the run compact, with statistics.
VACUUM FULL bench_narrow.t_plain, bench_narrow.t_trigger, bench_narrow.t_orm, bench_narrow.t_occ,
    bench_narrow.t_plpgsql, bench_wide.t_plain, bench_wide.t_trigger, bench_wide.t_orm,
    bench_wide.t_occ, bench_wide.t_plpgsql, bench.hot_occ, bench.hot_lock;
ANALYZE;
