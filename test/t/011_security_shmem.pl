# Shared memory and the ETag secret under hostile use (issue 18, items 1, 7, 8).
#
# 1. A preloaded node with occ.max_tables = 20.  After CREATE EXTENSION, one
#    session loops CREATE TEMP TABLE, occ_enable, INSERT, UPDATE, DROP in
#    separate transactions (OCC_SHMEM_CYCLES of them, 2,000 by default): occ's
#    shared memory (pg_shmem_allocations) is what it was, no anonymous shared
#    memory was taken for the tables, the entries of the dropped tables are
#    gone, and temp tables left at session end go too.
#    With more tables than occ.max_tables, the extra ones are not counted and
#    occ_stats_capacity() says so; a rolled-back DROP keeps the entry; DROP
#    DATABASE frees its tables' entries.
# 7. Session A has cached the secret; session B replaces it the documented way
#    (INSERT INTO occ_secret); A's next ETag uses the new key.
# 8. Two databases made from one template share the secret but not their ETags.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use OccTest;

my $cycles = $ENV{OCC_SHMEM_CYCLES} || 2000;

my $node = PostgreSQL::Test::Cluster->new('shmem');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'occ'
occ.max_tables = 20
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION occ');

# What shared memory looks like: occ's segments, and the anonymous
# allocations, where a growing hash table takes its entries from (occ 1.1 took
# about 240 bytes there for every table it had seen, and never gave them back).
my $occ_sql = q{
	SELECT string_agg(name || '=' || allocated_size, ' ' ORDER BY name)
	  FROM pg_shmem_allocations WHERE name IN ('occ stats', 'occ stats hash')};
my $anon_sql = q{SELECT allocated_size FROM pg_shmem_allocations WHERE name = '<anonymous>'};
my $occ_before = $node->safe_psql('postgres', $occ_sql);
my $anon_before = $node->safe_psql('postgres', $anon_sql);
like($occ_before, qr/occ stats hash=\d+/, "occ's segments are there: $occ_before");

# The anonymous allocations may not grow with the tables occ saw.  PostgreSQL's
# own lock table may take a few more batches of entries over a long run (75 kB
# over 100,000 cycles, with or without occ), hence a bound of 20 bytes per
# cycle rather than equality.
sub shmem_unchanged
{
	my ($name) = @_;
	is($node->safe_psql('postgres', $occ_sql), $occ_before, "$name: occ's segments unchanged");
	my $grew = $node->safe_psql('postgres', $anon_sql) - $anon_before;
	note("anonymous shared memory grew by $grew bytes");
	cmp_ok($grew, '<=', 20 * $cycles, "$name: anonymous shared memory did not grow with the tables");
}

my $cycle_sql = qq{
DO \$\$
BEGIN
	FOR i IN 1 .. $cycles LOOP
		CREATE TEMP TABLE f (id int PRIMARY KEY, t text);
		PERFORM occ_enable('pg_temp.f');
		INSERT INTO f VALUES (1, 'a');
		UPDATE f SET t = 'b';
		DROP TABLE f;
		COMMIT;
	END LOOP;
END \$\$;
};
my $t0 = time;
$node->safe_psql('postgres', $cycle_sql);
note("$cycles cycles took " . (time - $t0) . ' s');
shmem_unchanged("$cycles temp tables enabled, updated and dropped");
is($node->safe_psql('postgres', 'SELECT tracked_tables, untracked_events FROM occ_stats_capacity()'),
	'0|0', '  no entry left, no event missed');

# A temp table left behind at the end of its session loses its entry too.
$node->safe_psql('postgres', q{
	CREATE TEMP TABLE g (id int PRIMARY KEY, t text);
	SELECT occ_enable('pg_temp.g');
	INSERT INTO g VALUES (1, 'a');
	UPDATE g SET t = 'b';
});
$node->poll_query_until('postgres',
	'SELECT tracked_tables = 0 FROM occ_stats_capacity()')
  or die 'the temp table of an ended session kept its entry';
pass('a temp table dropped at session end frees its entry');

# More tables than occ.max_tables: the extra ones are not counted.
$node->safe_psql('postgres', q{
	DO $$
	BEGIN
		FOR i IN 1 .. 25 LOOP
			EXECUTE format('CREATE TABLE p%s (id int PRIMARY KEY, t text)', i);
			PERFORM occ_enable(format('p%s', i)::regclass);
			EXECUTE format('INSERT INTO p%s VALUES (1, %L)', i, 'a');
			EXECUTE format('UPDATE p%s SET t = %L', i, 'b');
		END LOOP;
	END $$;
});
is($node->safe_psql('postgres', 'SELECT * FROM occ_stats_capacity()'),
	'20|20|5', 'a full table: 20 tracked, the 5 updates of the others are counted as untracked');
