# Logical replication between two databases that both have occ and the table
# enabled: the apply worker runs as session_replication_role = replica, so the
# trigger does not fire and the subscriber keeps the publisher's versions and
# ETags exactly (initial copy, inserts, updates, deletes).  Local writes on the
# subscriber are still versioned by the trigger.  Row history (occ 1.2): with
# the history table in the publication next to its table, the subscriber's
# history is the publisher's, record for record (its own trigger records
# nothing for applied rows, so there are no duplicates), and the history
# functions and a stale merge work from it on the subscriber.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->start;

my $schema = q{
CREATE EXTENSION occ;
CREATE TABLE docs (id int PRIMARY KEY, title text, body jsonb);
SELECT occ_enable('docs');
CREATE TABLE items (sku text PRIMARY KEY, qty int, lock_version integer NOT NULL DEFAULT 0);
SELECT occ_enable('items', 'lock_version', 'tag', 'row', 'next');
CREATE TABLE notes (id int PRIMARY KEY, a text, b text);
SELECT occ_enable('notes', granularity => 'field');
CREATE TABLE hdocs (id int PRIMARY KEY, title text, body jsonb);
SELECT occ_enable('hdocs', history => 3);
};
$pub->safe_psql('postgres', $schema);
$sub->safe_psql('postgres', $schema);
$sub->safe_psql(
	'postgres', q{
CREATE TABLE local_notes (id int PRIMARY KEY, note text);
SELECT occ_enable('local_notes');
});

# Rows with some history before the subscription: the initial copy must keep it.
$pub->safe_psql(
	'postgres', q{
INSERT INTO docs SELECT i, 'doc ' || i, jsonb_build_object('i', i)
  FROM generate_series(1, 10) i;
SELECT occ_update('docs', 1, 1, '{"title": "one"}');
SELECT occ_update('docs', 1, 2, '{"body": {"j": 1}}');
INSERT INTO items VALUES ('a', 1), ('b', 2), ('c', 3);  -- version 0, the DEFAULT
UPDATE items SET qty = 10, lock_version = 1 WHERE sku = 'a' AND lock_version = 0;
INSERT INTO notes VALUES (1, 'a', 'b'), (2, 'a', 'b');
SELECT occ_update('notes', 1, 1, '{"a": "a2"}');
INSERT INTO hdocs VALUES (1, 'one', '{"a": {"b": {"c": 1, "d": 1}}}'), (2, 'two', NULL),
                         (3, 'three', NULL);
SET occ.reason = 'before the subscription';
SELECT occ_update('hdocs', 1, 1, '{"title": "one v2"}');
RESET occ.reason;
SELECT occ_update('hdocs', 2, 1, '{"title": "two v2"}');
CREATE PUBLICATION occ_pub FOR TABLE docs, items, notes, hdocs, hdocs_occ_history;
});

my $pub_connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION occ_sub CONNECTION '$pub_connstr' PUBLICATION occ_pub");
$sub->wait_for_subscription_sync($pub, 'occ_sub');

my $docs_q  = 'SELECT id, title, body, version, etag FROM docs ORDER BY id';
my $items_q = 'SELECT sku, qty, lock_version, tag FROM items ORDER BY sku';
my $notes_q = 'SELECT id, a, b, version, etag, field_versions FROM notes ORDER BY id';
my $hdocs_q = 'SELECT id, title, body, version, etag FROM hdocs ORDER BY id';
my $htable_q = 'SELECT * FROM hdocs_occ_history ORDER BY id, occ_slot';
my $hist_q = q{
SELECT k.id, h.* FROM (SELECT id FROM hdocs WHERE id < 1000) k, occ_history('hdocs', k.id) h
 ORDER BY k.id, h.version};
my $dup_q = q{
SELECT count(*), count(DISTINCT (id, occ_version)), count(occ_row) FROM hdocs_occ_history WHERE id < 1000};

