-- Three-way merge (occ 1.2): on a table that keeps history, a stale occ_update,
-- occ_try_update or occ_update_many item whose version v is still kept is merged:
-- base = the row at v, theirs = the current row, ours = base with the patch
-- applied. json/jsonb columns are compared at every depth of objects; arrays,
-- scalars, NULL and every other column are atomic. A path only one side changed
-- takes that side's value, both sides' equal values converge, different values
-- conflict (OC409 with conflicting_paths as RFC 6901 JSON Pointers, changed_by and
-- reasons; occ_try_update's conflict adds changes_since). Without a conflict the
-- version is bumped once. A version older than the kept ones, an ETag condition and
-- a table without history behave as before.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag>.
\i test/sql/include/err.psql

-- row granularity: without history every stale version would be a conflict
CREATE TABLE hm (id int PRIMARY KEY, title text, n int, tags text[], doc jsonb, raw json,
                 "a/b~c" text);
SELECT occ_enable('hm', history => 10);

-- pg_temp.setup(base, theirs): row 1 is inserted afresh with the columns of base
-- (version 1), then a plain UPDATE sets the columns of theirs (version 2).
CREATE FUNCTION pg_temp.setup(base jsonb, theirs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM hm WHERE id = 1;
    INSERT INTO hm (id, title, n, tags, doc, raw, "a/b~c")
    SELECT 1, b.title, b.n, b.tags, b.doc, b.raw, b."a/b~c"
      FROM jsonb_populate_record(NULL::hm, base) AS b;
    UPDATE hm SET (title, n, tags, doc, raw, "a/b~c") =
           (SELECT t.title, t.n, t.tags, t.doc, t.raw, t."a/b~c"
              FROM jsonb_populate_record(hm, theirs) AS t)
     WHERE id = 1;
    IF (SELECT hm.version FROM hm WHERE id = 1) <> 2 THEN
        RAISE EXCEPTION 'theirs % changed nothing', theirs;
    END IF;
END
$$;

-- pg_temp.merge3(base, theirs, patch): after setup(base, theirs), a client that
-- read version 1 sends patch through occ_try_update. Returns its status and
-- conflicting_paths, the row's columns named in base, theirs or patch after it, and
-- the row's version (2: nothing written, 3: merged with one bump).
CREATE FUNCTION pg_temp.merge3(base jsonb, theirs jsonb, patch jsonb,
    OUT status text, OUT conflicting_paths jsonb, OUT after jsonb, OUT version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM pg_temp.setup(base, theirs);
    r := occ_try_update('hm', 1, 1, patch);
    status := r ->> 'status';
    conflicting_paths := r -> 'conflicting_paths';
    SELECT jsonb_object_agg(k, v), max(hm.version)
      INTO after, version
      FROM hm, jsonb_each(to_jsonb(hm)) AS e(k, v)
     WHERE hm.id = 1 AND (base ? k OR theirs ? k OR patch ? k);
END
$$;

-- pg_temp.detail(detail) is an OC error's DETAIL as jsonb, without the random
-- current_etag and with the name of the superuser running the tests as <superuser>.
CREATE FUNCTION pg_temp.detail(detail text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT replace(regexp_replace(NULLIF(detail, ''), '"current_etag":"[A-Za-z0-9_-]{24}"',
                                  '"current_etag":"<etag>"', 'g'),
                   '"' || session_user || '"', '"<superuser>"')::jsonb - 'current_etag'
$$;

-- json documents, at every depth
\set base '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}'
SELECT v.name, m.*
  FROM (VALUES
    ('disjoint deep paths',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"zip": "0151"}}}'),
    ('disjoint paths, different depths',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "bob"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Bergen"}}}'),
    ('same path, equal values: converges',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Bergen"}}}'),
    ('same path equal, another path new',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Bergen", "zip": "0151"}}}'),
    ('same path, different values',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Trondheim"}}}'),
    ('two conflicts, sorted',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "bob"}, "tags": [1, 2], "note": null}',
     '{"meta": {"owner": "cy", "address": {"city": "Trondheim"}}}'),
    ('a conflict and a disjoint path: nothing written',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Trondheim", "zip": "0151"}}}'),
    ('theirs replaced an object by a scalar, ours edited inside',
     '{"meta": "gone", "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"zip": "0151"}}}'),
    ('ours replaced an object by a scalar, theirs edited inside',
     '{"meta": {"address": {"city": "Bergen", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": "gone"}'),
    ('ours replaced an object by a scalar, theirs elsewhere',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2, 3], "note": null}',
     '{"meta": "gone"}'),
    ('theirs removed a member, ours changed it',
     '{"meta": {"address": {"city": "Oslo"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"zip": "0151"}}}'),
    ('ours removed a member, theirs changed it',
     '{"meta": {"address": {"city": "Oslo", "zip": "0151"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"zip": null}}}'),
    ('both removed the member: converges',
     '{"meta": {"address": {"city": "Oslo"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"zip": null}}}'),
    ('theirs removed a member, ours changed its sibling',
     '{"meta": {"address": {"city": "Oslo"}, "owner": "ann"}, "tags": [1, 2], "note": null}',
     '{"meta": {"address": {"city": "Bergen"}}}'),
    ('arrays are atomic',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2, 3], "note": null}',
     '{"tags": [0, 1, 2]}'),
    ('equal arrays converge',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2, 3], "note": null}',
     '{"tags": [1, 2, 3]}'),
    ('an array on one side only',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2, 3], "note": null}',
     '{"meta": {"owner": "bob"}}'),
    ('a JSON null member: theirs set it, ours removed it',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2], "note": "x"}',
     '{"note": null}'),
    ('a JSON null member: theirs removed it, ours elsewhere',
     '{"meta": {"address": {"city": "Oslo", "zip": "0150"}, "owner": "ann"}, "tags": [1, 2]}',
     '{"meta": {"owner": "bob"}}')
  ) AS v(name, theirs, patch),
  LATERAL pg_temp.merge3(jsonb_build_object('doc', :'base'::jsonb),
                         jsonb_build_object('doc', v.theirs::jsonb),
                         jsonb_build_object('doc', v.patch::jsonb)) AS m;

