# occ on Citus distributed tables: a coordinator and two workers on one
# machine (shared_preload_libraries = 'citus,occ').
#
# Runs only where Citus is installed into this PostgreSQL: scripts/test.sh's
# citus suite builds it, copies it in and sets OCC_CITUS.  Covers both orders
# (distribute then enable, enable then distribute, versions and ETags kept),
# every occ function through the coordinator with its errors, a bounded
# two-session lost-update check, version_input modes and field granularity on
# tables with rows, a JSON array patched into a text[] column, a shard move,
# errors and statistics naming the distributed table, and the refusals
# (reference tables, shards with two copies, a shard itself).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

plan skip_all => 'Citus is not installed here (scripts/test.sh\'s citus suite installs it and sets OCC_CITUS)'
  unless $ENV{OCC_CITUS};

# ---------------------------------------------------------------------------
# Three nodes, on TCP so that Citus can connect them by host and port.

my @nodes;
for my $name (qw(coordinator worker1 worker2))
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
	$node->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'citus,occ'
listen_addresses = '127.0.0.1'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
citus.node_conninfo = 'sslmode=disable'
citus.shard_count = 4
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	push @nodes, $node;
}
my ($coord, $w1, $w2) = @nodes;

# SQL on the coordinator (or another node), which must succeed.
sub cq
{
	my ($sql, $node) = @_;
	return ($node // $coord)->safe_psql('postgres', $sql);
}

$coord->safe_psql(
	'postgres', sprintf(
		q{
SELECT citus_set_coordinator_host('127.0.0.1', %d);
SELECT citus_add_node('127.0.0.1', %d);
SELECT citus_add_node('127.0.0.1', %d);
CREATE EXTENSION occ;
}, $coord->port, $w1->port, $w2->port));
is(cq("SELECT extversion FROM pg_extension WHERE extname = 'occ'", $w2),
	cq("SELECT extversion FROM pg_extension WHERE extname = 'occ'"),
	'CREATE EXTENSION occ on the coordinator reaches the workers');

# (id, version, etag) of every row of a table, in key order.
sub state_of
{
	my ($table) = @_;
	return cq("SELECT string_agg(format('%s:%s:%s', id, version, etag), ' ' ORDER BY id) FROM $table");
}

# The worker that holds the row with key $id of $table, and the shard's id.
sub placement_of
{
	my ($table, $id) = @_;
	my ($shard, $port) = split /\|/, cq(
		"SELECT s.shardid, n.nodeport FROM pg_dist_shard s
		   JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
		  WHERE s.shardid = get_shard_id_for_distribution_column('$table', $id)");
	my ($node) = grep { $_->port == $port } @nodes;
	return ($node, $shard);
}

# ---------------------------------------------------------------------------
# Distribute, then enable (occ_enable sets citus.enable_unsafe_triggers itself).

cq(q{
CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, tags text[], body jsonb NOT NULL DEFAULT '{}');
INSERT INTO docs (id, title) SELECT g, 't' || g FROM generate_series(1, 20) g;
SELECT create_distributed_table('docs', 'id');
SELECT occ_enable('docs');
});
is(cq("SELECT count(*) FROM docs WHERE version = 1 AND length(etag) = 24"),
	'20', 'distribute then enable: every row has version 1 and an ETag');
is(cq('SHOW citus.enable_unsafe_triggers'), 'off',
	'occ_enable leaves citus.enable_unsafe_triggers as it was');
my ($node1, $shard1) = placement_of('docs', 1);
is( cq("SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.docs_$shard1'::regclass AND tgname LIKE 'zz_occ%'", $node1),
	"zz_occ_version_$shard1",
	'each shard carries the trigger under the name Citus gives it');
is(cq("SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'docs'::regclass"),
	'2', 'the rows are spread over both workers');

# Writes through the coordinator are versioned by the shards' trigger.
cq(q{
INSERT INTO docs (id, title, version, etag) VALUES (21, 'forged', 99, 'forged');
UPDATE docs SET title = 'plain' WHERE id = 2;
UPDATE docs SET title = title WHERE id = 3;
INSERT INTO docs (id, title) VALUES (4, 'upsert') ON CONFLICT (id) DO UPDATE SET title = excluded.title;
});
is( cq("SELECT string_agg(format('%s:%s:%s', id, version, length(etag)), ' ' ORDER BY id) FROM docs WHERE id IN (2, 3, 4, 21)"),
	'2:2:24 3:1:24 4:2:24 21:1:24',
	'INSERT (forged version and ETag ignored), UPDATE, no-op UPDATE and upsert through the coordinator');
isnt(cq("SELECT etag FROM docs WHERE id = 21"), 'forged', 'an INSERT cannot forge an ETag');
cq("COPY docs (id, title, version, etag) FROM STDIN;\n22\tcopied\t7\tforged\n\\.\n");
is(cq("SELECT version || ':' || (etag <> 'forged') FROM docs WHERE id = 22"), '1:true',
	'COPY through the coordinator: version 1 and an ETag of occ\'s own');

# History is not kept for Citus tables: refused, and nothing changes.
my $h = sql_error($coord, 'postgres', q{SELECT occ_enable('docs', history => 3)});
is($h->{sqlstate}, '0A000', 'occ_enable(..., history => N) on a Citus table: 0A000');
is($h->{message}, 'occ cannot keep history of Citus table "docs"', '  with its message');
is(cq("SELECT history FROM occ_tables WHERE table_name = 'docs'::regclass"), '0',
	'  and the table stays enabled without history');
is(cq("SELECT count(*) FROM pg_class WHERE relname = 'docs_occ_history'"), '0',
	'  and no history table is made');

# ---------------------------------------------------------------------------
# Every function, through the coordinator.

my $etag5 = cq("SELECT etag FROM docs WHERE id = 5");
is(cq(q{SELECT occ_update('docs', 1, 1, '{"title": "one"}') ->> 'version'}),
	'2', 'occ_update');
my $e = sql_error($coord, 'postgres', q{SELECT occ_update('docs', 1, 1, '{"title": "stale"}')});
is($e->{sqlstate}, 'OC409', 'occ_update with a stale version: OC409');
is($e->{message}, 'version conflict on table "public.docs" for key 1',
	'  naming the distributed table');
my $d = decode_detail($e->{detail});
is_deeply([ $d->{table}, $d->{current_version}, $d->{expected_version} ],
	[ 'public.docs', 2, 1 ], '  with its JSON DETAIL');
is(cq(qq{SELECT occ_update_if_match('docs', 5, '"$etag5"', '{"title": "five"}') ->> 'version'}),
	'2', 'occ_update_if_match');
$e = sql_error($coord, 'postgres', qq{SELECT occ_update_if_match('docs', 5, '"$etag5"', '{"title": "x"}')});
is($e->{sqlstate}, 'OC412', 'occ_update_if_match with a stale ETag: OC412');
is(cq(q{SELECT occ_try_update('docs', 1, 1, '{"title": "x"}') ->> 'status'}),
	'conflict', 'occ_try_update reports a conflict');
is(cq(q{SELECT occ_try_update('docs', 1, 2, '{"title": "uno"}') ->> 'status'}),
	'updated', 'occ_try_update applies');
$e = sql_error($coord, 'postgres', q{SELECT occ_update('docs', 999, 1, '{"title": "x"}')});
is($e->{sqlstate}, 'OC404', 'no such row: OC404');
$e = sql_error($coord, 'postgres', q{SELECT occ_delete('docs', 6, 7)});
is($e->{sqlstate}, 'OC409', 'occ_delete with a stale version: OC409');
is(cq(q{SELECT occ_delete('docs', 6, 1) ->> 'id'}), '6', 'occ_delete');
my $etag7 = cq("SELECT etag FROM docs WHERE id = 7");
is(cq(qq{SELECT occ_delete_if_match('docs', 7, '"$etag7"') ->> 'id'}), '7', 'occ_delete_if_match');
is(cq("SELECT count(*) FROM docs WHERE id IN (6, 7)"), '0', '  both rows are gone');

# A batch over rows on both workers: all or nothing.
my ($na) = placement_of('docs', 8);
my $other = (grep { (placement_of('docs', $_))[0] != $na } 17 .. 20, 9, 14, 15)[0];
ok(defined $other, 'a row on the other worker than row 8');
$e = sql_error($coord, 'postgres',
	qq{SELECT occ_update_many('docs', '[{"id": 8, "version": 1, "patch": {"title": "b8"}},
	                                     {"id": $other, "version": 5, "patch": {"title": "stale"}}]')});
is($e->{sqlstate}, 'OC409', 'occ_update_many with one stale item across workers: OC409');
is(cq("SELECT version FROM docs WHERE id = 8"), '1', '  and nothing is written');
is( cq(qq{SELECT string_agg(r ->> 'version', ',') FROM occ_update_many('docs',
	        '[{"id": 8, "version": 1, "patch": {"title": "b8"}}, {"id": $other, "version": 1, "patch": {"title": "b"}}]') r}),
	'2,2', 'occ_update_many across workers');

# A JSON array into a text[] column (UPDATE ... FROM jsonb_to_record cannot be distributed).
is(cq(q{SELECT occ_update('docs', 16, 1, '{"tags": ["a", "b"]}') -> 'tags'}),
	'["a", "b"]', 'a JSON array patched into a text[] column');
is(cq("SELECT tags FROM docs WHERE id = 16"), '{a,b}', '  is stored as the array');
is( cq(q{SELECT r -> 'tags' FROM occ_update_many('docs', '[{"id": 16, "version": 2, "patch": {"tags": ["c"], "title": "t"}}]') r}),
	'["c"]', '  also in a batch');

# ---------------------------------------------------------------------------
# No lost update: two sessions increment one counter with occ_try_update,
# each attempt its own transaction.

cq(q{
CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL);
SELECT create_distributed_table('counter', 'id');
SELECT occ_enable('counter');
INSERT INTO counter VALUES (1, 0);
});
my $loop = q{
DO $$
DECLARE
	cur record;
	applied int := 0;
BEGIN
	FOR i IN 1..150 LOOP
		SELECT n, version INTO cur FROM counter WHERE id = 1;
		IF occ_try_update('counter', 1, cur.version, jsonb_build_object('n', cur.n + 1)) ->> 'status' = 'updated' THEN
			applied := applied + 1;
		END IF;
		COMMIT;
	END LOOP;
	RAISE NOTICE 'applied %', applied;
END $$;
};
my @runs;
for (1 .. 2)
{
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $coord->connstr('postgres'), '-c', $loop ],
		'>', \$r{out}, '2>', \$r{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @runs, \%r;
}
my $applied = 0;
for my $r (@runs)
{
	$r->{h}->finish;
	my ($n) = $r->{err} =~ /applied (\d+)/;
	ok(defined $n, 'a session of the lost-update check ran to the end') or diag($r->{err});
	$applied += $n // 0;
}
is(cq('SELECT n, version FROM counter'), sprintf('%d|%d', $applied, $applied + 1),
	'no lost update: the counter equals the updates applied, and the version counts them');
cmp_ok($applied, '<', 300, '  the sessions did conflict (not every attempt applied)');

# ---------------------------------------------------------------------------
# version_input on a table with rows (the backfill reaches the shards),
# errors raised on a worker name the distributed table.

my $before = cq("SELECT string_agg(format('%s:%s', id, version), ' ' ORDER BY id) FROM docs");
my $etags_before = cq("SELECT string_agg(etag, ' ' ORDER BY id) FROM docs");
cq(q{SELECT occ_disable('docs')});
cq(q{UPDATE docs SET title = 'while disabled' WHERE id = 10});
cq(q{SELECT occ_enable('docs', version_input => 'next')});
is(cq("SELECT string_agg(format('%s:%s', id, version), ' ' ORDER BY id) FROM docs"),
	$before, 'occ_enable (version_input next) after occ_disable keeps every version');
is( cq(qq{SELECT count(*) FROM docs d JOIN unnest(string_to_array('$etags_before', ' ')) old(etag) USING (etag)}),
	'0', '  and gives every row a fresh ETag, on every shard');
$e = sql_error($coord, 'postgres', q{UPDATE docs SET title = 'no version' WHERE id = 10});
is($e->{sqlstate}, 'OC428', 'version_input next: an UPDATE without the version: OC428');
is($e->{message}, 'version required for update of table "public.docs" for key 10',
	'  raised on a worker, naming the distributed table');
is(decode_detail($e->{detail})->{table}, 'public.docs', '  in the DETAIL too');
cq(q{UPDATE docs SET title = 'orm', version = 2 WHERE id = 10 AND version = 1});
is(cq("SELECT version FROM docs WHERE id = 10"), '2', 'version_input next: the ORM update bumps');
$e = sql_error($coord, 'postgres', q{UPDATE docs SET title = 'orm', version = 2 WHERE id = 10});
is($e->{sqlstate}, 'OC409', '  a stale next version: OC409');
is(cq(q{SELECT occ_update('docs', 10, 2, '{"title": "occ"}') ->> 'version'}), '3',
	'  occ_update works under version_input next');
cq(q{SELECT occ_enable('docs', version_input => 'expected')});
$e = sql_error($coord, 'postgres', q{UPDATE docs SET title = 'no version' WHERE id = 11});
is($e->{sqlstate}, 'OC428', 'version_input expected: an UPDATE without the version: OC428');
cq(q{UPDATE docs SET title = 'orm', version = 1 WHERE id = 11});
is(cq("SELECT version FROM docs WHERE id = 11"), '2', 'version_input expected: the ORM update bumps');
cq(q{SELECT occ_enable('docs')});

# Statistics on the worker that holds row 10 count under the distributed table.
my ($node10) = placement_of('docs', 10);
is( cq("SELECT schema_name || '.' || table_name || ':' || (precondition_required > 0) FROM occ_stats WHERE table_name LIKE 'docs%'", $node10),
	'public.docs:true', 'a worker\'s statistics name the distributed table');

# ---------------------------------------------------------------------------
# Field granularity on a table with rows.

cq(q{SELECT occ_enable('docs', granularity => 'field')});
is(cq("SELECT count(*) FROM docs WHERE field_versions IS NULL"), '0',
	'switching to field granularity gives every row on every shard its field versions');
my $v12 = cq("SELECT version FROM docs WHERE id = 12");
cq(qq{SELECT occ_update('docs', 12, $v12, '{"title": "A"}')});
is(cq(qq{SELECT occ_update('docs', 12, $v12, '{"tags": ["B"]}') ->> 'version'}),
	$v12 + 2, 'field granularity: a stale update of another field merges');
$e = sql_error($coord, 'postgres', qq{SELECT occ_update('docs', 12, $v12, '{"title": "C"}')});
is($e->{sqlstate}, 'OC409', '  a stale update of a changed field conflicts');
is_deeply(decode_detail($e->{detail})->{conflicting_fields}, ['title'], '  naming the field');
cq(q{SELECT occ_enable('docs')});

# ---------------------------------------------------------------------------
# A shard move keeps versions and ETags; the moved shard still versions.

my ($from, $shard) = placement_of('docs', 13);
my $to = $from == $w1 ? $w2 : $w1;
my $moved_before = state_of('docs');
my $etag13 = cq("SELECT etag FROM docs WHERE id = 13");
cq(sprintf(q{SELECT citus_move_shard_placement(%d, '127.0.0.1', %d, '127.0.0.1', %d)},
		$shard, $from->port, $to->port));
my ($now) = placement_of('docs', 13);
is($now->port, $to->port, 'the shard moved');
is(state_of('docs'), $moved_before, '  keeping every version and ETag');
is(cq(qq{SELECT occ_update_if_match('docs', 13, '"$etag13"', '{"title": "moved"}') ->> 'version'}),
	cq("SELECT version FROM docs WHERE id = 13"), '  an ETag read before the move still matches');
$e = sql_error($coord, 'postgres', qq{SELECT occ_update_if_match('docs', 13, '"$etag13"', '{"title": "x"}')});
is($e->{sqlstate}, 'OC412', '  and is stale after the update');

# ---------------------------------------------------------------------------
# Enable, then distribute: the rows copied into the shards keep their
# versions and ETags.

cq(q{
CREATE TABLE orders (id int PRIMARY KEY, qty int NOT NULL);
INSERT INTO orders SELECT g, g FROM generate_series(1, 12) g;
SELECT occ_enable('orders');
UPDATE orders SET qty = qty + 1 WHERE id % 3 = 0;
UPDATE orders SET qty = qty + 1 WHERE id % 6 = 0;
});
my $orders = state_of('orders');
$e = sql_error($coord, 'postgres', q{SELECT create_distributed_table('orders', 'id')});
like($e->{message}, qr/trigger/, 'Citus refuses to distribute an enabled table unless unsafe triggers are allowed');
cq(q{SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('orders', 'id');
SELECT truncate_local_data_after_distributing_table('orders');});
is(state_of('orders'), $orders, 'enable then distribute: every version and ETag is kept');
like($orders, qr/ 6:3:/, '  (versions other than 1 among them)');
my $etag6 = cq("SELECT etag FROM orders WHERE id = 6");
is(cq(qq{SELECT occ_update_if_match('orders', 6, '"$etag6"', '{"qty": 0}') ->> 'version'}), '4',
	'  an ETag read before distributing matches');
is(cq(q{INSERT INTO orders VALUES (50, 1); SELECT version FROM orders WHERE id = 50}), '1',
	'  and the shards version new rows');
$e = sql_error($coord, 'postgres', q{SELECT occ_update('orders', 6, 1, '{"qty": 0}')});
is($e->{sqlstate}, 'OC409', '  and refuse stale versions');

# A table distributed in the same transaction as rows are written: the
# owner's own rows written after create_distributed_table are versioned.
cq(q{
CREATE TABLE fresh (id int PRIMARY KEY, v text);
SELECT occ_enable('fresh');
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('fresh', 'id');
INSERT INTO fresh (id, v) VALUES (1, 'a');
UPDATE fresh SET v = 'b' WHERE id = 1;
COMMIT;
});
is(cq("SELECT version || ':' || length(etag) FROM fresh"), '2:24',
	'rows written in the transaction that distributed the table are versioned');

# ---------------------------------------------------------------------------
# Refusals.

cq(q{
CREATE TABLE ref (id int PRIMARY KEY, v text);
SELECT create_reference_table('ref');
});
$e = sql_error($coord, 'postgres', q{SELECT occ_enable('ref')});
is($e->{sqlstate}, '0A000', 'occ_enable on a reference table: 0A000');
is($e->{message}, 'occ does not support reference table "public.ref"', '  saying why');
is(cq("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ref'::regclass AND tgname LIKE 'zz_occ%'"), '0',
	'  and installs nothing');

cq(q{
CREATE TABLE twice (id int PRIMARY KEY, v text);
SET citus.shard_replication_factor = 2;
SELECT create_distributed_table('twice', 'id');
});
$e = sql_error($coord, 'postgres', q{SELECT occ_enable('twice')});
is($e->{sqlstate}, '0A000', 'occ_enable on a table whose shards have two copies: 0A000');
is($e->{message}, 'occ does not support table "public.twice" because its shards have more than one copy',
	'  saying why');

# An enabled table made a reference table: its writes are refused.
cq(q{
CREATE TABLE later (id int PRIMARY KEY, v text);
SELECT occ_enable('later');
SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('later');
});
$e = sql_error($coord, 'postgres', q{INSERT INTO later VALUES (1, 'x')});
is($e->{sqlstate}, '0A000', 'an enabled table made a reference table refuses writes: 0A000');
is($e->{message}, 'occ does not support reference table "public.later"', '  naming it');
cq(q{SELECT occ_disable('later')});
is(cq(q{INSERT INTO later VALUES (1, 'x'); SELECT count(*) FROM later}),
	'1', '  until occ_disable, which is allowed there');

# A shard itself, on a worker.
($node1, $shard1) = placement_of('docs', 1);
$e = sql_error($node1, 'postgres', "SELECT occ_enable('docs_$shard1')");
is($e->{sqlstate}, '42809', 'occ_enable on a shard: 42809');
is($e->{message}, qq{table "public.docs_$shard1" is a shard of distributed table "public.docs"},
	'  naming its distributed table');

$_->stop for @nodes;
done_testing();
