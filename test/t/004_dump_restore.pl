# pg_dump / pg_restore (custom format) into a fresh database on the same node
# and on another node: rows with their versions and ETags, the occ_tables
# configuration and the per-database secret come back identical, so ETags that
# clients hold from before the dump still match; the trigger is created after
# the data, so loading does not reset versions; the restored tables keep
# working.  occ lives in its own schema, off the search_path.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $src = PostgreSQL::Test::Cluster->new('source');
$src->init;
$src->start;
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init;
$other->start;

$src->safe_psql('postgres', 'CREATE DATABASE app');
$src->safe_psql(
	'app', q{
CREATE SCHEMA occx;
CREATE EXTENSION occ SCHEMA occx;

-- defaults
CREATE TABLE docs (id int PRIMARY KEY, title text, body jsonb);
SELECT occx.occ_enable('docs');
INSERT INTO docs SELECT i, 'doc ' || i, jsonb_build_object('i', i)
  FROM generate_series(1, 50) i;
SELECT occx.occ_update('docs', i, 1, jsonb_build_object('title', 'v2 ' || i))
  FROM generate_series(1, 50, 2) i;
SELECT occx.occ_update('docs', i, 2, '{"body": {"again": true}}')
  FROM generate_series(1, 50, 4) i;

-- an ORM's integer lock column, custom ETag column, version_input next
CREATE TABLE items (sku text PRIMARY KEY, qty int, lock_version integer NOT NULL DEFAULT 1);
SELECT occx.occ_enable('items', 'lock_version', 'tag', 'row', 'next');
INSERT INTO items VALUES ('a', 1), ('b', 2), ('c', 3);
UPDATE items SET qty = 10, lock_version = 2 WHERE sku = 'a' AND lock_version = 1;
UPDATE items SET qty = 11, lock_version = 3 WHERE sku = 'a' AND lock_version = 2;

-- composite key, custom names, version_input expected
CREATE TABLE lines (order_id int, line int, qty int, rev bigint NOT NULL DEFAULT 1,
                    PRIMARY KEY (order_id, line));
SELECT occx.occ_enable('lines', 'rev', 'rev_tag', 'row', 'expected');
INSERT INTO lines VALUES (1, 1, 5), (1, 2, 6), (2, 1, 7);
UPDATE lines SET qty = 50, rev = 1 WHERE order_id = 1 AND line = 1;

-- a partitioned table
CREATE TABLE events (region text, id int, payload text, PRIMARY KEY (region, id))
  PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT occx.occ_enable('events');
INSERT INTO events VALUES ('eu', 1, 'x'), ('us', 1, 'y');
UPDATE events SET payload = 'z' WHERE region = 'eu';

-- field granularity: per-field versions in field_versions
CREATE TABLE notes (id int PRIMARY KEY, a text, b text);
SELECT occx.occ_enable('notes', granularity => 'field');
INSERT INTO notes VALUES (1, 'a', 'b');
SELECT occx.occ_update('notes', 1, 1, '{"a": "a2"}');
SELECT occx.occ_update('notes', 1, 1, '{"b": "b2"}');   -- stale, merged

-- enabled, then disabled: columns stay, no trigger, not in occ_tables
CREATE TABLE retired (id int PRIMARY KEY, v text);
SELECT occx.occ_enable('retired');
INSERT INTO retired VALUES (1, 'a');
UPDATE retired SET v = 'b';
SELECT occx.occ_disable('retired');
});

my %tables = (
	docs    => 'SELECT id, title, body, version, etag FROM docs ORDER BY id',
	items   => 'SELECT sku, qty, lock_version, tag FROM items ORDER BY sku',
	lines   => 'SELECT order_id, line, qty, rev, rev_tag FROM lines ORDER BY 1, 2',
	events  => 'SELECT tableoid::regclass, region, id, payload, version, etag FROM events ORDER BY 2, 3',
	retired => 'SELECT id, v, version, etag FROM retired ORDER BY id',
	notes   => 'SELECT id, a, b, version, etag, field_versions FROM notes ORDER BY id',);
