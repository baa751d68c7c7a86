# pg_dump / pg_restore (custom format) into a fresh database on the same node
# and on another node: rows with their versions and ETags, the occ_tables
# configuration and the per-database secret come back identical, so ETags that
# clients hold from before the dump still match; the trigger is created after
# the data, so loading does not reset versions; the restored tables keep
# working.  occ lives in its own schema, off the search_path.  Row history
# (occ 1.2) comes along: the history table's rows, owner and privileges, so
# occ_history, occ_row_at and occ_diff answer the same, the restored trigger
# keeps recording (and deleting) history, and a stale occ_update still merges
# against a version kept before the dump.  Custom format (pg_restore, on the
# same node and, in parallel, on another) and plain format (psql).
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

-- history: the current version and the 3 before it of each row.  hdocs 1
-- goes to version 6 (versions 3 to 6 kept), with an occ.reason on version 2
-- (no longer kept) and version 5; hdocs 2 is at version 2, hdocs 3 was deleted.
CREATE TABLE hdocs (id int PRIMARY KEY, title text, body jsonb);
SELECT occx.occ_enable('hdocs', history => 3);
INSERT INTO hdocs VALUES (1, 'one', '{"a": {"b": {"c": 1, "d": 1}}, "n": 0}'),
                         (2, 'two', '{}'), (3, 'three', NULL);
SET occ.reason = 'import';
SELECT occx.occ_update('hdocs', 1, 1, '{"title": "one v2"}');
RESET occ.reason;
SELECT occx.occ_update('hdocs', 1, 2, '{"body": {"n": 1}}');
SELECT occx.occ_update('hdocs', 1, 3, '{"body": {"a": {"b": {"c": 2}}}}');
SET occ.reason = 'rename';
SELECT occx.occ_update('hdocs', 1, 4, '{"title": "one v5"}');
RESET occ.reason;
SELECT occx.occ_update('hdocs', 1, 5, '{"body": {"a": {"b": {"c": 3}}}}');
UPDATE hdocs SET title = 'two v2' WHERE id = 2;
DELETE FROM hdocs WHERE id = 3;

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

# History as the functions show it (every kept version of every row), the
# history table itself (superuser), and who may read it.
my %hist = (
	occ_history => q{
SELECT k.id, h.* FROM (VALUES (1), (2)) k(id), occx.occ_history('hdocs', k.id) h
 ORDER BY k.id, h.version},
	occ_row_at => q{
SELECT v, occx.occ_row_at('hdocs', 1, v) FROM generate_series(3, 6) v ORDER BY v},
	occ_diff => q{
SELECT occx.occ_diff('hdocs', 1, 3, 6), occx.occ_diff('hdocs', 1, 5, 4),
       occx.occ_diff('hdocs', 2, 1, 2)},
	table => q{SELECT * FROM hdocs_occ_history ORDER BY id, occ_slot},
	acl => q{
SELECT c.relname, c.relowner::regrole, coalesce(c.relacl, acldefault('r', c.relowner)),
       has_table_privilege('public', c.oid, 'SELECT'), c.relkind
  FROM pg_class c WHERE c.relname = 'hdocs_occ_history'},
	config => q{SELECT table_name, history FROM occx.occ_tables ORDER BY table_name::text},);

# What the source looks like, and what a client holds from before the dump.
my %before = map { $_ => $src->safe_psql('app', $tables{$_}) } keys %tables;
my $conf_before   = $src->safe_psql('app', $conf_q);
my $secret_before = $src->safe_psql('app', $secret_q);
my $trig_before   = $src->safe_psql('app', $trig_q);
my %hist_before = map { $_ => $src->safe_psql('app', $hist{$_}) } keys %hist;
my $depend_q = q{
SELECT count(*) FROM pg_depend
 WHERE classid = 'pg_class'::regclass AND objid = 'hdocs_occ_history'::regclass
   AND refclassid = 'pg_class'::regclass AND refobjid = 'hdocs'::regclass};

# The history the source keeps, so that the comparisons below compare something.
is( $src->safe_psql(
		'app',
		q{SELECT string_agg(version || ':' || coalesce(reason, '-') || ':' || (changes IS NULL),
                            ',' ORDER BY version)
            FROM occx.occ_history('hdocs', 1)}),
	'3:-:true,4:-:false,5:rename:false,6:-:false',
	'the source keeps versions 3 to 6 of hdocs 1 (the oldest without changes), with their reasons');
is( $src->safe_psql('app', q{SELECT count(*) FROM hdocs_occ_history WHERE id = 3}),
	'0', 'the source kept no history of the deleted hdocs 3');
is($src->safe_psql('app', $depend_q), '1', 'the history table depends on its table in the source');
is( $src->safe_psql('app', 'SELECT count(*) FROM docs WHERE version > 1'),
	'25', 'the source has rows beyond version 1');
my ($v9, $e9) = split /\|/,
  $src->safe_psql('app', 'SELECT version, etag FROM docs WHERE id = 9');
is($v9, '3', 'docs 9 is at version 3 before the dump');

my $dump = $src->basedir . '/app.dump';
$src->command_ok([ 'pg_dump', '-Fc', '-f', $dump, 'app' ], 'pg_dump -Fc');

my $plain = $src->basedir . '/app.sql';
$src->command_ok([ 'pg_dump', '-Fp', '-f', $plain, 'app' ], 'pg_dump -Fp');

