-- Variant 6, optimistic: many clients on hot_rows rows.  Read the version, then
-- occ_update(); on OC409 bench.hot_occ_update() re-reads and retries, counting
-- each conflict in the sequence bench.hot_conflicts.  One transaction = one
-- successful update.
\set id random(1, :hot_rows)
\set q random(1, 1000000)
SELECT version AS v FROM bench.hot_occ WHERE id = :id \gset
SELECT bench.hot_occ_update(:id::bigint, :v::bigint, jsonb_build_object('qty', :q::integer, 'title', 'item ' || :q));
