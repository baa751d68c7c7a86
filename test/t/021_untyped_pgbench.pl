# Untyped ids through pgbench -M prepared: pgbench prepares its statements
# without parameter types, so ids, versions, ETags and patches reach occ's
# functions as untyped parameters, as from node-postgres, psycopg 3 (str) or
# pgx.  Two clients bump counters on int, uuid and composite-key tables with
# occ_try_update and occ_update_if_match and delete rows with occ_delete;
# every call must run (no 42P18) and every successful bump count once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('untyped');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION occ;
CREATE TABLE c_int (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE c_uuid (id uuid PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE c_comp (region text, no int, n int NOT NULL DEFAULT 0, PRIMARY KEY (region, no));
CREATE TABLE gone (id bigint PRIMARY KEY);
SELECT occ_enable('c_int'), occ_enable('c_uuid'), occ_enable('c_comp'), occ_enable('gone');
INSERT INTO c_int (id) SELECT g FROM generate_series(1, 3) g;
INSERT INTO c_uuid (id) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
INSERT INTO c_comp (region, no) VALUES ('eu', 0), ('eu', 1);
INSERT INTO gone SELECT g FROM generate_series(1, 200) g;
CREATE TABLE bumps (tbl text, ok bool);
});

# With -M prepared every :variable is a parameter without a type: the ids
# (an int, a uuid and a composite key's JSON text), versions, ETags and
# patches.  The int and uuid rows are contended (occ_try_update reports
# conflicts without raising); each client has its own composite-key row
# (occ_update_if_match) and its own rows to delete (occ_delete).
my $script = $node->basedir . '/untyped.sql';
append_to_file(
	$script, q{\set id random(1, 3)
\set gid random(1, 100) + 100 * :client_id
SELECT version AS v, format('{"n": %s}', n + 1) AS p FROM c_int WHERE id = :id \gset
INSERT INTO bumps SELECT 'c_int', (occ_try_update('c_int', :id, :v, :p) ->> 'status') = 'updated';
SELECT id AS uid, version AS v, format('{"n": %s}', n + 1) AS p FROM c_uuid \gset
INSERT INTO bumps SELECT 'c_uuid', (occ_try_update('c_uuid', :uid, :v, :p) ->> 'status') = 'updated';
SELECT format('{"region": "eu", "no": %s}', no) AS cid, etag AS e, format('{"n": %s}', n + 1) AS p
  FROM c_comp WHERE no = :client_id \gset
SELECT occ_update_if_match('c_comp', :cid, :e, :p) IS NOT NULL AS updated \gset
SELECT occ_delete('gone', :gid, 1) FROM gone WHERE id = :gid;
});
command_ok(
	[
		'pgbench', '-n', '-M', 'prepared', '-c', '2', '-j', '2', '-t', '40',
		'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
	],
	'pgbench -M prepared: every occ call with untyped parameters runs');

is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(format('%s:%s', tbl, ok), ' ' ORDER BY tbl)
  FROM (SELECT 'c_int' AS tbl,
               (SELECT sum(n) FROM c_int) = count(*) FILTER (WHERE ok)
               AND (SELECT sum(version - 1) FROM c_int) = count(*) FILTER (WHERE ok) AS ok
          FROM bumps WHERE tbl = 'c_int'
        UNION ALL
        SELECT 'c_uuid', (SELECT n FROM c_uuid) = count(*) FILTER (WHERE ok)
          FROM bumps WHERE tbl = 'c_uuid'
        UNION ALL
        SELECT 'calls', count(*) = 160 FROM bumps) t}),
	'c_int:t c_uuid:t calls:t',
	'every untyped occ_try_update ran, and each success was counted once');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(format('%s:%s:%s', no, n, version), ' ' ORDER BY no) FROM c_comp}),
	'0:40:41 1:40:41',
	'occ_update_if_match with an untyped composite id and ETag: 40 bumps per client');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM gone'),
	'<', 190, 'occ_delete with an untyped bigint id deleted rows');

$node->stop;
done_testing();
