-- Variant 3: the conditional update ORMs emit (read the version, then UPDATE
-- bumping it where it is unchanged), on a table with a version column and no trigger.
-- Variables from run.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_orm WHERE id = :id \gset
UPDATE t_orm SET qty = :q, title = 'item ' || :q, version = version + 1 WHERE id = :id AND version = :v;
