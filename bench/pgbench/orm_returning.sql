-- Variant 3r: the ORM conditional update of variant 3, also returning the new
-- row as jsonb, as occ_update does: the same work for the client's answer, so
-- 4 / 3r is occ's cost for the same result, and 3r / 3 what returning the row
-- costs by itself (on the 4 KB shape: fetching, escaping and sending 4 KB).
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_orm WHERE id = :id \gset
UPDATE t_orm SET qty = :q, title = 'item ' || :q, version = version + 1
 WHERE id = :id AND version = :v RETURNING to_jsonb(t_orm.*);
