# Physical replication: a streaming standby serves exactly the primary's
# versions, ETags, configuration and secret; every occ write function fails on
# it as a read-only transaction (25006) and changes nothing; after promotion
# the old standby carries on the version/ETag history where the primary left it.
# Row history (occ 1.2) streams with the table: occ_history, occ_row_at and
# occ_diff answer on the standby exactly as on the primary, and after promotion
# the old standby goes on recording it and merges a stale update against it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION occ;
CREATE TABLE docs (id int PRIMARY KEY, title text, body jsonb);
SELECT occ_enable('docs');
INSERT INTO docs SELECT i, 'doc ' || i, jsonb_build_object('i', i)
  FROM generate_series(1, 20) i;
SELECT occ_update('docs', 1, 1, '{"title": "one"}');
CREATE TABLE hdocs (id int PRIMARY KEY, title text, body jsonb);
SELECT occ_enable('hdocs', history => 2);
INSERT INTO hdocs VALUES (1, 'one', '{"a": {"b": {"c": 1, "d": 1}}}'), (2, 'two', NULL);
SELECT occ_update('hdocs', 1, 1, '{"title": "one v2"}');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# Changes after the backup reach the standby through streaming only.
$primary->safe_psql(
	'postgres', q{
SELECT occ_update('docs', 1, 2, '{"body": {"x": 1}}');
SELECT occ_update_if_match('docs', 2, (SELECT etag FROM docs WHERE id = 2),
                           '{"title": "two"}');
SELECT occ_delete('docs', 3, 1);
UPDATE docs SET title = title || '!' WHERE id BETWEEN 4 AND 6;
INSERT INTO docs VALUES (21, 'new', NULL);
CREATE TABLE items (sku text PRIMARY KEY, qty int, rev integer NOT NULL DEFAULT 1);
SELECT occ_enable('items', 'rev', 'tag', 'row', 'next');
INSERT INTO items VALUES ('a', 1), ('b', 2);
UPDATE items SET qty = 5, rev = rev + 1 WHERE sku = 'a' AND rev = 1;
CREATE TABLE notes (id int PRIMARY KEY, a text, b text);
SELECT occ_enable('notes', granularity => 'field');
INSERT INTO notes VALUES (1, 'a', 'b');
SELECT occ_update('notes', 1, 1, '{"a": "a2"}');
SELECT occ_update('notes', 1, 1, '{"b": "b2"}');   -- stale, merged
SET occ.reason = 'streamed';
SELECT occ_update('hdocs', 1, 2, '{"body": {"a": {"b": {"c": 2}}}}');
RESET occ.reason;
SELECT occ_update('hdocs', 1, 3, '{"title": "one v4"}');
SELECT occ_update('hdocs', 1, 4, '{"body": {"a": {"b": {"c": 3}}}}');
DELETE FROM hdocs WHERE id = 2;
INSERT INTO hdocs VALUES (3, 'three', '{}');
CREATE TABLE hitems (sku text PRIMARY KEY, qty int);
SELECT occ_enable('hitems', history => 1);
INSERT INTO hitems VALUES ('a', 1);
UPDATE hitems SET qty = 2;
UPDATE hitems SET qty = 3;
});
$primary->wait_for_catchup($standby);

my $docs_q  = 'SELECT id, title, body, version, etag FROM docs ORDER BY id';
my $items_q = 'SELECT sku, qty, rev, tag FROM items ORDER BY sku';
my $notes_q = 'SELECT id, a, b, version, etag, field_versions FROM notes ORDER BY id';
my $conf_q =
  'SELECT table_name, key_columns, version_column, etag_column, granularity, version_input FROM occ_tables ORDER BY table_name::text';
