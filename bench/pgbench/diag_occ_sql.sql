-- Diagnostic (EXTRA=1): the statement occ_update runs for this patch, sent by
-- the client itself (same patch parameter, same trigger), so that variant 4
-- minus this is the cost of the C function around it.
\set id 1 + :client_id + :nclients * random(0, :rows / :nclients - 1)
\set q random(1, 1000000)
SELECT version AS v FROM t_occ WHERE id = :id \gset
UPDATE t_occ AS occ_t SET qty = occ_p.qty, title = occ_p.title
  FROM jsonb_to_record(jsonb_build_object('qty', :q::integer, 'title', 'item ' || :q)) AS occ_p(qty integer, title text)
 WHERE occ_t.id = :id::bigint AND occ_t.version = :v::bigint RETURNING to_jsonb(occ_t.*);
