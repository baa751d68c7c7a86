# pg_upgrade from an older PostgreSQL (OCC_UPGRADE_FROM, e.g. /usr/lib/postgresql/15,
# with occ installed there) to the PostgreSQL running this test, with occ preloaded on
# both: every version, ETag, field_versions and the secret survive, the occ_tables
# configuration is unchanged, an ETag a client read before the upgrade still passes
# occ_update_if_match after it, and a stale one still gets OC412.  Row history
# (occ 1.2) survives too: the history table, what occ_history and occ_row_at
# answer, the trigger's recording and a stale merge against a version kept
# before the upgrade.  scripts/test.sh sets OCC_UPGRADE_FROM when it runs 15
# and a newer version in one run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $old_install = $ENV{OCC_UPGRADE_FROM};
plan skip_all => 'OCC_UPGRADE_FROM names no older PostgreSQL with occ installed'
  unless $old_install && -x "$old_install/bin/pg_ctl" && -f "$old_install/lib/occ.so";

# Both clusters alike except for the version: C locale, UTF8, no data checksums
# (initdb turns them on by default from 18; pg_upgrade needs both sides equal).
my @initdb = ('--locale=C', '--encoding=UTF8');
my $old = PostgreSQL::Test::Cluster->new('old', install_path => $old_install);
$old->init(extra => [@initdb]);
$old->append_conf('postgresql.conf', "shared_preload_libraries = 'occ'");
$old->start;

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init(extra => [ @initdb, $new->pg_version >= 18 ? ('--no-data-checksums') : () ]);
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'occ'");

ok($old->pg_version < $new->pg_version,
	"upgrading from PostgreSQL " . $old->pg_version . " to " . $new->pg_version);

$old->safe_psql('postgres', 'CREATE DATABASE app');
$old->safe_psql(
	'app', q{
CREATE SCHEMA occx;
CREATE EXTENSION occ SCHEMA occx;
CREATE SCHEMA shop;

-- row granularity, in a schema of its own
CREATE TABLE shop.docs (id int PRIMARY KEY, title text, body jsonb);
SELECT occx.occ_enable('shop.docs');
INSERT INTO shop.docs SELECT i, 'doc ' || i, jsonb_build_object('i', i)
  FROM generate_series(1, 40) i;
SELECT occx.occ_update('shop.docs', i, 1, jsonb_build_object('title', 'v2 ' || i))
  FROM generate_series(1, 40, 2) i;

-- an ORM's integer lock column, version_input next
CREATE TABLE shop.items (sku text PRIMARY KEY, qty int, lock_version integer NOT NULL DEFAULT 1);
SELECT occx.occ_enable('shop.items', 'lock_version', 'tag', 'row', 'next');
INSERT INTO shop.items VALUES ('a', 1), ('b', 2);
UPDATE shop.items SET qty = 10, lock_version = 2 WHERE sku = 'a' AND lock_version = 1;

-- a partitioned table
CREATE TABLE events (region text, id int, payload text, PRIMARY KEY (region, id))
  PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT occx.occ_enable('events');
INSERT INTO events VALUES ('eu', 1, 'x'), ('us', 1, 'y');
UPDATE events SET payload = 'z' WHERE region = 'eu';

-- field granularity: per-field versions, with a stale update merged
CREATE TABLE notes (id int PRIMARY KEY, a text, b text, doc jsonb);
SELECT occx.occ_enable('notes', granularity => 'field');
INSERT INTO notes VALUES (1, 'a', 'b', '{"x": 1, "y": 2}');
SELECT occx.occ_update('notes', 1, 1, '{"a": "a2"}');
SELECT occx.occ_update('notes', 1, 1, '{"b": "b2", "doc": {"y": 3}}');

-- row history: hdocs 1 at version 4, versions 2 to 4 kept
CREATE TABLE shop.hdocs (id int PRIMARY KEY, title text, body jsonb);
SELECT occx.occ_enable('shop.hdocs', history => 2);
INSERT INTO shop.hdocs VALUES (1, 'one', '{"a": {"b": {"c": 1, "d": 1}}}'), (2, 'two', NULL);
SELECT occx.occ_update('shop.hdocs', 1, 1, '{"title": "one v2"}');
SET occ.reason = 'before the upgrade';
SELECT occx.occ_update('shop.hdocs', 1, 2, '{"body": {"a": {"b": {"c": 2}}}}');
RESET occ.reason;
SELECT occx.occ_update('shop.hdocs', 1, 3, '{"title": "one v4"}');
});

