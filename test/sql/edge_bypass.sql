-- Writes that bypass occ's trigger (ALTER TABLE ... DISABLE TRIGGER, or
-- session_replication_role = replica): occ_try_update reports the write it made,
-- "updated" with the row as written, not "unchanged" because the version stayed.

CREATE TABLE edge_bypass (id int PRIMARY KEY, v text);
SELECT occ_enable('edge_bypass');
INSERT INTO edge_bypass VALUES (1, 'a');

-- with the trigger: a real change, then a patch that changes nothing
SELECT r->>'status' AS status, r->'row'->>'v' AS v, r->'current_version' AS version
  FROM occ_try_update('edge_bypass', 1, 1, '{"v": "b"}') AS r;
SELECT r->>'status' AS status, r->'row'->>'v' AS v, r->'current_version' AS version
  FROM occ_try_update('edge_bypass', 1, 2, '{"v": "b"}') AS r;

-- replica role: the trigger does not fire, the row changes, the version stays
SET session_replication_role = replica;
SELECT r->>'status' AS status, r->'row'->>'v' AS v, r->'current_version' AS version
  FROM occ_try_update('edge_bypass', 1, 2, '{"v": "written as replica"}') AS r;
RESET session_replication_role;

-- a disabled trigger: the same
ALTER TABLE edge_bypass DISABLE TRIGGER zz_occ_version;
SELECT r->>'status' AS status, r->'row'->>'v' AS v, r->'current_version' AS version
  FROM occ_try_update('edge_bypass', 1, 2, '{"v": "written untracked"}') AS r;
-- an empty patch writes nothing and stays "unchanged"
SELECT r->>'status' AS status, r->'row'->>'v' AS v
  FROM occ_try_update('edge_bypass', 1, 2, '{}') AS r;
ALTER TABLE edge_bypass ENABLE TRIGGER zz_occ_version;
SELECT id, v, version FROM edge_bypass;

DROP TABLE edge_bypass;
