-- Variant 6, pessimistic: the same updates under a row lock taken by
-- SELECT … FOR UPDATE (same table shape, also occ-enabled).
\set id random(1, :hot_rows)
\set q random(1, 1000000)
BEGIN;
SELECT version FROM bench.hot_lock WHERE id = :id FOR UPDATE;
UPDATE bench.hot_lock SET qty = :q, title = 'item ' || :q WHERE id = :id;
COMMIT;