my $conf_q =
  'SELECT table_name, key_columns, version_column, etag_column, granularity, version_input FROM occx.occ_tables ORDER BY table_name::text';
my $secret_q = q{SELECT encode(secret, 'hex') FROM occx.occ_secret};
my $trig_q   = q{
SELECT tgrelid::regclass, tgname, pg_get_triggerdef(oid)
  FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgrelid::regclass::text, tgname};

# What the source looks like, and what a client holds from before the dump.
my %before = map { $_ => $src->safe_psql('app', $tables{$_}) } keys %tables;
my $conf_before   = $src->safe_psql('app', $conf_q);
my $secret_before = $src->safe_psql('app', $secret_q);
my $trig_before   = $src->safe_psql('app', $trig_q);
is( $src->safe_psql('app', 'SELECT count(*) FROM docs WHERE version > 1'),
	'25', 'the source has rows beyond version 1');
my ($v9, $e9) = split /\|/,
  $src->safe_psql('app', 'SELECT version, etag FROM docs WHERE id = 9');
is($v9, '3', 'docs 9 is at version 3 before the dump');

my $dump = $src->basedir . '/app.dump';
$src->command_ok([ 'pg_dump', '-Fc', '-f', $dump, 'app' ], 'pg_dump -Fc');

my @targets = (
	[ $src,   'same node',    [] ],
	[ $other, 'another node', [ '-j', '2' ] ],);
for my $t (@targets)
{
	my ($node, $where, $opts) = @$t;

	$node->safe_psql('postgres', 'CREATE DATABASE restored');
	$node->command_ok(
		[ 'pg_restore', '--exit-on-error', @$opts, '-d', 'restored', $dump ],
		"pg_restore on the $where");

	for my $tbl (sort keys %tables)
	{
		is($node->safe_psql('restored', $tables{$tbl}),
			$before{$tbl}, "$where: $tbl rows, versions and ETags identical");
	}
	is($node->safe_psql('restored', $conf_q),
		$conf_before, "$where: occ_tables configuration identical");
	is($node->safe_psql('restored', $secret_q),
		$secret_before, "$where: occ_secret identical (one row)");
	is($node->safe_psql('restored', $trig_q),
		$trig_before, "$where: triggers identical");

	# A client's pre-dump ETag still matches, once.
	my ($nv, $ne) = split /\|/, $node->safe_psql('restored',
		qq{SELECT r->>'version', r->>'etag' FROM occx.occ_update_if_match('docs', 9, '"$e9"', '{"title": "restored"}') r}
	);
	is($nv, $v9 + 1, "$where: occ_update_if_match with a pre-dump ETag succeeds");
	isnt($ne, $e9, "$where: and changes the ETag");
	is( sql_error($node, 'restored',
			qq{SELECT occx.occ_update_if_match('docs', 9, '$e9', '{"title": "again"}')})->{sqlstate},
		'OC412',
		"$where: the same pre-dump ETag is now stale (OC412)");
	is( sql_error($node, 'restored',
			q{SELECT occx.occ_update('docs', 1, 1, '{"title": "stale"}')})->{sqlstate},
		'OC409',
		"$where: a pre-dump stale version conflicts (OC409)");

	# New writes are versioned by the restored trigger.
	is( $node->safe_psql(
			'restored',
			q{INSERT INTO docs VALUES (100, 'new', NULL) RETURNING version, etag ~ '^[!#-~]{1,64}$'}),
		'1|t',
		"$where: INSERT after restore gets version 1 and an ETag");
	my ($ie) = $node->safe_psql('restored', 'SELECT etag FROM docs WHERE id = 100');
	is( $node->safe_psql(
			'restored',
			q{UPDATE docs SET title = 'newer' WHERE id = 100 RETURNING version, etag IS NOT NULL}),
		'2|t',
		"$where: UPDATE after restore bumps the version");
	isnt($node->safe_psql('restored', 'SELECT etag FROM docs WHERE id = 100'),
		$ie, "$where: and changes the ETag");
	is( $node->safe_psql(
			'restored',
			q{UPDATE items SET qty = 12, lock_version = 4 WHERE sku = 'a' AND lock_version = 3 RETURNING lock_version}),
		'4',
		"$where: version_input next still applies after restore");
	is(sql_error($node, 'restored', q{UPDATE items SET qty = 0 WHERE sku = 'b'})->{sqlstate},
		'OC428', "$where: and still refuses an UPDATE without the version");
	is( sql_error($node, 'restored',
			q{UPDATE lines SET qty = 0, rev = 7 WHERE order_id = 2 AND line = 1})->{sqlstate},
		'OC409',
		"$where: version_input expected still applies after restore");
	is( $node->safe_psql(
			'restored',
			q{SELECT occx.occ_update('lines', '{"order_id": 1, "line": 2}', 1, '{"qty": 60}')->>'rev'}),
		'2',
		"$where: occ_update on a composite key after restore");
	is( $node->safe_psql(
			'restored',
			q{UPDATE events SET payload = 'w' WHERE region = 'us' RETURNING version}),
		'2',
		"$where: partitions are still versioned after restore");
	is( $node->safe_psql(
			'restored',
			q{SELECT r->>'version', r->>'a' FROM occx.occ_update('notes', 1, 2, '{"a": "a3"}') r}),
		'4|a3',
		"$where: field granularity after restore: a stale update of an unchanged field merges");
	is( sql_error($node, 'restored',
			q{SELECT occx.occ_update('notes', 1, 2, '{"b": "b3"}')})->{sqlstate},
		'OC409',
		"$where: field granularity after restore: a stale update of a changed field conflicts");
	is( $node->safe_psql(
			'restored',
			q{UPDATE retired SET v = 'c' RETURNING version}),
		'2',
		"$where: a disabled table stays disabled after restore");
}