is($sub->safe_psql('postgres', $hdocs_q),
	$pub->safe_psql('postgres', $hdocs_q),
	'initial copy: the table with history identical');
is($sub->safe_psql('postgres', $htable_q),
	$pub->safe_psql('postgres', $htable_q),
	'initial copy: its history table identical, record for record');
is($sub->safe_psql('postgres', $hist_q),
	$pub->safe_psql('postgres', $hist_q),
	'initial copy: occ_history answers the same on the subscriber');
is($sub->safe_psql('postgres', $dup_q), '5|5|2',
	'initial copy: 5 records and 2 row images, no duplicates');

is($sub->safe_psql('postgres', $docs_q),
	$pub->safe_psql('postgres', $docs_q),
	'initial copy: docs identical, versions and ETags included');
is($sub->safe_psql('postgres', $items_q),
	$pub->safe_psql('postgres', $items_q),
	'initial copy: items identical, versions and ETags included');
is($sub->safe_psql('postgres', $notes_q),
	$pub->safe_psql('postgres', $notes_q),
	'initial copy: field-granularity table identical, field_versions included');
is($sub->safe_psql('postgres', 'SELECT version FROM docs WHERE id = 1'),
	'3', 'the copied row kept version 3 (not reset to 1)');
isnt(
	$sub->safe_psql('postgres', q{SELECT encode(secret, 'hex') FROM occ_secret}),
	$pub->safe_psql('postgres', q{SELECT encode(secret, 'hex') FROM occ_secret}),
	'the two databases have different secrets (so a firing trigger would show)');

# Every kind of change, replicated.
my ($e2) = $pub->safe_psql('postgres', 'SELECT etag FROM docs WHERE id = 2');
$pub->safe_psql(
	'postgres', qq{
SELECT occ_update('docs', 1, 3, '{"title": "uno"}');
SELECT occ_update_if_match('docs', 2, '"$e2"', '{"body": {"i": null, "k": 2}}');
SELECT occ_delete('docs', 3, 1);
SELECT occ_delete_if_match('docs', 4, (SELECT etag FROM docs WHERE id = 4));
UPDATE docs SET title = upper(title) WHERE id BETWEEN 5 AND 7;
UPDATE docs SET title = title WHERE id = 8;   -- no change: no bump
DELETE FROM docs WHERE id = 9;
INSERT INTO docs VALUES (11, 'eleven', NULL), (12, 'twelve', '{}');
UPDATE items SET qty = 11, lock_version = 2 WHERE sku = 'a' AND lock_version = 1;
SELECT occ_update('items', 'b', 0, '{"qty": 20}');
DELETE FROM items WHERE sku = 'c';
INSERT INTO items VALUES ('d', 4);
SELECT occ_update('notes', 1, 1, '{"b": "b2"}');   -- stale, merged
SELECT occ_update('notes', 2, 1, '{"a": "x", "b": "y"}');
SET occ.reason = 'replicated';
SELECT occ_update('hdocs', 1, 2, '{"body": {"a": {"b": {"c": 2}}}}');
RESET occ.reason;
SELECT occ_update('hdocs', 1, 3, '{"title": "one v4"}');
SELECT occ_update('hdocs', 1, 4, '{"body": {"a": {"b": {"c": 3}}}}');
UPDATE hdocs SET title = 'one v6' WHERE id = 1;
SELECT occ_delete('hdocs', 2, 2);
UPDATE hdocs SET body = '{"x": 1}' WHERE id = 3;
INSERT INTO hdocs VALUES (4, 'four', NULL);
});
$pub->wait_for_catchup('occ_sub');

is($sub->safe_psql('postgres', $hdocs_q),
	$pub->safe_psql('postgres', $hdocs_q),
	'after changes: the table with history identical');
is($sub->safe_psql('postgres', $htable_q),
	$pub->safe_psql('postgres', $htable_q),
	'after changes: its history table identical, record for record');
