-- Variant 1, the floor: a plain UPDATE by key on a table without occ.
-- Variables from run.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
UPDATE t_plain SET qty = :q, title = 'item ' || :q WHERE id = :id;
