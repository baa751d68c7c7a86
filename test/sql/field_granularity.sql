-- Field granularity: occ_enable(tbl, granularity => 'field') also keeps, per row, the
-- version at which each column last changed, in an ordinary jsonb column
-- (field_versions) that the trigger maintains. occ_update with a stale version v then
-- succeeds, bumping the version once, when every column in the patch is unchanged
-- since v or is set to the value it already has; otherwise OC409, whose DETAIL lists
-- changed_fields (changed since v) and conflicting_fields (changed since v and in the
-- patch). For json/jsonb columns the rule applies to their top-level members. Plain
-- UPDATEs keep the per-column versions right too. A table switches between row and
-- field granularity with occ_enable.

-- pg_temp.err(stmt) runs stmt and returns the error it raised, field by field
-- (state is 'no error' if none); a current_etag in DETAIL is shown as <etag> and
-- returned in detail_etag so that it can be compared with the row's.
\i test/sql/include/err.psql

-- row 2 comes with a version of its own (an ORM's, say)
CREATE TABLE fg (id int PRIMARY KEY, title text, body text, n int, amount numeric,
                 at timestamptz, doc jsonb, raw json, version bigint NOT NULL DEFAULT 1);
INSERT INTO fg VALUES
    (1, 'draft', 'hello', 1, 1.5, '2024-01-01 00:00:00+00',
     '{"a":1,"b":2,"c":{"x":1,"y":1}}', '{"x":1,"y":2}', 1),
    (2, 'other', 'row', 2, 0, NULL, NULL, NULL, 4);

-- enabling adds field_versions (jsonb) next to version and etag; every row starts
-- tracking at its current version ("b", the base)
SELECT occ_enable('fg', granularity => 'field');
SELECT attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute
 WHERE attrelid = 'fg'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT table_name, granularity FROM occ_tables WHERE table_name = 'fg'::regclass;
SELECT pg_get_triggerdef(oid) AS trigger
  FROM pg_trigger WHERE tgrelid = 'fg'::regclass AND NOT tgisinternal;
SELECT id, version, field_versions FROM fg ORDER BY id;

-- with the current version, occ_update works as with row granularity and records
-- the version at which the column changed
SELECT occ_update('fg', 1, 1, '{"title":"by A"}') - 'etag' AS a_updated;

-- disjoint fields merge: B read version 1 too and changes body, which nobody
-- changed since 1; it succeeds, bumps the version once (to 3) and keeps A's title
SELECT etag AS etag2 FROM fg WHERE id = 1 \gset
SELECT occ_update('fg', 1, 1, '{"body":"by B"}') - 'etag' AS b_merged;
SELECT version, title, body, etag <> :'etag2' AS etag_changed FROM fg WHERE id = 1;

-- overlapping fields conflict: C read version 1 and changes title, which A changed
-- since; OC409 names what changed since 1 and what of it C's patch touches
SELECT fg::text AS snap FROM fg WHERE id = 1 \gset
\x on
SELECT state, message, detail, hint, schema_name, table_name, column_name,
       detail_etag = (SELECT etag FROM fg WHERE id = 1) AS detail_etag_is_current
  FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"title":"by C"}')$$);
\x off
-- the DETAIL keys, in order
SELECT json_object_keys(detail::json) AS oc409_detail_keys
  FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"title":"by C"}')$$);
-- a patch with one disjoint and one overlapping column fails as a whole
SELECT detail FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"n":5,"body":"by C"}')$$);
-- with version 2, body changed since (3) but title did not
SELECT detail FROM pg_temp.err($$SELECT occ_update('fg', 1, 2, '{"title":"x","body":"y"}')$$);
SELECT fg::text = :'snap' AS unchanged FROM fg WHERE id = 1;

