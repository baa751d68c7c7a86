-- history.sh: read the version v, then occ_update() with v - 1, as a client
-- that read the row just before the last change: the patch sets the member of
-- /attrs/a/b that the change from v - 1 to v did not touch (/attrs/a/b/c when
-- v is even, /attrs/a/b/d when odd), so occ merges three levels deep against
-- the kept image of v - 1 and writes v + 1.  A conflict fails the run.
-- Variables from history.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_merge WHERE id = :id \gset
SELECT occ_update('t_merge', :id::bigint, :v::bigint - 1,
                  jsonb_build_object('attrs', jsonb_build_object('a', jsonb_build_object('b',
                      jsonb_build_object(CASE WHEN :v::bigint % 2 = 0 THEN 'c' ELSE 'd' END, :q::integer)))));