-- SQL NULL documents are atomic values
SELECT v.name, m.*
  FROM (VALUES
    ('theirs set the document NULL, ours edited inside',
     '{"doc": {"a": {"b": 1}}}', '{"doc": null}', '{"doc": {"a": {"c": 2}}}'),
    ('ours set the document NULL, theirs edited inside',
     '{"doc": {"a": {"b": 1}}}', '{"doc": {"a": {"b": 2}}}', '{"doc": null}'),
    ('both filled a NULL document, differently',
     '{"doc": null}', '{"doc": {"a": 1}}', '{"doc": {"b": 2}}'),
    ('both filled a NULL document, equally',
     '{"doc": null}', '{"doc": {"a": 1}}', '{"doc": {"a": 1}}')
  ) AS v(name, base, theirs, patch),
  LATERAL pg_temp.merge3(v.base::jsonb, v.theirs::jsonb, v.patch::jsonb) AS m;

-- members added on both sides, and a parent removed on one side
SELECT v.name, m.*
  FROM (VALUES
    ('both added a member, differently',
     '{"doc": {}}', '{"doc": {"x": 1}}', '{"doc": {"x": 2}}'),
    ('both added a member, equally',
     '{"doc": {}}', '{"doc": {"x": 1}}', '{"doc": {"x": 1}}'),
    ('both added different members of one object',
     '{"doc": {"a": {"b": 1}}}', '{"doc": {"a": {"b": 1, "c": 1}}}', '{"doc": {"a": {"d": 1}}}'),
    ('theirs removed the parent, ours changed a child',
     '{"doc": {"a": {"b": 1, "c": 1}}}', '{"doc": {}}', '{"doc": {"a": {"b": 2}}}'),
    ('theirs removed the parent, ours removed a child',
     '{"doc": {"a": {"b": 1, "c": 1}}}', '{"doc": {}}', '{"doc": {"a": {"b": null}}}'),
    ('a scalar made an object on both sides, differently',
     '{"doc": {"a": 1}}', '{"doc": {"a": {"b": 1}}}', '{"doc": {"a": {"c": 1}}}'),
    ('ours removed a member theirs kept, and one that never was',
     '{"doc": {"a": {"b": 1}}}', '{"doc": {"a": {"b": 1}, "q": 1}}', '{"doc": {"a": {"b": null, "c": null}}}')
  ) AS v(name, base, theirs, patch),
  LATERAL pg_temp.merge3(v.base::jsonb, v.theirs::jsonb, v.patch::jsonb) AS m;

