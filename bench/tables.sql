-- bench/tables.sql: the table shapes of the throughput benchmarks, included by
-- setup.sql (run.sh) and history.sql (history.sh) once schema bench exists.
-- narrow: about 200 bytes a row; 4 KB: the same plus payload_bytes of random
-- hexadecimal characters stored out of line.

-- Creates s.t_plain with nrows rows of about 200 bytes each, plus a column of
-- payload_bytes random hexadecimal characters when payload_bytes > 0 (pglz
-- cannot compress them, so the value is stored out of line, uncompressed).
CREATE FUNCTION bench.make_plain(s name, nrows bigint, payload_bytes integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($$
        CREATE TABLE %I.t_plain (
            id     bigint PRIMARY KEY,
            title  text NOT NULL,
            owner  text NOT NULL,
            qty    integer NOT NULL,
            score  integer NOT NULL,
            tags   text[] NOT NULL,
            attrs  jsonb NOT NULL
            %s
        ) WITH (autovacuum_enabled = false)$$,
        s, CASE WHEN payload_bytes > 0 THEN ', payload text NOT NULL' ELSE '' END);
    EXECUTE format($$
        INSERT INTO %I.t_plain
        SELECT g,
               'item ' || g || ' ' || left(md5(g::text), 24),
               'user' || (g %% 997) || '@example.com',
               (g %% 1000)::integer,
               (g * 7 %% 100)::integer,
               ARRAY['red', 'green', 'tag' || (g %% 50)],
               jsonb_build_object('color', 'blue', 'size', g %% 10,
                                  'flags', jsonb_build_array(true, false),
                                  'note', 'n' || (g %% 123))
               %s
          FROM generate_series(1, $1) AS g$$,
        s,
        CASE WHEN payload_bytes > 0 THEN
            format($$, (SELECT left(string_agg(md5(g::text || ':' || i || ':' || random()::text), ''), %s)
                          FROM generate_series(1, (%s + 31) / 32) AS i)$$,
                   payload_bytes, payload_bytes)
        ELSE '' END)
    USING nrows;
END
$fn$;

-- Copies s.t_plain into s.name (same rows, same indexes, no autovacuum).
CREATE FUNCTION bench.copy_plain(s name, name name)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('CREATE TABLE %1$I.%2$I (LIKE %1$I.t_plain INCLUDING ALL) WITH (autovacuum_enabled = false)',
                   s, name);
    EXECUTE format('INSERT INTO %1$I.%2$I SELECT * FROM %1$I.t_plain', s, name);
END
$fn$;