# A database owner who is not a superuser cannot read occ_secret, so their
# plain pg_dump fails; leaving the secret's data out works, and the restored
# database keeps every version and ETag (its fresh secret only keys the ETags
# made from then on).
$src->safe_psql(
	'postgres', q{
CREATE ROLE app_owner LOGIN;
CREATE DATABASE owned OWNER app_owner;
CREATE DATABASE owned_restored OWNER app_owner;
});
$src->safe_psql('owned', 'CREATE EXTENSION occ');
$src->safe_psql(
	'owned', q{
SET ROLE app_owner;
CREATE TABLE docs (id int PRIMARY KEY, title text);
SELECT occ_enable('docs');
INSERT INTO docs VALUES (1, 'a'), (2, 'b');
SELECT occ_update('docs', 1, 1, '{"title": "a2"}');
});
my $owned_dump = $src->basedir . '/owned.dump';
$src->command_fails_like(
	[ 'pg_dump', '-U', 'app_owner', '-Fc', '-f', $owned_dump, 'owned' ],
	qr/permission denied for table occ_secret/,
	'a non-superuser owner\'s pg_dump cannot read occ_secret');
$src->command_ok(
	[
		'pg_dump', '-U', 'app_owner', '--exclude-table-data=occ_secret',
		'-Fc', '-f', $owned_dump, 'owned'
	],
	'pg_dump --exclude-table-data=occ_secret as the owner');
$src->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'owned_restored', $owned_dump ],
	'pg_restore of that dump');
my $owned_q = 'SELECT id, title, version, etag FROM docs ORDER BY id';
is($src->safe_psql('owned_restored', $owned_q),
	$src->safe_psql('owned', $owned_q),
	'without the secret: versions and ETags still restored identical');
isnt(
	$src->safe_psql('owned_restored', q{SELECT encode(secret, 'hex') FROM occ_secret}),
	$src->safe_psql('owned', q{SELECT encode(secret, 'hex') FROM occ_secret}),
	'without the secret: the restored database has a secret of its own');
my ($oe) = $src->safe_psql('owned', 'SELECT etag FROM docs WHERE id = 1');
is( $src->safe_psql(
		'owned_restored',
		qq{SET ROLE app_owner; SELECT occ_update_if_match('docs', 1, '"$oe"', '{"title": "a3"}')->>'version'}),
	'3',
	'without the secret: a pre-dump ETag still matches');

$src->stop;
$other->stop;
done_testing();