-- JSON Pointer escaping: "~" is "~0", "/" is "~1", an empty member name is empty
SELECT v.name, m.*
  FROM (VALUES
    ('member names with / and ~',
     '{"doc": {"a/b": {"m~n": 1}}}', '{"doc": {"a/b": {"m~n": 2}}}', '{"doc": {"a/b": {"m~n": 3}}}'),
    ('an empty member name',
     '{"doc": {"": 1}}', '{"doc": {"": 2}}', '{"doc": {"": 3}}'),
    ('a column name with / and ~',
     '{"a/b~c": "x"}', '{"a/b~c": "y"}', '{"a/b~c": "z"}')
  ) AS v(name, base, theirs, patch),
  LATERAL pg_temp.merge3(v.base::jsonb, v.theirs::jsonb, v.patch::jsonb) AS m;

-- other columns are atomic; values are compared after conversion to the column type
SELECT v.name, m.*
  FROM (VALUES
    ('an empty patch: nothing to merge', '{"title": "t", "n": 1}', '{"n": 2}', '{}'),
    ('different columns', '{"title": "t", "n": 1}', '{"n": 2}', '{"title": "u"}'),
    ('the same column, different values', '{"title": "t", "n": 1}', '{"n": 2}', '{"n": 3}'),
    ('the same column, equal after conversion', '{"title": "t", "n": 1}', '{"n": 2}', '{"n": "2"}'),
    ('a text[] column is atomic', '{"tags": ["a", "b"]}', '{"tags": ["a", "b", "c"]}', '{"tags": ["x", "a", "b"]}'),
    ('theirs set a column NULL, ours a value', '{"title": "t"}', '{"title": null}', '{"title": "u"}'),
    ('both set a column NULL', '{"title": "t"}', '{"title": null}', '{"title": null}'),
    ('a json column, disjoint deep paths',
     '{"raw": {"p": {"q": 1, "r": 1}}}', '{"raw": {"p": {"q": 2, "r": 1}}}', '{"raw": {"p": {"r": 2}}}'),
    ('a json column, the same path',
     '{"raw": {"p": {"q": 1, "r": 1}}}', '{"raw": {"p": {"q": 2, "r": 1}}}', '{"raw": {"p": {"q": 3}}}'),
    ('conflicts in several columns, sorted',
     '{"title": "t", "n": 1, "doc": {"z": 1}}', '{"title": "u", "n": 2, "doc": {"z": 2}}',
     '{"title": "v", "n": 3, "doc": {"z": 3}}')
  ) AS v(name, base, theirs, patch),
  LATERAL pg_temp.merge3(v.base::jsonb, v.theirs::jsonb, v.patch::jsonb) AS m;

-- occ_update: a merge returns the new row, bumped once, and history records only
-- what the merge changed in the current row
SELECT pg_temp.setup('{"doc": {"a": {"x": 1, "y": 1}, "b": 1}}',
                     '{"doc": {"a": {"x": 2, "y": 1}, "b": 1}}');
SELECT occ_update('hm', 1, 1, '{"doc": {"a": {"x": 2, "y": 3}}, "title": "merged"}') - 'etag'
       AS merged_row;
SELECT version, changes - 'etag' AS changes, changes ->> 'etag' = etag AS etag_ok
  FROM occ_history('hm', 1) WHERE version = 3;
SELECT bool_and(occ_merge_patch(occ_row_at('hm', 1, h.version - 1), h.changes)
                = occ_row_at('hm', 1, h.version)) AS patch_gives_row
  FROM occ_history('hm', 1) AS h WHERE h.version > 1;