is($node->safe_psql('postgres', 'SELECT count(*) FROM occ_stats'),
	'20', '  occ_stats shows the 20');
shmem_unchanged('a full table');

# A DROP that rolls back (here in a subtransaction) keeps the entry.
$node->safe_psql('postgres', q{
	BEGIN;
	SAVEPOINT s;
	DROP TABLE p1;
	ROLLBACK TO s;
	DROP TABLE p2;
	COMMIT;
});
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(table_name, ',' ORDER BY table_name) FROM occ_stats WHERE table_name IN ('p1', 'p2')}),
	'p1',
	'a rolled-back DROP keeps the entry, a committed one frees it');
$node->safe_psql('postgres', 'UPDATE p21 SET t = $$c$$');
is($node->safe_psql('postgres', 'SELECT tracked_tables FROM occ_stats_capacity()'),
	'20', '  and the freed entry goes to the next table');
$node->safe_psql('postgres', 'SELECT occ_stats_reset()');
is($node->safe_psql('postgres', 'SELECT * FROM occ_stats_capacity()'),
	'20|0|0', 'occ_stats_reset empties the table and the untracked count');

# ---------------------------------------------------------------------------
# 7. A replaced secret reaches a running session.  Every ETag draws a fresh
#    nonce, so sessions compare the key they sign with: etag_key() is the HMAC
#    of a fixed message under it (a C function of the library, for tests).
my $key_fn = q{CREATE FUNCTION etag_key() RETURNS bytea
	AS '$libdir/occ', 'occ_etag_key_test' LANGUAGE c STRICT};
$node->safe_psql('postgres', $key_fn);
my $probe = q{SELECT encode(etag_key(), 'hex')};
my $a = $node->background_psql('postgres');
my $old_a = $a->query_safe($probe);
is($node->safe_psql('postgres', $probe), $old_a,
	'two sessions sign with the same key (session A has cached it)');
$node->safe_psql('postgres', q{
	INSERT INTO occ_secret SELECT decode(md5('rotated') || md5('key'), 'hex')});
my $new_fresh = $node->safe_psql('postgres', $probe);
isnt($new_fresh, $old_a, 'after the rotation, a new session signs with another key');
is($a->query_safe($probe), $new_fresh, '  and so does session A: it dropped its cached secret');
$a->quit;

# ---------------------------------------------------------------------------
# 8. Databases made from one template: same secret, same table OIDs, same
#    rows; each signs with a key of its own.
$node->safe_psql('postgres', q{
	CREATE DATABASE tmpl;
});
$node->safe_psql('tmpl', q{
	CREATE EXTENSION occ;
	CREATE TABLE s (id int PRIMARY KEY, t text);
	SELECT occ_enable('s');
	INSERT INTO s VALUES (1, 'a');
} . $key_fn);
$node->safe_psql('postgres', 'CREATE DATABASE copy1 TEMPLATE tmpl');
$node->safe_psql('postgres', 'CREATE DATABASE copy2 TEMPLATE tmpl');
my $secret_sql = q{SELECT encode(secret, 'hex') || ' ' || 's'::regclass::oid || ' ' || etag FROM occ_secret, s};
is($node->safe_psql('copy1', $secret_sql), $node->safe_psql('copy2', $secret_sql),
	'two copies of a template share secret, table OID and ETags');
isnt($node->safe_psql('copy1', $probe), $node->safe_psql('copy2', $probe),
	'  but each signs with its own key (bound to the database)');
isnt($node->safe_psql('copy1', q{UPDATE s SET t = 'same' RETURNING etag}),
	$node->safe_psql('copy2', q{UPDATE s SET t = 'same' RETURNING etag}),
	'  and the same write gives each its own ETag');

# (1. again) Dropping a database frees the entries of its tables.
my $tracked = $node->safe_psql('postgres', 'SELECT tracked_tables FROM occ_stats_capacity()');
$node->safe_psql('postgres', 'DROP DATABASE copy1');
is($node->safe_psql('postgres', 'SELECT tracked_tables FROM occ_stats_capacity()'),
	$tracked - 1, 'DROP DATABASE frees the entries of its tables');

done_testing();