my @targets = (
	[ $src,   'same node',    [ 'pg_restore', '--exit-on-error', '-d', 'restored', $dump ] ],
	[ $other, 'another node', [ 'pg_restore', '--exit-on-error', '-j', '2', '-d', 'restored', $dump ] ],
	[
		$other, 'plain format',
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'restored', '-f', $plain ]
	],);
for my $t (@targets)
{
	my ($node, $where, $restore) = @$t;

	$node->safe_psql('postgres', 'DROP DATABASE IF EXISTS restored');
	$node->safe_psql('postgres', 'CREATE DATABASE restored');
	$node->command_ok($restore, "restore ($where): $restore->[0]");

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

	restored_history($node, $where);
}

# Row history after a restore into database "restored" of $node.
sub restored_history
{
	my ($node, $where) = @_;

	for my $h (sort keys %hist)
	{
		is($node->safe_psql('restored', $hist{$h}),
			$hist_before{$h}, "$where: history identical ($h)");
	}
	my $gone = sql_error($node, 'restored', q{SELECT occx.occ_row_at('hdocs', 1, 2)});
	is($gone->{sqlstate}, 'OC410', "$where: a version dropped before the dump is still gone (OC410)");
	is(decode_detail($gone->{detail})->{oldest_kept_version},
		3, "$where: and the oldest kept version is still 3");

	# A client read hdocs 1 at version 4 before the dump.  Since then the title
	# and /body/a/b/c changed: a patch of /body/a/b/c conflicts, one of
	# /body/a/b/d merges (against the image of version 4 from the dump).
	my $c = sql_error($node, 'restored',
		q{SELECT occx.occ_update('hdocs', 1, 4, '{"body": {"a": {"b": {"c": 9}}}}')});
	is($c->{sqlstate}, 'OC409', "$where: a stale change of a path changed since conflicts");
	is_deeply(decode_detail($c->{detail})->{conflicting_paths},
		['/body/a/b/c'], "$where: at that path");
	is_deeply(decode_detail($c->{detail})->{reasons},
		['rename'], "$where: with the reason recorded before the dump");
	is( $node->safe_psql(
			'restored', q{
SET occ.reason = 'after restore';
SELECT r->>'version', r->>'title', r->'body'
  FROM occx.occ_update('hdocs', 1, 4, '{"body": {"a": {"b": {"d": 9}}}}') r}),
		'7|one v5|{"a": {"b": {"c": 3, "d": 9}}, "n": 1}',
		"$where: a stale occ_update three levels deep merges against a kept version");

	# The restored trigger recorded that version, and keeps 3 before it.
	is( $node->safe_psql(
			'restored', q{
SELECT string_agg(version::text, ',' ORDER BY version),
       bool_and(changed_by = current_user) FILTER (WHERE version = 7),
       max(changed_at) FILTER (WHERE version = 7) > max(changed_at) FILTER (WHERE version = 6)
  FROM occx.occ_history('hdocs', 1)}),
		'4,5,6,7|t|t',
		"$where: the restored trigger records the new version and who, and keeps 3 before it");
	is( $node->safe_psql('restored',
			q{SELECT string_agg(version || ':' || coalesce(reason, '-'), ',' ORDER BY version) FROM occx.occ_history('hdocs', 1)}),
		'4:-,5:rename,6:-,7:after restore',
		"$where: and why (occ.reason set first thing in a new session)");
	is( $node->safe_psql(
			'restored', q{
SELECT count(*) FROM occx.occ_history('hdocs', 1);  -- loads occ
SET occ.reason = 'second';
SELECT occx.occ_update('hdocs', 1, 7, '{"title": "one v8"}') IS NOT NULL;
SELECT reason FROM occx.occ_history('hdocs', 1) WHERE version = 8}),
		"4\nt\nsecond",
		"$where: the restored trigger records occ.reason (set once occ is loaded)");
	is( $node->safe_psql('restored',
			q{SELECT occx.occ_diff('hdocs', 1, 6, 7) - 'etag'}),
		'{"body": {"a": {"b": {"d": 9}}}, "version": 7}',
		"$where: the merged version's change is the client's patch alone");
	is(sql_error($node, 'restored', q{SELECT occx.occ_row_at('hdocs', 1, 4)})->{sqlstate},
		'OC410', "$where: version 4 is no longer kept after the new versions");
	is( $node->safe_psql('restored',
			q{SELECT count(*), count(occ_row) FROM hdocs_occ_history WHERE id = 1}),
		'4|3', "$where: 4 records, 3 row images for hdocs 1 (history => 3)");

	# INSERT and DELETE after the restore.
	is( $node->safe_psql(
			'restored', q{
INSERT INTO hdocs VALUES (4, 'four', NULL);
UPDATE hdocs SET title = 'four v2' WHERE id = 4;
SELECT string_agg(version::text, ',' ORDER BY version) FROM occx.occ_history('hdocs', 4)}),
		'1,2',
		"$where: a row inserted after the restore gets its history");
	$node->safe_psql('restored', q{SELECT occx.occ_delete('hdocs', 2, 2)});
	is($node->safe_psql('restored', q{SELECT count(*) FROM hdocs_occ_history WHERE id = 2}),
		'0', "$where: deleting a restored row deletes its history");

	# Dropping the table drops its history: pg_dump does not keep the
	# dependency, the event trigger occ_drop_history goes by the comment.
	is($node->safe_psql('restored', $depend_q), '0',
		"$where: the restored history table has no dependency on its table");
	$node->safe_psql('restored', 'DROP TABLE hdocs');
	is($node->safe_psql('restored', q{SELECT to_regclass('hdocs_occ_history') IS NULL}),
		't', "$where: DROP TABLE drops the restored history table too");
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