-- a conflict: OC409 whose DETAIL names the conflicting paths and columns, the
-- columns changed since, who changed the row since (distinct, in version order)
-- and why (distinct non-null reasons); nothing is written
CREATE ROLE regress_occ_merge_ann;
CREATE ROLE regress_occ_merge_bob;
GRANT SELECT, INSERT, UPDATE, DELETE ON hm TO regress_occ_merge_ann, regress_occ_merge_bob;
DELETE FROM hm WHERE id = 1;
INSERT INTO hm (id, title, n, doc) VALUES (1, 't', 1, '{"a": {"x": 1, "y": 1}, "b": 1}');
SET ROLE regress_occ_merge_ann;
SET occ.reason = 'import';
UPDATE hm SET doc = '{"a": {"x": 2, "y": 1}, "b": 1}' WHERE id = 1;
SET ROLE regress_occ_merge_bob;
RESET occ.reason;
UPDATE hm SET n = 2 WHERE id = 1;
SET ROLE regress_occ_merge_ann;
SET occ.reason = 'import';
UPDATE hm SET doc = '{"a": {"x": 2, "y": 1}, "b": 2}' WHERE id = 1;
SET ROLE regress_occ_merge_bob;
SET occ.reason = 'fix';
UPDATE hm SET title = 'u' WHERE id = 1;
RESET occ.reason;
RESET ROLE;
SELECT hm::text AS snap FROM hm WHERE id = 1 \gset
\x on
SELECT state, message, pg_temp.detail(detail) AS detail, hint, schema_name, table_name,
       column_name
  FROM pg_temp.err($$SELECT occ_update('hm', 1, 1, '{"doc": {"a": {"x": 3}, "b": 3}, "n": 2}')$$);
\x off
SELECT hm::text = :'snap' AS unchanged FROM hm WHERE id = 1;
-- from a later version, only the writers and reasons after it
SELECT pg_temp.detail(detail) AS detail
  FROM pg_temp.err($$SELECT occ_update('hm', 1, 4, '{"title": "w", "doc": {"b": 2}}')$$);
-- the same patch merges from version 1 once it conflicts with nothing
SELECT occ_update('hm', 1, 1, '{"doc": {"a": {"y": 3}}}') -> 'doc' AS merged_doc;