my $secret_q = q{SELECT encode(secret, 'hex') FROM occ_secret};
my $hist_q = q{
SELECT k.id, h.* FROM (VALUES (1), (3)) k(id), occ_history('hdocs', k.id) h ORDER BY k.id, h.version};
my $row_at_q = q{
SELECT v, occ_row_at('hdocs', 1, v), occ_diff('hdocs', 1, v, 5) FROM generate_series(3, 5) v ORDER BY v};
my $htable_q = q{
SELECT * FROM hdocs_occ_history ORDER BY id, occ_slot;
SELECT * FROM hitems_occ_history ORDER BY sku, occ_slot;
SELECT table_name, history FROM occ_tables ORDER BY table_name::text};

# What the primary keeps (so that the comparisons compare something).
is( $primary->safe_psql(
		'postgres',
		q{SELECT string_agg(version || ':' || coalesce(reason, '-'), ',' ORDER BY version) FROM occ_history('hdocs', 1)}),
	'3:streamed,4:-,5:-',
	'the primary keeps versions 3 to 5 of hdocs 1 (history => 2)');
is( $primary->safe_psql('postgres',
		q{SELECT count(*), count(occ_row) FROM hitems_occ_history}),
	'2|1', 'and one row image of hitems a (history => 1)');

for my $q ($docs_q, $items_q, $notes_q, $conf_q, $secret_q, $hist_q, $row_at_q, $htable_q)
{
	is($standby->safe_psql('postgres', $q),
		$primary->safe_psql('postgres', $q),
		"standby matches primary: $q");
}
is($standby->safe_psql('postgres', 'SELECT version FROM docs WHERE id = 1'),
	'3', 'streamed updates arrived with their versions');
is($standby->safe_psql('postgres', q{SELECT rev FROM items WHERE sku = 'a'}),
	'2', 'ORM-style update streamed with its version');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM hdocs_occ_history WHERE id = 2}),
	'0', 'the history of a row deleted on the primary is gone on the standby');
my $gone = sql_error($standby, 'postgres', q{SELECT occ_row_at('hdocs', 1, 2)});
is($gone->{sqlstate}, 'OC410', 'a version the primary no longer keeps: OC410 on the standby');
is(decode_detail($gone->{detail})->{oldest_kept_version},
	3, 'with the oldest version kept');

# Reads work on the standby, writes fail as read-only and change nothing.
is( $standby->safe_psql(
		'postgres', q{SELECT occ_merge_patch('{"a": 1, "b": 2}', '{"a": null}')}),
	'{"b": 2}',
	'occ_merge_patch works on the standby');

my ($v1, $e1) = split /\|/,
  $primary->safe_psql('postgres', 'SELECT version, etag FROM docs WHERE id = 1');
my %writes = (
	occ_update => qq{SELECT occ_update('docs', 1, $v1, '{"title": "x"}')},
	occ_update_if_match =>
	  qq{SELECT occ_update_if_match('docs', 1, '"$e1"', '{"title": "x"}')},
	occ_update_if_match_star =>
	  qq{SELECT occ_update_if_match('docs', 1, '*', '{"title": "x"}')},
	occ_delete          => qq{SELECT occ_delete('docs', 1, $v1)},
	occ_delete_if_match => qq{SELECT occ_delete_if_match('docs', 1, '$e1')},
	occ_try_update      => qq{SELECT occ_try_update('docs', 1, $v1, '{"title": "x"}')},
	occ_update_many =>
	  qq{SELECT occ_update_many('docs', '[{"id": 1, "version": $v1, "patch": {"title": "x"}}]')},
	occ_update_field => q{SELECT occ_update('notes', 1, 1, '{"a": "x"}')},
	occ_update_stale_merge =>
	  q{SELECT occ_update('hdocs', 1, 3, '{"body": {"a": {"b": {"d": 5}}}}')},
	plain_update        => q{UPDATE docs SET title = 'x' WHERE id = 1},);
for my $w (sort keys %writes)
{
	my $e = sql_error($standby, 'postgres', $writes{$w});
	is($e->{sqlstate}, '25006', "$w on the standby fails with 25006")
	  or diag($e->{stderr});
}

