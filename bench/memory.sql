-- bench/memory.sql: the tables and functions of the memory check (memory.sh).
-- Run with psql variables tables (how many), rows (per table) and history (the
-- history => N of every table, 0: none); occ must be installed and its schema
-- on search_path.
--
-- bench_mem.t01 … tNN share one shape: a bigint key and eight columns of
-- assorted types.  A patch shape is a non-empty subset of the eight columns;
-- call k of the run patches table k % tables with one of the shapes, picked
-- pseudo-randomly, so every (table, shape) pair comes round again and again.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP SCHEMA IF EXISTS bench_mem CASCADE;
CREATE SCHEMA bench_mem;

-- The name of table i.
CREATE FUNCTION bench_mem.name(i integer)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 't' || lpad(i::text, 2, '0') $$;

-- Creates table i with nrows rows and enables occ on it (with history => history
-- when that is above 0).
CREATE FUNCTION bench_mem.make_table(i integer, nrows integer, history integer DEFAULT 0)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($$
        CREATE TABLE bench_mem.%I (
            id bigint PRIMARY KEY,
            c1 integer, c2 text, c3 integer, c4 text,
            c5 bigint, c6 text[], c7 numeric, c8 jsonb
        )$$, bench_mem.name(i));
    EXECUTE format($$
        INSERT INTO bench_mem.%I
        SELECT g, g, 'row ' || g, 0, '', g, '{}', 0, '{"n": 0}'
          FROM generate_series(1, $1) AS g$$, bench_mem.name(i))
    USING nrows;
    IF history > 0 THEN
        PERFORM occ_enable(format('bench_mem.%I', bench_mem.name(i))::regclass, history => history);
    ELSE
        PERFORM occ_enable(format('bench_mem.%I', bench_mem.name(i))::regclass);
    END IF;
END
$fn$;

-- The patch of shape mask (1-255, one bit per column) for call k: every value
-- depends on k, so every call changes its row.
CREATE FUNCTION bench_mem.patch(mask integer, k bigint)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    p jsonb := '{}';
BEGIN
    IF mask & 1 <> 0 THEN p := p || jsonb_build_object('c1', k % 1000000); END IF;
    IF mask & 2 <> 0 THEN p := p || jsonb_build_object('c2', 'text ' || k); END IF;
    IF mask & 4 <> 0 THEN p := p || jsonb_build_object('c3', k % 1000 + 1); END IF;
    IF mask & 8 <> 0 THEN p := p || jsonb_build_object('c4', md5(k::text)); END IF;
    IF mask & 16 <> 0 THEN p := p || jsonb_build_object('c5', k * 1000); END IF;
    IF mask & 32 <> 0 THEN p := p || jsonb_build_object('c6', jsonb_build_array('a', k::text)); END IF;
    IF mask & 64 <> 0 THEN p := p || jsonb_build_object('c7', k / 7.0); END IF;
    IF mask & 128 <> 0 THEN p := p || jsonb_build_object('c8', jsonb_build_object('n', k, 'm', k % 3)); END IF;
    RETURN p;
END
$fn$;

-- The patch shape of call k: one of the first nshapes masks of 37 * s % 255 + 1
-- (all different), picked pseudo-randomly, as requests to a PATCH endpoint come.
CREATE FUNCTION bench_mem.shape(k bigint, nshapes integer)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashint8(k)) % nshapes * 37) % 255 + 1 $$;

-- Makes calls occ_update calls, numbered first, first + 1, …, each with the
-- version the row has (read once per batch, then taken from occ_update's result).
-- With stale_every > 0, one call in stale_every is instead an occ_try_update
-- with the version before the row's (on a table with history, a three-way merge
-- when the shapes of the two patches are disjoint, else a conflict).
CREATE FUNCTION bench_mem.run_batch(first bigint, calls integer, ntables integer, nshapes integer, nrows integer,
                                    stale_every integer DEFAULT 0)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    tbls     regclass[];
    versions bigint[] := '{}';
    tv       bigint[];
    t        integer;
    r        integer;
    slot     integer;
    res      jsonb;
BEGIN
    FOR i IN 1 .. ntables LOOP
        tbls[i] := format('bench_mem.%I', bench_mem.name(i))::regclass;
        EXECUTE format('SELECT array_agg(version ORDER BY id) FROM %s', tbls[i]) INTO tv;
        versions := versions || tv;
    END LOOP;
    FOR k IN first .. first + calls - 1 LOOP
        t := k % ntables;
        r := (k / ntables) % nrows;
        slot := t * nrows + r + 1;
        -- one call in stale_every, picked pseudo-randomly (k % stale_every would
        -- hit the same rows every time); never when stale_every is 0
        IF abs(hashint8(-k)) % nullif(stale_every, 0) = 0 THEN
            res := occ_try_update(tbls[t + 1], r + 1, versions[slot] - 1,
                                  bench_mem.patch(bench_mem.shape(k, nshapes), k));
            versions[slot] := (res ->> 'current_version')::bigint;
        ELSE
            res := occ_update(tbls[t + 1], r + 1, versions[slot],
                              bench_mem.patch(bench_mem.shape(k, nshapes), k));
            versions[slot] := (res ->> 'version')::bigint;
        END IF;
    END LOOP;
END
$fn$;

-- This backend's memory: all memory contexts (bytes, count), occ's table
-- descriptions and prepared statements (counts of their contexts), and the
-- resident set (all; anonymous only, as VmRSS also counts the shared buffers the
-- backend has touched; and the high-water mark).
CREATE FUNCTION bench_mem.sample(
    OUT context_bytes bigint, OUT contexts bigint,
    OUT occ_tables bigint, OUT occ_statements bigint,
    OUT vm_rss_kb bigint, OUT rss_anon_kb bigint, OUT vm_hwm_kb bigint)
LANGUAGE sql AS $fn$
    SELECT sum(c.total_bytes)::bigint, count(*),
           count(*) FILTER (WHERE c.name = 'occ table'),
           count(*) FILTER (WHERE c.name = 'CachedPlanSource' AND c.ident LIKE '% AS occ\_t %'),
           substring(s FROM 'VmRSS:\s+(\d+)')::bigint,
           substring(s FROM 'RssAnon:\s+(\d+)')::bigint,
           substring(s FROM 'VmHWM:\s+(\d+)')::bigint
      FROM pg_backend_memory_contexts AS c,
           pg_read_file('/proc/self/status') AS s
     GROUP BY s
$fn$;

SELECT bench_mem.make_table(i, :rows, :history) FROM generate_series(1, :tables) AS i;

-- The invalidation check (memory.sh, issue 13): one table, one row.  A round
-- makes a conflict and a missing row through occ_try_update and a conflict
-- through occ_delete (each prepares occ's probe statements for the table's
-- current description); a second session invalidates the description between
-- rounds.
CREATE TABLE bench_mem.inval (id integer PRIMARY KEY, v text);
INSERT INTO bench_mem.inval VALUES (1, 'a');
SELECT occ_enable('bench_mem.inval');

CREATE FUNCTION bench_mem.inval_round()
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM occ_try_update('bench_mem.inval', 1, 0, '{"v": "stale"}');
    PERFORM occ_try_update('bench_mem.inval', 2, 1, '{"v": "missing"}');
    BEGIN
        PERFORM occ_delete('bench_mem.inval', 1, 0);
    EXCEPTION WHEN SQLSTATE 'OC409' THEN
        NULL;
    END;
END
$fn$;