is($sub->safe_psql('postgres', $hist_q),
	$pub->safe_psql('postgres', $hist_q),
	'after changes: occ_history answers the same on the subscriber');
is( $sub->safe_psql(
		'postgres', q{
SELECT string_agg(id || ':' || version || ':' || coalesce(reason, '-'), ',' ORDER BY id, version)
  FROM hdocs_occ_history AS h(id, slot, version, etag, at, who, reason)}),
	'1:3:replicated,1:4:-,1:5:-,1:6:-,3:1:-,3:2:-,4:1:-',
	'the subscriber holds exactly the publisher\'s records: hdocs 1 versions 3 to 6, none of deleted hdocs 2');
is($sub->safe_psql('postgres', $dup_q), '7|7|4',
	'after changes: 7 records and 4 row images, no duplicates');
is( $sub->safe_psql('postgres',
		q{SELECT occ_row_at('hdocs', 1, 4)->>'title', occ_diff('hdocs', 1, 3, 6) - 'etag'}),
	'one v4|{"body": {"a": {"b": {"c": 3}}}, "title": "one v6", "version": 6}',
	'occ_row_at and occ_diff read the replicated history on the subscriber');

is($sub->safe_psql('postgres', $docs_q),
	$pub->safe_psql('postgres', $docs_q),
	'after changes: docs identical, versions and ETags included');
is($sub->safe_psql('postgres', $items_q),
	$pub->safe_psql('postgres', $items_q),
	'after changes: items identical, versions and ETags included');
is($sub->safe_psql('postgres', $notes_q),
	$pub->safe_psql('postgres', $notes_q),
	'after changes: field-granularity table identical, field_versions included');
is( $sub->safe_psql(
		'postgres',
		q{SELECT string_agg(id || ':' || version, ',' ORDER BY id) FROM docs WHERE id IN (1, 2, 5, 8, 11)}
	),
	'1:4,2:2,5:2,8:1,11:1',
	'replicated versions are the publisher\'s');
is( $sub->safe_psql('postgres',
		q{SELECT lock_version FROM items WHERE sku = 'a'}),
	'2', 'ORM-style update with version_input next replicated as is');

# A client that read from the subscriber can write to the publisher with it.
my ($sv, $se) = split /\|/,
  $sub->safe_psql('postgres', 'SELECT version, etag FROM docs WHERE id = 5');
is( $pub->safe_psql(
		'postgres',
		qq{SELECT occ_update_if_match('docs', 5, '"$se"', '{"title": "via replica"}')->>'version'}
	),
	$sv + 1,
	'an ETag read on the subscriber is accepted by the publisher');
is( $pub->safe_psql(
		'postgres',
		qq{SELECT occ_update('docs', 6, (SELECT version FROM docs WHERE id = 6), '{"title": "v"}')->>'version'}
	),
	'3',
	'a version read on the subscriber is accepted by the publisher');
$pub->wait_for_catchup('occ_sub');
is($sub->safe_psql('postgres', $docs_q),
	$pub->safe_psql('postgres', $docs_q),
	'and those writes come back identical');

# Local writes on the subscriber are versioned by the trigger: a table that is
# not replicated, and rows of a replicated table in a key range the publisher
# does not use.
$sub->safe_psql(
	'postgres', q{
INSERT INTO local_notes VALUES (1, 'a');
INSERT INTO docs VALUES (1001, 'local', NULL);
});
is( $sub->safe_psql(
		'postgres',
		q{SELECT version, etag IS NOT NULL FROM local_notes WHERE id = 1
          UNION ALL SELECT version, etag IS NOT NULL FROM docs WHERE id = 1001}),
	"1|t\n1|t",
	'local INSERTs on the subscriber get version 1 and an ETag');
my ($le) = $sub->safe_psql('postgres', 'SELECT etag FROM local_notes WHERE id = 1');
is( $sub->safe_psql(
		'postgres',
		q{SELECT occ_update('local_notes', 1, 1, '{"note": "b"}')->>'version';
          UPDATE docs SET title = 'still local' WHERE id = 1001 RETURNING version}),
	"2\n2",
	'local updates on the subscriber bump the version');
