-- history.sh: the plain UPDATE of variants 1 and 2 on a table enabled with
-- history => N (the trigger records each new version and keeps the image of
-- the one it replaces).
-- Variables from history.sh: rows (table size), nclients (pgbench -c).  Each client
-- draws ids from its own residue class, so no two clients ever race for a row.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
UPDATE t_history SET qty = :q, title = 'item ' || :q WHERE id = :id;