# Reconfiguration is refused too, with 25006 as core's ALTER TABLE.
my %ddl = (
	occ_enable  => q{SELECT occ_enable('items', 'rev', 'tag', 'row', 'expected')},
	occ_enable_history => q{SELECT occ_enable('docs', history => 3)},
	occ_disable => q{SELECT occ_disable('docs')},);
for my $w (sort keys %ddl)
{
	my $e = sql_error($standby, 'postgres', $ddl{$w});
	is($e->{sqlstate}, '25006', "$w on the standby fails with 25006");
}
for my $q ($docs_q, $notes_q, $hist_q, $htable_q)
{
	is($standby->safe_psql('postgres', $q),
		$primary->safe_psql('postgres', $q),
		"nothing changed on the standby: $q");
}
is($standby->safe_psql('postgres', $conf_q),
	$primary->safe_psql('postgres', $conf_q),
	'configuration unchanged on the standby');

# Failover: promote the standby and go on writing with what a client read
# from the old primary.
my $before = $standby->safe_psql('postgres', q{SELECT string_agg(etag, ',') FROM docs});
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby did not leave recovery';

my ($v, $e) = split /\|/, $standby->safe_psql('postgres',
	qq{SELECT r->>'version', r->>'etag' FROM occ_update_if_match('docs', 1, '"$e1"', '{"title": "after"}') r}
);
is($v, $v1 + 1, 'after failover an If-Match read before it succeeds and bumps the version');
isnt($e, $e1, 'and gives a new ETag');
ok(index(",$before,", ",$e,") < 0, 'that no row had before');
is( sql_error($standby, 'postgres',
		qq{SELECT occ_update('docs', 1, $v1, '{"title": "late"}')})->{sqlstate},
	'OC409',
	'the pre-failover version now conflicts');
is( $standby->safe_psql(
		'postgres',
		q{UPDATE items SET qty = 9, rev = 3 WHERE sku = 'a' AND rev = 2 RETURNING rev, tag IS NOT NULL}
	),
	'3|t',
	'ORM-style update with version_input next works after failover');
is( $standby->safe_psql(
		'postgres',
		q{SELECT r->>'version', r->>'a', r->>'b' FROM occ_update('notes', 1, 2, '{"a": "a3"}') r}),
	'4|a3|b2',
	'field granularity carries on after failover (a stale update of an unchanged field merges)');
is( $standby->safe_psql(
		'postgres',
		q{INSERT INTO docs VALUES (22, 'x', NULL) RETURNING version, etag ~ '^[!#-~]{1,64}$'}),
	'1|t',
	'INSERT after failover gets version 1 and an ETag');

# History after failover: a client that read hdocs 1 at version 3 from the old
# primary changes /body/a/b/d; since then the title and /body/a/b/c changed, so
# it merges against the streamed image of version 3, and the promoted server
# records the new version.
is( $standby->safe_psql(
		'postgres', q{
SET occ.reason = 'after failover';
SELECT r->>'version', r->>'title', r->'body'
  FROM occ_update('hdocs', 1, 3, '{"body": {"a": {"b": {"d": 5}}}}') r}),
	'6|one v4|{"a": {"b": {"c": 3, "d": 5}}}',
	'after failover a stale update merges against the streamed history');
is( $standby->safe_psql(
		'postgres',
		q{SELECT string_agg(version::text, ',' ORDER BY version),
                 max(changed_at) FILTER (WHERE version = 6) > max(changed_at) FILTER (WHERE version = 5)
            FROM occ_history('hdocs', 1)}),
	'4,5,6|t',
	'and the promoted server records it, keeping 2 versions before it');
is( $standby->safe_psql('postgres',
		q{SELECT reason FROM occ_history('hdocs', 1) WHERE version = 6}),
	'after failover', 'with its occ.reason');
is(sql_error($standby, 'postgres', q{SELECT occ_update('hdocs', 1, 3, '{"title": "x"}')})->{sqlstate},
	'OC409', 'version 3 is no longer kept: a stale update of it conflicts');

$standby->stop;
done_testing();
