-- Variant 2: the same UPDATE on an occ-enabled table (the trigger's cost).
-- Variables from run.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
UPDATE t_trigger SET qty = :q, title = 'item ' || :q WHERE id = :id;
