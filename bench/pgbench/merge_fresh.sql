-- history.sh: read the version, then occ_update() with it (not stale) on the
-- table with history: the patch sets /attrs/a/b/c or /attrs/a/b/d (by the
-- parity of the version read, as merge_stale.sql does).
-- Variables from history.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_merge WHERE id = :id \gset
SELECT occ_update('t_merge', :id::bigint, :v::bigint,
                  jsonb_build_object('attrs', jsonb_build_object('a', jsonb_build_object('b',
                      jsonb_build_object(CASE WHEN :v::bigint % 2 = 0 THEN 'c' ELSE 'd' END, :q::integer)))));