-- equal values converge: a stale patch that sets a changed column to the value it
-- already has succeeds, and bumps nothing when nothing else changes ...
SELECT occ_update('fg', 1, 1, '{"title":"by A"}') - 'etag' AS converged;
SELECT fg::text = :'snap' AS unchanged FROM fg WHERE id = 1;
-- ... and bumps once when the rest of the patch merges
SELECT occ_update('fg', 1, 1, '{"title":"by A","body":"by B","n":2}') - 'etag' AS merged;
-- values are compared after conversion to the column type: "2" is the integer 2,
-- "2.5" the numeric 2.5, and a time in another zone the same instant
UPDATE fg SET amount = 2.5, at = '2024-01-02 00:00:00+00' WHERE id = 1;
SELECT version, field_versions -> 'c' AS column_versions FROM fg WHERE id = 1;
SELECT occ_update('fg', 1, 1, '{"n":"2","amount":"2.5","at":"2024-01-02T01:00:00+01:00"}')
       -> 'version' AS converged_version;
SELECT fg::text AS snap FROM fg WHERE id = 1 \gset
-- but a different value of a changed column is a conflict
SELECT detail FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"n":"3"}')$$);
-- and so is setting it to NULL
SELECT detail FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"title":null}')$$);
-- a version the row never had is a conflict for every patched field, however
-- disjoint
SELECT detail FROM pg_temp.err($$SELECT occ_update('fg', 1, 9, '{"raw":{"z":1}}')$$);
SELECT fg::text = :'snap' AS unchanged FROM fg WHERE id = 1;

-- jsonb columns, one level down: D and E both read the current version and edit
-- different members of the same document; both succeed
SELECT version AS v_doc FROM fg WHERE id = 1 \gset
SELECT occ_update('fg', 1, :v_doc, '{"doc":{"a":10}}') -> 'version' AS d_version;
SELECT occ_update('fg', 1, :v_doc, '{"doc":{"b":20}}') -> 'version' AS e_version;
SELECT doc, field_versions -> 'm' AS member_versions FROM fg WHERE id = 1;
-- F, at the same version, edits a member D changed: conflict on "doc.a"
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":{"a":11}}')$$, :v_doc));
-- removing that member (null) conflicts as well
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":{"a":null}}')$$, :v_doc));
-- setting it to the value it has converges; adding a new member merges
SELECT occ_update('fg', 1, :v_doc, '{"doc":{"a":10,"d":4}}') -> 'doc' AS doc_merged;
-- only top-level members count: two edits inside member "c" overlap
SELECT version AS v_c FROM fg WHERE id = 1 \gset
SELECT occ_update('fg', 1, :v_c, '{"doc":{"c":{"x":2}}}') -> 'doc' AS c_x;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":{"c":{"y":2}}}')$$, :v_c));
-- a json (not jsonb) column behaves the same
SELECT version AS v_raw FROM fg WHERE id = 1 \gset
SELECT occ_update('fg', 1, :v_raw, '{"raw":{"x":5}}') ->> 'raw' AS raw_x;
SELECT occ_update('fg', 1, :v_raw, '{"raw":{"y":6}}') ->> 'raw' AS raw_y;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"raw":{"x":7}}')$$, :v_raw));
-- a patch value that is not an object replaces the document: the column-level rule
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":[1]}')$$, :v_doc));

-- plain UPDATEs keep the per-column versions right as well
SELECT version AS v_plain FROM fg WHERE id = 1 \gset
UPDATE fg SET body = 'plain' WHERE id = 1;
SELECT version, field_versions -> 'c' ->> 'body' AS body_changed_at FROM fg WHERE id = 1;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"body":"stale"}')$$, :v_plain));
SELECT occ_update('fg', 1, :v_plain, '{"title":"fresh"}') ->> 'title' AS disjoint_still_merges;
-- an UPDATE that changes nothing keeps version and field versions
SELECT field_versions::text AS fv FROM fg WHERE id = 1 \gset
UPDATE fg SET body = body, doc = doc WHERE id = 1;
SELECT version, field_versions::text = :'fv' AS field_versions_kept FROM fg WHERE id = 1;
-- a document changed by a plain UPDATE: the members that differ are recorded
UPDATE fg SET doc = doc - 'b' || '{"e":5}' WHERE id = 1;
SELECT version, field_versions -> 'm' -> 'doc' AS doc_member_versions FROM fg WHERE id = 1;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":{"b":21}}')$$, :v_plain));
SELECT occ_update('fg', 1, :v_plain, '{"doc":{"a":1}}') -> 'doc' AS other_member_merges;
-- a document replaced by something that is not an object: every member edit made
-- against an older version conflicts
SELECT version AS v_gone FROM fg WHERE id = 1 \gset
UPDATE fg SET doc = '"gone"' WHERE id = 1;
UPDATE fg SET doc = '{"a":1}' WHERE id = 1;
SELECT version AS v_new FROM fg WHERE id = 1 \gset
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"doc":{"z":1}}')$$, :v_gone));
-- while clients that read the new document edit it member by member again
SELECT occ_update('fg', 1, :v_new, '{"doc":{"z":1}}') -> 'doc' AS after_replacement;
SELECT occ_update('fg', 1, :v_new, '{"doc":{"y":2}}') -> 'doc' AS after_replacement;

