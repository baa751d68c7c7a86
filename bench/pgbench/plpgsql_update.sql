-- Variant 5: read the version, then the PL/pgSQL implementation of the same
-- contract (bench/plpgsql_occ.sql), on a table with its md5-ETag trigger.
-- Variables from run.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_plpgsql WHERE id = :id \gset
SELECT bench.bench_occ_update('t_plpgsql', :id::bigint, :v::bigint, jsonb_build_object('qty', :q::integer, 'title', 'item ' || :q));