-- occ_try_update: "merged", "unchanged", and a conflict with conflicting_paths and
-- changes_since (the merge patch from the client's version to the current row)
SELECT pg_temp.setup('{"doc": {"a": 1, "b": 1}, "title": "t"}',
                     '{"doc": {"a": 2, "b": 1}, "title": "u"}');
SELECT r - 'row' AS merged, r #> '{row,doc}' AS doc
  FROM occ_try_update('hm', 1, 1, '{"doc": {"b": 3}}') AS r;
SELECT r - 'row' AS unchanged FROM occ_try_update('hm', 1, 1, '{"doc": {"a": 2}}') AS r;
SELECT r - 'row' - 'changes_since' AS conflict,
       (r -> 'changes_since') - 'etag' AS changes_since,
       r #>> '{changes_since,etag}' = (SELECT etag FROM hm WHERE id = 1) AS changes_since_etag_ok,
       r -> 'row' = (SELECT to_jsonb(hm) FROM hm WHERE id = 1) AS row_is_current
  FROM occ_try_update('hm', 1, 1, '{"doc": {"a": 4}, "title": "v"}') AS r;
SELECT occ_merge_patch(occ_row_at('hm', 1, 1),
                       occ_try_update('hm', 1, 1, '{"doc": {"a": 4}}') -> 'changes_since')
       = (SELECT to_jsonb(hm) FROM hm WHERE id = 1) AS changes_since_gives_row;

-- occ_update_many: each item merges on its own; a conflicting item fails the batch
-- with its paths
DELETE FROM hm;
INSERT INTO hm (id, doc) VALUES (1, '{"a": 1, "b": 1}'), (2, '{"a": 1, "b": 1}');
UPDATE hm SET doc = '{"a": 2, "b": 1}';
SELECT r - 'etag' AS batch_row
  FROM occ_update_many('hm', '[{"id": 2, "version": 1, "patch": {"doc": {"b": 3}}},
                               {"id": 1, "version": 2, "patch": {"doc": {"b": 4}}}]') AS r;
SELECT id, version, doc FROM hm ORDER BY id;
SELECT state, message, pg_temp.detail(detail) AS detail
  FROM pg_temp.err($$SELECT occ_update_many('hm', '[{"id": 1, "version": 3, "patch": {"doc": {"a": 5}}},
                                                  {"id": 2, "version": 1, "patch": {"doc": {"a": 5}}}]')$$);
SELECT id, version, doc FROM hm ORDER BY id;

-- a version the row never had (above the current one) is a conflict, not a merge
SELECT r ->> 'status' AS future, r ? 'conflicting_paths' AS has_paths
  FROM occ_try_update('hm', 1, 9, '{"title": "x"}') AS r;

-- an ETag condition never merges: occ_update_if_match with the ETag of a kept
-- version is OC412
SELECT occ_row_at('hm', 2, 1) ->> 'etag' AS old_etag \gset
SELECT state FROM pg_temp.err(format($$SELECT occ_update_if_match('hm', 2, %L, '{"title": "x"}')$$, :'old_etag'));
-- and occ_delete stays strict
SELECT state FROM pg_temp.err($$SELECT occ_delete('hm', 2, 1)$$);
SELECT count(*) AS still_there FROM hm WHERE id = 2;

-- a version older than the kept ones behaves as without history: row granularity
-- is a plain OC409 without paths
CREATE TABLE hm_short (id int PRIMARY KEY, title text, doc jsonb);
SELECT occ_enable('hm_short', history => 2);
INSERT INTO hm_short VALUES (1, 't', '{"a": 1, "b": 1}');
UPDATE hm_short SET doc = '{"a": 2, "b": 1}';
UPDATE hm_short SET doc = '{"a": 3, "b": 1}';
UPDATE hm_short SET doc = '{"a": 4, "b": 1}';
SELECT min(version) AS oldest_kept FROM occ_history('hm_short', 1);
SELECT state, pg_temp.detail(detail) AS detail
  FROM pg_temp.err($$SELECT occ_update('hm_short', 1, 1, '{"doc": {"b": 2}}')$$);
SELECT occ_try_update('hm_short', 1, 1, '{"doc": {"b": 2}}') - 'row' AS not_kept;
-- the oldest kept version still merges
SELECT occ_update('hm_short', 1, 2, '{"doc": {"b": 2}}') -> 'doc' AS from_oldest_kept;

-- field granularity: the field rules apply to versions older than the kept ones,
-- and a kept version merges deeper than they do (inside one top-level member)
CREATE TABLE hm_field (id int PRIMARY KEY, doc jsonb);
SELECT occ_enable('hm_field', granularity => 'field', history => 1);
INSERT INTO hm_field VALUES (1, '{"c": {"x": 1, "y": 1}, "d": 1}');
UPDATE hm_field SET doc = '{"c": {"x": 2, "y": 1}, "d": 1}';
SELECT occ_update('hm_field', 1, 1, '{"doc": {"c": {"y": 2}}}') -> 'doc' AS deep_merge;
SELECT state, pg_temp.detail(detail) AS detail
  FROM pg_temp.err($$SELECT occ_update('hm_field', 1, 2, '{"doc": {"c": {"y": 3}}}')$$);
-- version 1 is gone now (history => 1): the field rules, member "c" conflicts
SELECT state, pg_temp.detail(detail) AS detail
  FROM pg_temp.err($$SELECT occ_update('hm_field', 1, 1, '{"doc": {"c": {"z": 1}}}')$$);
SELECT occ_update('hm_field', 1, 1, '{"doc": {"d": 2}}') -> 'doc' AS field_rule_merge;

DROP TABLE hm, hm_short, hm_field;
DROP ROLE regress_occ_merge_ann, regress_occ_merge_bob;
