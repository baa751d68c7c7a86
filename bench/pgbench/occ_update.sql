-- Variant 4: read the version, then occ_update() with a two-column patch
-- (the client receives the new row, version and ETag included).
-- Variables from run.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_occ WHERE id = :id \gset
SELECT occ_update('t_occ', :id::bigint, :v::bigint, jsonb_build_object('qty', :q::integer, 'title', 'item ' || :q));
