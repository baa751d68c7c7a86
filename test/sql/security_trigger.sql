-- What the trigger lets no writer skip (issue 18, items 4, 5, 6 and 9): the
-- backfill of occ_enable() spares only its own rows of the table being
-- enabled; a partition move's marker carries a version and ETag only into the
-- same partitioned table; MERGE under version_input; and the DETAIL of a
-- 'next' conflict at the minimum bigint.

\i test/sql/include/err.psql

-- 4. A victim table, and an attacker's table whose trigger writes the victim
-- while occ_enable() backfills the attacker's table.
CREATE TABLE sec_victim (id int PRIMARY KEY, t text);
SELECT occ_enable('sec_victim');
INSERT INTO sec_victim VALUES (1, 'original');
SELECT etag AS victim_etag FROM sec_victim WHERE id = 1 \gset

CREATE TABLE sec_attacker (id int PRIMARY KEY, n int);
INSERT INTO sec_attacker VALUES (1, 0);
CREATE FUNCTION sec_touch_victim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sec_victim SET t = t || ', changed during a backfill' WHERE id = 1;
    RETURN NEW;
END $$;
CREATE TRIGGER a_touch_victim BEFORE UPDATE ON sec_attacker
    FOR EACH ROW EXECUTE FUNCTION sec_touch_victim();

-- the victim's change is versioned as any other
SELECT occ_enable('sec_attacker');
SELECT t, version, etag <> :'victim_etag' AS new_etag FROM sec_victim;
-- the attacker's own rows were backfilled: version kept, first ETag
SELECT n, version, etag IS NOT NULL AS has_etag FROM sec_attacker;

-- the same on a switch to field granularity
SELECT etag AS victim_etag FROM sec_victim WHERE id = 1 \gset
SELECT occ_enable('sec_attacker', granularity => 'field');
SELECT t, version, etag <> :'victim_etag' AS new_etag FROM sec_victim;
SELECT n, version, field_versions FROM sec_attacker;
DROP TABLE sec_attacker;
DROP FUNCTION sec_touch_victim();

-- 5. Two enabled partitioned tables: a data-modifying CTE copies a row of one
-- (just updated, so the move marker is set) into the other.
CREATE TABLE sec_pa (id int, part int, t text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE sec_pa1 PARTITION OF sec_pa FOR VALUES IN (1);
CREATE TABLE sec_pa2 PARTITION OF sec_pa FOR VALUES IN (2);
CREATE TABLE sec_pb (id int, part int, t text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE sec_pb1 PARTITION OF sec_pb FOR VALUES IN (1);
SELECT occ_enable('sec_pa');
SELECT occ_enable('sec_pb');
INSERT INTO sec_pa VALUES (1, 1, 'a');
UPDATE sec_pa SET t = 'b';
UPDATE sec_pa SET t = 'c';
WITH u AS (UPDATE sec_pa SET t = 'd' WHERE id = 1 RETURNING *)
INSERT INTO sec_pb SELECT * FROM u;
-- the copy is a new row of sec_pb: version 1 and an ETag of its own
SELECT a.version AS pa_version, b.version AS pb_version, a.etag <> b.etag AS own_etag
  FROM sec_pa a, sec_pb b;
-- a real move inside one table still keeps counting
UPDATE sec_pa SET part = 2 WHERE id = 1;
SELECT tableoid::regclass AS partition, version FROM sec_pa;
DROP TABLE sec_pa, sec_pb;

-- 6. MERGE and version_input.  PostgreSQL reports the columns of all of a
-- MERGE's UPDATE actions as updated, whichever one runs.  'next' decides from
-- the row: an action that leaves the version alone is a conflict.
CREATE TABLE sec_merge (id int PRIMARY KEY, t text);
SELECT occ_enable('sec_merge', version_input => 'next');
INSERT INTO sec_merge VALUES (1, 'a');
SELECT state, detail::jsonb - 'current_etag' AS detail
  FROM pg_temp.err($$
    MERGE INTO sec_merge m USING (VALUES (1)) s(id) ON m.id = s.id
    WHEN MATCHED AND false THEN UPDATE SET version = 0
    WHEN MATCHED THEN UPDATE SET t = 'x'$$);
-- 'expected' cannot tell that action from one assigning the version it read
-- (documented in the README's limits): it behaves like UPDATE ... SET version = version
SELECT occ_enable('sec_merge', version_input => 'expected');
SELECT state FROM pg_temp.err($$
    MERGE INTO sec_merge m USING (VALUES (1)) s(id) ON m.id = s.id
    WHEN MATCHED AND false THEN UPDATE SET version = 0
    WHEN MATCHED THEN UPDATE SET t = 'x'$$);
SELECT t, version FROM sec_merge;
-- a MERGE none of whose actions assigns the version is refused (OC428)
SELECT state FROM pg_temp.err($$
    MERGE INTO sec_merge m USING (VALUES (1)) s(id) ON m.id = s.id
    WHEN MATCHED THEN UPDATE SET t = 'y'$$);

-- 9. 'next' with the minimum bigint: there is no version one below it, so the
-- DETAIL leaves expected_version out instead of overflowing
SELECT occ_enable('sec_merge', version_input => 'next');
SELECT state, detail::jsonb - 'current_etag' AS detail
  FROM pg_temp.err($$UPDATE sec_merge SET t = 'z', version = -9223372036854775808$$);
SELECT state, detail::jsonb - 'current_etag' AS detail
  FROM pg_temp.err($$UPDATE sec_merge SET t = 'z', version = -9223372036854775807$$);
DROP TABLE sec_merge, sec_victim;