isnt($sub->safe_psql('postgres', 'SELECT etag FROM local_notes WHERE id = 1'),
	$le, 'and change the ETag');
is( sql_error($sub, 'postgres',
		q{SELECT occ_update('docs', 1001, 1, '{"title": "stale"}')})->{sqlstate},
	'OC409',
	'a stale version on a local row of the subscriber conflicts');
is( $sub->safe_psql(
		'postgres', q{
INSERT INTO hdocs VALUES (1001, 'local', '{"a": 1}');
UPDATE hdocs SET title = 'local v2' WHERE id = 1001;
SELECT string_agg(version::text, ',' ORDER BY version) FROM occ_history('hdocs', 1001)}),
	'1,2',
	'local writes on the subscriber record history');

# With the subscription disabled, a local write to a replicated row is
# versioned locally like any other write.
$sub->safe_psql('postgres', 'ALTER SUBSCRIPTION occ_sub DISABLE');
$sub->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'occ_sub' AND pid IS NOT NULL})
  or die 'apply worker did not stop';
my ($v7, $e7) = split /\|/,
  $sub->safe_psql('postgres', 'SELECT version, etag FROM docs WHERE id = 7');
my ($nv7, $ne7) = split /\|/, $sub->safe_psql('postgres',
	qq{SELECT r->>'version', r->>'etag' FROM occ_update('docs', 7, $v7, '{"title": "sub"}') r});
is($nv7, $v7 + 1, 'with the subscription disabled, occ_update bumps a replicated row');
isnt($ne7, $e7, 'and gives it a new ETag');
is( $sub->safe_psql(
		'postgres', q{UPDATE items SET qty = 0, lock_version = 2 WHERE sku = 'b' AND lock_version = 1 RETURNING lock_version}),
	'2',
	'ORM-style update with version_input next on a replicated row works locally');
is( sql_error($sub, 'postgres',
		q{UPDATE items SET qty = 0 WHERE sku = 'd'})->{sqlstate},
	'OC428',
	'and the subscriber enforces version_input next on local writes');

# Field granularity on the subscriber works from the replicated field_versions:
# notes 1 has a changed at 2 and b at 3; a stale update of a (read at 2) merges,
# one of b (read at 2) conflicts on b.
is( $sub->safe_psql(
		'postgres',
		q{SELECT r->>'version', r->>'a', r->>'b' FROM occ_update('notes', 1, 2, '{"a": "sub"}') r}),
	'4|sub|b2',
	'a local stale update of an unchanged field merges on the subscriber');
my $fe = sql_error($sub, 'postgres', q{SELECT occ_update('notes', 1, 2, '{"b": "sub"}')});
is($fe->{sqlstate}, 'OC409', 'a local stale update of a changed field conflicts');
is_deeply(decode_detail($fe->{detail})->{conflicting_fields},
	['b'], 'and names the field');

# A stale update on the subscriber merges against the replicated history: a
# client read hdocs 1 at version 4; /body/a/b/c and the title changed since.
is( $sub->safe_psql(
		'postgres',
		q{SELECT r->>'version', r->'body' FROM occ_update('hdocs', 1, 4, '{"body": {"a": {"b": {"d": 7}}}}') r}),
	'7|{"a": {"b": {"c": 3, "d": 7}}}',
	'a local stale update merges three levels deep against the replicated history');
my $he = sql_error($sub, 'postgres', q{SELECT occ_update('hdocs', 1, 4, '{"title": "x"}')});
is($he->{sqlstate}, 'OC409', 'a local stale update of a path changed since conflicts');
is_deeply(decode_detail($he->{detail})->{conflicting_paths},
	['/title'], 'at that path');

$sub->stop;
$pub->stop;
done_testing();