-- field_versions belongs to occ: a patch cannot set it (428C9), plain writes cannot
-- forge it, and a new row starts tracking at version 1
SELECT state, message, detail
  FROM pg_temp.err($$SELECT occ_update('fg', 1, 1, '{"field_versions":{"b":99}}')$$);
SELECT field_versions::text AS fv FROM fg WHERE id = 1 \gset
UPDATE fg SET field_versions = '{"b":99}' WHERE id = 1;
SELECT field_versions::text = :'fv' AS not_forged FROM fg WHERE id = 1;
UPDATE fg SET field_versions = '{"b":99}', n = 7 WHERE id = 1;
SELECT field_versions -> 'b' AS base, field_versions -> 'c' -> 'n' = to_jsonb(version) AS n_recorded
  FROM fg WHERE id = 1;
INSERT INTO fg (id, title, field_versions) VALUES (3, 'new', '{"b":99,"c":{"title":0}}');
SELECT id, version, field_versions FROM fg WHERE id = 3;

-- occ_delete stays strict: a stale version is OC409 even when nothing it would
-- delete "changed"
SELECT state FROM pg_temp.err($$SELECT occ_delete('fg', 3, 0)$$);
SELECT count(*) AS still_there FROM fg WHERE id = 3;

-- field -> row: the column stays but is no longer maintained, and a stale version
-- is a conflict whatever the patch (the DETAIL has no field lists)
SELECT occ_enable('fg');
SELECT table_name, granularity FROM occ_tables WHERE table_name = 'fg'::regclass;
SELECT count(*) AS field_versions_column
  FROM pg_attribute WHERE attrelid = 'fg'::regclass AND attname = 'field_versions';
SELECT field_versions::text AS fv, version AS vrow FROM fg WHERE id = 1 \gset
UPDATE fg SET body = 'row mode' WHERE id = 1;
SELECT version = :vrow + 1 AS bumped, field_versions::text = :'fv' AS not_maintained
  FROM fg WHERE id = 1;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"n":8}')$$, :vrow));

-- row -> field: tracking starts again at each row's current version (the history
-- in between is unknown), so a client that read before the switch conflicts on any
-- field it changes, and still converges on equal values
SELECT occ_enable('fg', granularity => 'field');
SELECT id, field_versions = jsonb_build_object('b', version) AS backfilled
  FROM fg ORDER BY id;
SELECT detail FROM pg_temp.err(format($$SELECT occ_update('fg', 1, %s, '{"n":8}')$$, :vrow));
SELECT occ_update('fg', 1, :vrow, '{"body":"row mode"}') -> 'version' = to_jsonb(:vrow + 1)
       AS converged_without_bump;
SELECT occ_update('fg', 1, :vrow + 1, '{"n":8}') -> 'field_versions' AS tracking_again;

-- calling it again with field granularity changes nothing
SELECT field_versions::text AS fv FROM fg WHERE id = 1 \gset
SELECT occ_enable('fg', granularity => 'field');
SELECT field_versions::text = :'fv' AS kept FROM fg WHERE id = 1;

-- row granularity, for contrast: the same disjoint stale update is a conflict
CREATE TABLE fg_row (id int PRIMARY KEY, title text, body text);
INSERT INTO fg_row VALUES (1, 'draft', 'hello');
SELECT occ_enable('fg_row');
SELECT occ_update('fg_row', 1, 1, '{"title":"by A"}') -> 'version' AS a_version;
SELECT state, detail FROM pg_temp.err($$SELECT occ_update('fg_row', 1, 1, '{"body":"by B"}')$$);

DROP TABLE fg, fg_row;