# What the README tells users to run in each database before pg_upgrade from
# Debian's 15.20 (see below).
my $clear_attver = q{
UPDATE pg_catalog.pg_attribute
   SET attoptions = (SELECT pg_catalog.array_agg(o) FROM pg_catalog.unnest(attoptions) o
                      WHERE o NOT LIKE 'pg\_attver=%')
 WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg\_attver=%'};

my %tables = (
	docs   => 'SELECT id, title, body, version, etag FROM shop.docs ORDER BY id',
	items  => 'SELECT sku, qty, lock_version, tag FROM shop.items ORDER BY sku',
	events => 'SELECT tableoid::regclass, region, id, payload, version, etag FROM events ORDER BY 2, 3',
	notes  => 'SELECT id, a, b, doc, version, etag, field_versions FROM notes ORDER BY id',);
my $conf_q =
  'SELECT table_name, key_columns, version_column, etag_column, granularity, version_input FROM occx.occ_tables ORDER BY table_name::text';
my $secret_q = q{SELECT encode(secret, 'hex') FROM occx.occ_secret};
my %hist = (
	occ_history => q{
SELECT k.id, h.* FROM (VALUES (1), (2)) k(id), occx.occ_history('shop.hdocs', k.id) h
 ORDER BY k.id, h.version},
	occ_row_at => q{
SELECT v, occx.occ_row_at('shop.hdocs', 1, v), occx.occ_diff('shop.hdocs', 1, 2, v)
  FROM generate_series(2, 4) v ORDER BY v},
	table => q{SELECT * FROM shop.hdocs_occ_history ORDER BY id, occ_slot},
	acl   => q{
SELECT relowner::regrole, has_table_privilege('public', oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
  FROM pg_class WHERE oid = 'shop.hdocs_occ_history'::regclass},
	config => q{SELECT table_name, history FROM occx.occ_tables ORDER BY table_name::text},);
my %hist_before = map { $_ => $old->safe_psql('app', $hist{$_}) } keys %hist;
is( $old->safe_psql(
		'app',
		q{SELECT string_agg(version || ':' || coalesce(reason, '-'), ',' ORDER BY version) FROM occx.occ_history('shop.hdocs', 1)}),
	'2:-,3:before the upgrade,4:-',
	'the old cluster keeps versions 2 to 4 of hdocs 1');

my %before = map { $_ => $old->safe_psql('app', $tables{$_}) } keys %tables;
my $conf_before   = $old->safe_psql('app', $conf_q);
my $secret_before = $old->safe_psql('app', $secret_q);
like($secret_before, qr/^[0-9a-f]{64,}$/, 'the old cluster has a secret');
like($before{notes}, qr/"m": \{"doc": \{"y": 3\}\}/, 'field_versions track members before the upgrade');

# What clients hold: the current ETag of docs 3 (version 2), and a stale one of
# docs 5 (read at version 1, then the row moved on).
my $etag3 = $old->safe_psql('app', q{SELECT etag FROM shop.docs WHERE id = 3});
my $stale5 = $old->safe_psql('app', q{SELECT etag FROM shop.docs WHERE id = 5});
$old->safe_psql('app', q{SELECT occx.occ_update('shop.docs', 5, 2, '{"title": "v3"}')});
$before{docs} = $old->safe_psql('app', $tables{docs});

# Debian's PostgreSQL 15.20 tags every user column with an attribute option
# pg_attver that upstream 17 and 18 do not know, so pg_upgrade fails on any table
# (occ's or not) until it is cleared: the README's upgrade steps do the same.
my $attver = $old->safe_psql('app',
	q{SELECT count(*) FROM pg_attribute WHERE attoptions::text LIKE '%pg_attver=%'});
note "columns tagged with pg_attver: $attver";
$old->safe_psql('app', $clear_attver);
is($old->safe_psql('app',
		q{SELECT count(*) FROM pg_attribute WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver=%'}),
	'0', 'no column of the old cluster carries pg_attver');
$old->stop;

# pg_upgrade writes its logs under the new data directory (shown if it fails).
$new->command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
		'-s', $new->host, '-p', $old->port, '-P', $new->port,
		'--copy'
	],
	'pg_upgrade succeeds')
  or diag(join "\n", map { "--- $_\n" . slurp_file($_) }
	  glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log'));
$new->start;

for my $tbl (sort keys %tables)
{
	is($new->safe_psql('app', $tables{$tbl}), $before{$tbl},
		"$tbl: rows, versions, ETags (and field_versions) survive pg_upgrade");
}
is($new->safe_psql('app', $conf_q), $conf_before, 'occ_tables is unchanged');
is($new->safe_psql('app', $secret_q), $secret_before, 'the secret is unchanged');

# The ETag read before the upgrade still matches; the stale one gets OC412.
like(
	$new->safe_psql('app',
		qq{SELECT occx.occ_update_if_match('shop.docs', 3, '"$etag3"', '{"title": "after"}')}),
	qr/"title": "after"/,
	'an ETag read before the upgrade passes If-Match after it');
my $e = sql_error($new, 'app',
	qq{SELECT occx.occ_update_if_match('shop.docs', 5, '"$stale5"', '{"title": "lost"}')});
is($e->{sqlstate}, 'OC412', 'a stale ETag from before the upgrade gets OC412');
is($new->safe_psql('app', q{SELECT title, version FROM shop.docs WHERE id = 5}),
	'v3|3', 'and writes nothing');

# The trigger keeps working on the new server: versions move on, ETags change,
# field granularity still merges a stale update of another field.
my $etag7 = $new->safe_psql('app', q{SELECT etag FROM shop.docs WHERE id = 7});
is($new->safe_psql('app', q{UPDATE shop.docs SET title = 'plain' WHERE id = 7 RETURNING version}),
	'3', 'a plain UPDATE bumps the version after the upgrade');
isnt($new->safe_psql('app', q{SELECT etag FROM shop.docs WHERE id = 7}),
	$etag7, 'and draws a new ETag');
like(
	$new->safe_psql('app', q{SELECT occx.occ_update('notes', 1, 2, '{"a": "a3"}')}),
	qr/"a": "a3"/,
	'field granularity merges a stale update of another field after the upgrade');
is($new->safe_psql('app', q{SELECT count(*) FROM events WHERE version = 1 AND etag IS NOT NULL}),
	'1', 'partitions keep their versions and ETags');
my $ev = sql_error($new, 'app', q{UPDATE shop.items SET qty = 0 WHERE sku = 'a'});
is($ev->{sqlstate}, 'OC428', "version_input 'next' still demands the next version");

# Row history.
for my $h (sort keys %hist)
{
	is($new->safe_psql('app', $hist{$h}), $hist_before{$h},
		"history survives pg_upgrade ($h)");
}
# A client read hdocs 1 at version 2 before the upgrade; /body/a/b/c and the
# title changed since, /body/a/b/d did not.
is( $new->safe_psql(
		'app', q{
SET occ.reason = 'after the upgrade';
SELECT r->>'version', r->'body' FROM occx.occ_update('shop.hdocs', 1, 2, '{"body": {"a": {"b": {"d": 5}}}}') r}),
	'5|{"a": {"b": {"c": 2, "d": 5}}}',
	'a stale update merges three levels deep against a version kept before the upgrade');
is( $new->safe_psql(
		'app',
		q{SELECT string_agg(version || ':' || coalesce(reason, '-'), ',' ORDER BY version) FROM occx.occ_history('shop.hdocs', 1)}),
	'3:before the upgrade,4:-,5:after the upgrade',
	'the trigger records history on the new server, keeping 2 versions before the current');
$new->safe_psql('app', q{DELETE FROM shop.hdocs WHERE id = 2});
is($new->safe_psql('app', q{SELECT count(*) FROM shop.hdocs_occ_history WHERE id = 2}),
	'0', 'deleting a row deletes its history on the new server');
$new->safe_psql('app', q{DROP TABLE shop.hdocs});
is($new->safe_psql('app', q{SELECT to_regclass('shop.hdocs_occ_history') IS NULL}),
	't', 'DROP TABLE drops the history table on the new server');

done_testing();
