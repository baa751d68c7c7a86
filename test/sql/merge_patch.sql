-- occ_merge_patch(target, patch): RFC 7396 JSON Merge Patch, usable on its own. These
-- are the test vectors of RFC 7396 Appendix A and the example of its section 3, then
-- deeper nesting, NULL arguments, and the function's declared properties.

-- RFC 7396 Appendix A: every vector gives the RFC's result
SELECT n, target, patch, occ_merge_patch(target, patch) AS result,
       occ_merge_patch(target, patch) = expected AS as_rfc
  FROM (VALUES
    (1,  '{"a":"b"}'::jsonb,         '{"a":"c"}'::jsonb,                '{"a":"c"}'::jsonb),
    (2,  '{"a":"b"}',                '{"b":"c"}',                       '{"a":"b","b":"c"}'),
    (3,  '{"a":"b"}',                '{"a":null}',                      '{}'),
    (4,  '{"a":"b","b":"c"}',        '{"a":null}',                      '{"b":"c"}'),
    (5,  '{"a":["b"]}',              '{"a":"c"}',                       '{"a":"c"}'),
    (6,  '{"a":"c"}',                '{"a":["b"]}',                     '{"a":["b"]}'),
    (7,  '{"a":{"b":"c"}}',          '{"a":{"b":"d","c":null}}',        '{"a":{"b":"d"}}'),
    (8,  '{"a":[{"b":"c"}]}',        '{"a":[1]}',                       '{"a":[1]}'),
    (9,  '["a","b"]',                '["c","d"]',                       '["c","d"]'),
    (10, '{"a":"b"}',                '["c"]',                           '["c"]'),
    (11, '{"a":"foo"}',              'null',                            'null'),
    (12, '{"a":"foo"}',              '"bar"',                           '"bar"'),
    (13, '{"e":null}',               '{"a":1}',                         '{"e":null,"a":1}'),
    (14, '[1,2]',                    '{"a":"b","c":null}',              '{"a":"b"}'),
    (15, '{}',                       '{"a":{"bb":{"ccc":null}}}',       '{"a":{"bb":{}}}')
  ) AS v(n, target, patch, expected)
 ORDER BY n;

-- RFC 7396 section 3: the example document and patch
SELECT occ_merge_patch(
  '{"title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged"}',
  '{"title": "Hello!",
    "phoneNumber": "+01-123-456-7890",
    "author": {"familyName": null},
    "tags": ["example"]}') AS result;
SELECT occ_merge_patch(
  '{"title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged"}',
  '{"title": "Hello!",
    "phoneNumber": "+01-123-456-7890",
    "author": {"familyName": null},
    "tags": ["example"]}')
  = '{"title": "Hello!",
      "author": {"givenName": "John"},
      "tags": ["example"],
      "content": "This will be unchanged",
      "phoneNumber": "+01-123-456-7890"}' AS as_rfc;

-- deeper nesting: members merge level by level, null removes at any depth, arrays
-- (and the nulls inside them) are taken as they are, an empty patch changes nothing
SELECT occ_merge_patch('{"a":{"b":{"c":1,"d":2},"e":3},"f":4}',
                       '{"a":{"b":{"c":null,"x":{"y":null,"z":1}}}}') AS nested;
SELECT occ_merge_patch('{"a":1}', '{"b":[null,{"c":null}]}') AS array_kept_as_is;
SELECT occ_merge_patch('{"a":{"b":1}}', '{"a":{}}') AS empty_member_patch;
SELECT occ_merge_patch('{"a":{"b":1}}', '{}') AS empty_patch;
SELECT occ_merge_patch('"scalar"', '{"a":null,"b":{"c":null}}') AS onto_scalar;
SELECT occ_merge_patch('{"a":1}', '{"a":{"b":null}}') AS object_replaces_number;
SELECT occ_merge_patch('{"a":"x","b":"y"}', '{"a":null,"b":null}') AS all_removed;

-- a SQL NULL target is taken as JSON null; a SQL NULL patch gives NULL
SELECT occ_merge_patch(NULL, '{"a":1,"b":null}') AS null_target;
SELECT occ_merge_patch(NULL, '[1]') AS null_target_array;
SELECT occ_merge_patch('{"a":1}', NULL) IS NULL AS null_patch_gives_null;
SELECT occ_merge_patch(NULL, NULL) IS NULL AS both_null_gives_null;

-- it is IMMUTABLE and PARALLEL SAFE, so usable in an index expression
SELECT provolatile, proparallel
  FROM pg_proc WHERE oid = 'occ_merge_patch(jsonb, jsonb)'::regprocedure;
CREATE TABLE mp_docs (id int PRIMARY KEY, doc jsonb);
CREATE INDEX mp_docs_merged ON mp_docs ((occ_merge_patch(doc, '{"draft":null}')));
INSERT INTO mp_docs VALUES (1, '{"draft":true,"t":1}');
SELECT occ_merge_patch(doc, '{"draft":null}') AS indexed_value FROM mp_docs;
DROP TABLE mp_docs;
