# Conflict statistics (shared_preload_libraries = 'occ').
#
# A preloaded node with a ring buffer of 5 recent conflicts and
# occ.log_conflicts = on.  Two long-lived sessions and a few one-shot psql
# calls make updates, no-op updates, field merges, conflicts (some in
# transactions that roll back), ETag mismatches, not-found, OC428 and
# retries on several tables, a partitioned one and one in another database.
# Then: every counter of occ_stats exactly, the ring's contents, order and
# wrap-around, the JSON log lines, who may see which rows, and
# occ_stats_reset.  A second node without preloading: the stats views and the
# reset raise 55000 with a hint naming shared_preload_libraries, the rest of
# occ works, and the occ. prefix is reserved on both nodes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'occ'
occ.recent_conflicts_size = 5
occ.log_conflicts = on
occ.no_such_setting = 1
});
$node->start;

# The occ. prefix is reserved: a setting the module does not define is
# dropped with a warning when the module loads at startup...
ok( $node->log_contains(
		qr/WARNING:  invalid configuration parameter name "occ\.no_such_setting", removing it/
	),
	'an unknown occ.* setting in postgresql.conf is removed with a warning at startup');
ok($node->log_contains(qr/DETAIL:  "occ" is now a reserved prefix\./),
	'  naming occ as a reserved prefix');

# ...and SET of one is refused.
my $e = sql_error($node, 'postgres', 'SET occ.no_such_setting = 1');
is($e->{sqlstate}, '42602', 'SET occ.no_such_setting: 42602 (reserved prefix)');
is($e->{detail}, '"occ" is a reserved prefix.', '  with a detail saying why');
is( $node->safe_psql('postgres', 'SHOW occ.recent_conflicts_size'),
	'5', 'occ.recent_conflicts_size is a setting of the module');
is($node->safe_psql('postgres', 'SHOW occ.max_tables'),
	'1000', 'occ.max_tables defaults to 1000');

# ---------------------------------------------------------------------------
# Helpers.

# safe_psql as another role.
sub psql_as
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]);
}

# Rows of a query as a list of lists ('|'-separated, psql -A).
sub rows_as
{
	my ($role, $db, $sql) = @_;
	my $out = psql_as($role, $db, $sql);
	return [ map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out ];
}

# A long-lived session, so that retries are matched with the conflicts the
# same session saw.  Errors do not end it.
sub session
{
	my ($appname, $role) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("SET application_name = '$appname'");
	$s->query_safe("SET ROLE $role") if $role;
	$s->query_safe('\set VERBOSITY verbose');
	return $s;
}

# Runs $sql in session $s; returns its output and the SQLSTATE of the first
# error ('' if none).  BackgroundPsql keeps stderr across queries: clear it.
sub run
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my ($out) = $s->query($sql);
	my ($state) = $s->{stderr} =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($out, $state // '');
}

# Runs $sql in $s, which must succeed.
sub ok_in
{
	my ($s, $sql, $name) = @_;
	my ($out, $state) = run($s, $sql);
	is($state, '', $name);
	return $out;
}

# Runs $sql in $s, which must fail with SQLSTATE $want.
sub fails_in
{
	my ($s, $sql, $want, $name) = @_;
	my ($out, $state) = run($s, $sql);
	is($state, $want, $name);
}

# The counters of occ_stats as seen by the superuser, by table name.
my $counter_cols =
  'updates, noop_updates, merges, conflicts, etag_mismatches, not_found, '
  . 'precondition_required, conflict_rate, retries_succeeded';

sub counters
{
	my ($db, $table) = @_;
	my $row = $node->safe_psql($db,
		"SELECT $counter_cols FROM occ_stats WHERE database = '$db' AND table_name = '$table'");
	return $row;
}

# ---------------------------------------------------------------------------
# Schema: roles, tables, another database.

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION occ;
CREATE ROLE app_writer;
CREATE ROLE stats_none LOGIN;
CREATE ROLE stats_reader LOGIN;
CREATE ROLE stats_all LOGIN IN ROLE pg_read_all_stats;

-- row granularity, version_input ignore
CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
SELECT occ_enable('docs');
INSERT INTO docs (id, title, body) VALUES (1, 't1', 'b1'), (2, 't2', 'b2'), (3, 't3', 'b3');
GRANT SELECT, UPDATE, DELETE ON docs TO app_writer;
GRANT SELECT ON docs TO stats_reader;

-- an ORM-style table: every UPDATE must assign the version it read
CREATE TABLE orm (id int PRIMARY KEY, name text);
SELECT occ_enable('orm', version_input => 'expected');
INSERT INTO orm (id, name) VALUES (1, 'n1');

-- field granularity: stale updates of untouched fields merge
CREATE TABLE notes (id int PRIMARY KEY, a text, b text, c text);
SELECT occ_enable('notes', granularity => 'field');
INSERT INTO notes (id, a, b, c) VALUES (1, 'a', 'b', 'c');
GRANT SELECT, UPDATE ON orm, notes TO app_writer;

-- partitions count under their partitioned table
CREATE TABLE events (id int PRIMARY KEY, note text) PARTITION BY RANGE (id);
CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (200);
SELECT occ_enable('events');
INSERT INTO events (id, note) VALUES (1, 'x'), (150, 'y');

CREATE DATABASE otherdb;
});
$node->safe_psql(
	'otherdb', q{
CREATE EXTENSION occ;
CREATE TABLE remote (id int PRIMARY KEY, v int);
SELECT occ_enable('remote');
INSERT INTO remote (id, v) VALUES (1, 0);
GRANT SELECT ON remote TO stats_reader;
});

is($node->safe_psql('postgres', 'SELECT count(*) FROM occ_stats'),
	'0', 'enabling tables and inserting rows counts nothing');

my $log_start = -s $node->logfile;

# ---------------------------------------------------------------------------
# Traffic.  Session A is the superuser, session B runs as app_writer.

my $sa = session('app_a');
my $sb = session('app_b', 'app_writer');
my $row;

# docs, key 1: A updates; B, holding version 1, conflicts inside a
# transaction that rolls back, waits 0.3 s, re-reads and succeeds.
$row = decode_json(ok_in($sa,
	q{SELECT occ_update('docs', 1, 1, '{"title":"A"}')}, 'A updates docs 1 at version 1'));
my $etag_docs1_v2 = $row->{etag};
ok_in($sb, 'BEGIN', 'B begins');
fails_in($sb, q{SELECT occ_update('docs', 1, 1, '{"title":"B"}')},
	'OC409', 'B, still at version 1, conflicts on docs 1');
ok_in($sb, 'ROLLBACK', 'B rolls back');
ok_in($sb, 'SELECT pg_sleep(0.3)', 'B thinks for 0.3 s');
ok_in($sb, q{SELECT occ_update('docs', 1, 2, '{"title":"B"}')},
	'B retries docs 1 with version 2 and succeeds');

# docs, keys 2 and 3: plain SQL, one UPDATE that changes nothing, two that do
ok_in($sa, q{UPDATE docs SET title = title WHERE id = 2}, 'a no-op UPDATE');
ok_in($sa, q{UPDATE docs SET body = 'p' WHERE id IN (2, 3)}, 'an UPDATE of two rows');
# an occ_update whose patch changes nothing is a no-op update too
ok_in($sa, q{SELECT occ_update('docs', 3, 2, '{"body":"p"}')},
	'an occ_update that changes nothing');

# docs, key 1: A sends a stale ETag, then the current one
fails_in($sa, q{SELECT occ_update_if_match('docs', 1, '"AAAAAAAAAAAAAAAAAAAAAAAA"', '{"title":"A2"}')},
	'OC412', 'A gets OC412 on docs 1');
my $etag_docs1_v3 = $node->safe_psql('postgres', 'SELECT etag FROM docs WHERE id = 1');
ok_in($sa, qq{SELECT occ_update_if_match('docs', 1, '"$etag_docs1_v3"', '{"title":"A2"}')},
	'A retries with the current ETag and succeeds');

# docs: a missing row
fails_in($sa, q{SELECT occ_update('docs', 42, 1, '{"title":"x"}')}, 'OC404',
	'OC404 for a missing row');

# docs, key 3: a stale delete, then the right one (a retry by occ_delete)
fails_in($sa, q{SELECT occ_delete('docs', 3, 1)}, 'OC409', 'a stale occ_delete conflicts');
ok_in($sa, q{SELECT occ_delete('docs', 3, 2)}, 'and the retry deletes');

# orm: OC428, then OC409 from the trigger inside a transaction that rolls
# back (session A); session B then writes correctly
fails_in($sa, q{UPDATE orm SET name = 'x' WHERE id = 1}, 'OC428',
	'an UPDATE of orm without the version: OC428');
ok_in($sa, 'BEGIN', 'A begins');
fails_in($sa, q{UPDATE orm SET name = 'x', version = 7 WHERE id = 1}, 'OC409',
	'an UPDATE of orm with a wrong version: OC409');
ok_in($sa, 'ROLLBACK', 'A rolls back');
ok_in($sb, q{UPDATE orm SET name = 'x', version = 1 WHERE id = 1}, 'B updates orm 1 correctly');
ok_in($sb, q{UPDATE orm SET name = 'x', version = 2 WHERE id = 1},
	'B repeats the update: nothing changes');

# notes (field granularity): A changes a; B, at version 1, changes b (a
# merge), then a and c (a conflict on a), waits 0.1 s and sends c alone (a
# merge that resolves the conflict)
ok_in($sa, q{SELECT occ_update('notes', 1, 1, '{"a":"a2"}')}, 'A updates notes.a');
$row = decode_json(ok_in($sb, q{SELECT occ_update('notes', 1, 1, '{"b":"b2"}')},
	'B, at version 1, updates notes.b: merged'));
is($row->{version}, 3, '  the merge made version 3');
fails_in($sb, q{SELECT occ_update('notes', 1, 1, '{"a":"a3","c":"c3"}')},
	'OC409', 'B, at version 1, updates a and c: a conflicts');
ok_in($sb, 'SELECT pg_sleep(0.1)', 'B thinks for 0.1 s');
$row = decode_json(ok_in($sb, q{SELECT occ_update('notes', 1, 1, '{"c":"c3"}')},
	'B sends c alone: merged'));
is_deeply([ @$row{qw(a b c version)} ], [ 'a2', 'b2', 'c3', 4 ],
	'  notes 1 has every change');

# events (partitioned): through the parent and through a partition
ok_in($sa, q{SELECT occ_update('events', 1, 1, '{"note":"x2"}')}, 'events 1 through the parent');
fails_in($sa, q{SELECT occ_update('events_high', 150, 5, '{"note":"z"}')}, 'OC409',
	'a conflict through the partition events_high');
ok_in($sa, q{UPDATE events SET note = note WHERE id = 150}, 'a no-op UPDATE of events');

# otherdb: one conflict
my $oe = sql_error($node, 'otherdb',
	q{SET application_name = 'app_other'; SELECT occ_update('remote', 1, 9, '{"v":1}')});
is($oe->{sqlstate}, 'OC409', 'a conflict in otherdb');

# ---------------------------------------------------------------------------
# The counters.

is(counters('postgres', 'docs'),
	'5|2|0|2|1|1|0|0.3|3',
	'docs: 5 updates, 2 no-ops, 2 conflicts, 1 ETag mismatch, 1 not found, rate 3/10, 3 retries');
is(counters('postgres', 'orm'),
	'1|1|0|1|0|0|1|0.3333333333333333|0',
	'orm: 1 update, 1 no-op, 1 conflict (rolled back), 1 OC428, no retry in the same session');
is(counters('postgres', 'notes'),
	'3|0|2|1|0|0|0|0.25|1',
	'notes: 3 updates of which 2 merges, 1 conflict, 1 retry (the second merge)');
is(counters('postgres', 'events'),
	'1|1|0|1|0|0|0|0.3333333333333333|0',
	'events: the partition\'s conflict counts under the partitioned table');
is(counters('otherdb', 'remote'),
	'0|0|0|1|0|0|0|1|0', 'remote (otherdb): 1 conflict, rate 1');
is_deeply(
	rows_of($node, 'postgres',
		'SELECT database, schema_name, table_name FROM occ_stats ORDER BY 1, 2, 3'),
	[
		[ 'otherdb',  'public', 'remote' ], [ 'postgres', 'public', 'docs' ],
		[ 'postgres', 'public', 'events' ], [ 'postgres', 'public', 'notes' ],
		[ 'postgres', 'public', 'orm' ]
	],
	'one row per table with activity; none for the partitions');
is( $node->safe_psql(
		'postgres',
		q{SELECT bool_and(relid = table_name::regclass::oid) FROM occ_stats WHERE database = 'postgres'}),
	't', 'relid is the table\'s oid (the partitioned table\'s for events)');

# Time to resolution: docs had three retries, one of them after 0.3 s;
# notes had one, after 0.1 s.
my ($mean, $max) = split /\|/, $node->safe_psql('postgres',
	q{SELECT mean_resolution_ms, max_resolution_ms FROM occ_stats WHERE table_name = 'docs'});
cmp_ok($max, '>=', 300, "docs: max_resolution_ms >= 300 ($max)");
cmp_ok($max, '<', 30000, '  and in milliseconds, not microseconds');
cmp_ok($mean, '<=', $max, "docs: mean_resolution_ms ($mean) <= max");
cmp_ok($mean * 3, '>=', $max, '  and 3 * mean >= max (the mean is over the 3 retries)');
($mean, $max) = split /\|/, $node->safe_psql('postgres',
	q{SELECT mean_resolution_ms, max_resolution_ms FROM occ_stats WHERE table_name = 'notes'});
cmp_ok($max, '>=', 100, "notes: max_resolution_ms >= 100 ($max)");
is($mean, $max, '  one retry: mean = max');
is( $node->safe_psql(
		'postgres',
		q{SELECT mean_resolution_ms IS NULL AND max_resolution_ms IS NULL FROM occ_stats
           WHERE table_name = 'orm'}),
	't', 'orm: no retries, so no resolution times');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(DISTINCT stats_reset) = 1 AND bool_and(stats_reset <= now()) FROM occ_stats}),
	't', 'stats_reset: one time for all rows, in the past');

# ---------------------------------------------------------------------------
# The ring buffer: 7 conflicts so far, the 5 latest kept, newest first.

my $ring_cols =
  q{database, schema_name, table_name, sqlstate, key, expected_version, current_version, }
  . q{conflicting_fields, role, application_name};
is_deeply(
	rows_of($node, 'postgres', "SELECT $ring_cols FROM occ_recent_conflicts"),
	[
		[ 'otherdb',  'public', 'remote', 'OC409', '1',   '9', '1', '',      'postgres', 'app_other' ],
		[ 'postgres', 'public', 'events', 'OC409', '150', '5', '1', '',      'postgres', 'app_a' ],
		[ 'postgres', 'public', 'notes',  'OC409', '1',   '1', '3', '["a"]', 'app_writer', 'app_b' ],
		[ 'postgres', 'public', 'orm',    'OC409', '1',   '7', '1', '',      'postgres', 'app_a' ],
		[ 'postgres', 'public', 'docs',   'OC409', '3',   '1', '2', '',      'postgres', 'app_a' ],
	],
	'occ_recent_conflicts: the 5 latest of 7 conflicts, newest first');
is( $node->safe_psql(
		'postgres',
		q{SELECT bool_and(occurred_at >= next_at IS NOT FALSE) AND count(*) = 5 FROM (
            SELECT occurred_at, lead(occurred_at) OVER () AS next_at FROM occ_recent_conflicts) r}),
	't', 'occurred_at does not increase down the list');

# ---------------------------------------------------------------------------
# The log: one line of JSON per conflict, rolled back or not.

my @log = grep { defined }
  map { /LOG:\s+(\{"event":"occ_conflict".*)$/ ? $1 : undef }
  split /\n/, slurp_file($node->logfile, $log_start);
is(scalar @log, 7, 'seven occ_conflict log lines');
my @events = map { my $h = eval { decode_json($_) }; $h } @log;
is(scalar(grep { ref $_ eq 'HASH' } @events), 7, 'each one parses as JSON');
is_deeply(
	$events[0],
	{
		event            => 'occ_conflict',
		sqlstate         => 'OC409',
		database         => 'postgres',
		role             => 'app_writer',
		application_name => 'app_b',
		table            => 'public.docs',
		key              => 1,
		expected_version => 1,
		current_version  => 2,
		current_etag     => $etag_docs1_v2,
	},
	'the first: B\'s conflict on docs 1, logged though its transaction rolled back');
is_deeply(
	[ @{ $events[1] }{qw(sqlstate expected_etag current_version current_etag)} ],
	[ 'OC412', 'AAAAAAAAAAAAAAAAAAAAAAAA', 3, $etag_docs1_v3 ],
	'the second: the ETag mismatch, with the ETag sent and the current one');
is_deeply(
	[ map { "$_->{table}:$_->{key}:$_->{sqlstate}" } @events ],
	[
		'public.docs:1:OC409',   'public.docs:1:OC412',
		'public.docs:3:OC409',   'public.orm:1:OC409',
		'public.notes:1:OC409',  'public.events_high:150:OC409',
		'public.remote:1:OC409'
	],
	'the log names every conflict in order');
is_deeply([ @{ $events[6] }{qw(database application_name expected_version)} ],
	[ 'otherdb', 'app_other', 9 ], 'the last one: otherdb\'s');

# occ.log_conflicts can be turned off, by a superuser only
$log_start = -s $node->logfile;
ok_in($sa, 'SET occ.log_conflicts = off', 'a superuser turns occ.log_conflicts off');
fails_in($sa, q{SELECT occ_update('docs', 2, 1, '{"title":"quiet"}')}, 'OC409',
	'a conflict while logging is off');
ok_in($sa, 'RESET occ.log_conflicts', 'and on again');
fails_in($sa, q{SELECT occ_update('docs', 2, 1, '{"title":"loud"}')}, 'OC409',
	'a conflict while logging is on');
my @new = grep { /LOG:\s+\{"event":"occ_conflict"/ } split /\n/,
  slurp_file($node->logfile, $log_start);
is(scalar @new, 1, 'only the conflict while logging was on is logged');
like($new[0] // '', qr/"application_name":"app_a"/, '  and it is A\'s');
$e = sql_error($node, 'postgres', 'SET ROLE stats_none; SET occ.log_conflicts = off');
is($e->{sqlstate}, '42501', 'a non-superuser may not change occ.log_conflicts');
is(counters('postgres', 'docs'), '5|2|0|4|1|1|0|0.4166666666666667|3',
	'both conflicts are counted: 4 conflicts, rate 5/12');

# ---------------------------------------------------------------------------
# Visibility.  The ring now holds the docs 2 conflicts, notes, events, remote.

is_deeply(rows_as('stats_none', 'postgres', 'SELECT table_name FROM occ_stats'),
	[], 'a role without SELECT on any table sees no counters');
is_deeply(rows_as('stats_none', 'postgres', 'SELECT table_name FROM occ_recent_conflicts'),
	[], '  and no recent conflicts');
is_deeply(
	rows_as('stats_reader', 'postgres',
		'SELECT database, table_name, conflicts FROM occ_stats'),
	[ [ 'postgres', 'docs', '4' ] ],
	'a role with SELECT on docs sees docs\' counters only (not remote\'s: another database)');
is_deeply(
	rows_as('stats_reader', 'postgres',
		'SELECT database, table_name, key FROM occ_recent_conflicts'),
	[ [ 'postgres', 'docs', '2' ], [ 'postgres', 'docs', '2' ] ],
	'  and docs\' recent conflicts only');
is_deeply(
	rows_as('stats_reader', 'otherdb',
		'SELECT database, table_name, conflicts FROM occ_stats'),
	[ [ 'otherdb', 'remote', '1' ] ],
	'connected to otherdb, the same role sees remote\'s counters only');
is_deeply(
	rows_as('stats_reader', 'otherdb', 'SELECT table_name FROM occ_recent_conflicts'),
	[ ['remote'] ], '  and remote\'s recent conflict only');
is_deeply(
	rows_as('stats_all', 'postgres',
		'SELECT database, table_name FROM occ_stats ORDER BY 1, 2'),
	[
		[ 'otherdb', 'remote' ], [ 'postgres', 'docs' ], [ 'postgres', 'events' ],
		[ 'postgres', 'notes' ], [ 'postgres', 'orm' ]
	],
	'a member of pg_read_all_stats sees every table of every database');
is_deeply(
	rows_as('stats_all', 'postgres', 'SELECT table_name FROM occ_recent_conflicts'),
	[ ['docs'], ['docs'], ['remote'], ['events'], ['notes'] ],
	'  and every recent conflict');

# ---------------------------------------------------------------------------
# Wrap-around, many times: 12 conflicts caught in a PL/pgSQL loop (each in a
# subtransaction that rolls back) leave the last 5, newest first.

$node->safe_psql(
	'postgres', q{
CREATE TABLE spin (id int PRIMARY KEY);
SELECT occ_enable('spin');
INSERT INTO spin SELECT generate_series(1, 12);
DO $$
BEGIN
    FOR i IN 1..12 LOOP
        BEGIN
            PERFORM occ_update('spin', i, 99, '{}');
        EXCEPTION WHEN SQLSTATE 'OC409' THEN
            NULL;
        END;
    END LOOP;
END $$;
});
is_deeply(
	rows_of($node, 'postgres',
		'SELECT table_name, key, expected_version, current_version FROM occ_recent_conflicts'),
	[ map { [ 'spin', $_, 99, 1 ] } reverse 8 .. 12 ],
	'after 21 conflicts the ring holds the last 5 (spin 12 down to 8)');
is(counters('postgres', 'spin'), '0|0|0|12|0|0|0|1|0',
	'spin: all 12 caught conflicts counted');

# A key longer than the ring's key buffer must not break the view.
$node->safe_psql(
	'postgres', q{
CREATE TABLE longkeys (k text PRIMARY KEY);
SELECT occ_enable('longkeys');
INSERT INTO longkeys VALUES ('a' || repeat('é', 200));
DO $$
BEGIN
    PERFORM occ_update('longkeys', 'a' || repeat('é', 200), 99, '{}');
EXCEPTION WHEN SQLSTATE 'OC409' THEN
    NULL;
END $$;
});
my ($lk_out, $lk_err) = ('', '');
$node->psql(
	'postgres',
	q{SELECT table_name,
             key IS NULL OR (jsonb_typeof(key) = 'string'
                             AND starts_with('a' || repeat('é', 200), key #>> '{}'))
        FROM occ_recent_conflicts LIMIT 1},
	stdout => \$lk_out,
	stderr => \$lk_err);
is($lk_err, '', 'occ_recent_conflicts stays readable after a conflict on a 400-byte key');
is($lk_out, 'longkeys|t', '  and lists that conflict first, its key whole, cut short or NULL');

# ---------------------------------------------------------------------------
# occ_stats_reset: not for PUBLIC, nor for pg_read_all_stats.

my $reset_before = $node->safe_psql('postgres', 'SELECT min(stats_reset) FROM occ_stats');
for my $role (qw(stats_none stats_all))
{
	$e = sql_error($node, 'postgres', "SET ROLE $role; SELECT occ_stats_reset()");
	is($e->{sqlstate}, '42501', "occ_stats_reset() as $role: 42501");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM occ_stats'),
	'7', 'the refused resets cleared nothing');

# The library checks the column count of the SQL definition it serves (as
# pg_stat_statements does): a definition it does not know, here two columns,
# gets an error instead of rows cut to fit.
foreach my $fn (qw(occ_stats_internal occ_recent_conflicts_internal))
{
	$e = sql_error(
		$node, 'postgres', qq{
		CREATE FUNCTION pg_temp.${fn}_two(OUT a pg_catalog.text, OUT b pg_catalog.text) RETURNS SETOF record
			LANGUAGE c AS '\$libdir/occ', '$fn';
		SELECT * FROM pg_temp.${fn}_two();});
	is($e->{sqlstate}, 'XX000', "$fn with a two-column definition: an error");
	is($e->{message}, 'incorrect number of output arguments', '  saying so');
}

$node->safe_psql('postgres', 'SELECT occ_stats_reset()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM occ_stats'),
	'0', 'occ_stats_reset() by the superuser clears every counter');
is($node->safe_psql('postgres', 'SELECT count(*) FROM occ_recent_conflicts'),
	'0', '  and the ring buffer');
is($node->safe_psql('otherdb', 'SELECT count(*) FROM occ_stats'),
	'0', '  for every database');

# Counting goes on after a reset, also in sessions that counted before it.
fails_in($sa, q{SELECT occ_update('docs', 1, 1, '{"title":"after"}')}, 'OC409',
	'A conflicts after the reset');
ok_in($sb, q{UPDATE docs SET title = 'after' WHERE id = 2}, 'B updates after the reset');
is(counters('postgres', 'docs'), '1|0|0|1|0|0|0|0.5|0',
	'docs after the reset: 1 update, 1 conflict');
is( $node->safe_psql(
		'postgres',
		qq{SELECT stats_reset > '$reset_before' FROM occ_stats WHERE table_name = 'docs'}),
	't', 'stats_reset moved forward');
is_deeply(
	rows_of($node, 'postgres', 'SELECT table_name, key, application_name FROM occ_recent_conflicts'),
	[ [ 'docs', '1', 'app_a' ] ],
	'the ring starts again with the new conflict');

# A renamed table is reported under its new name once it has activity again.
ok_in($sa, 'ALTER TABLE docs RENAME TO documents', 'docs is renamed documents');
fails_in($sa, q{SELECT occ_update('documents', 1, 1, '{"title":"renamed"}')}, 'OC409',
	'a conflict on documents');
is_deeply(
	rows_of($node, 'postgres',
		q{SELECT table_name, conflicts FROM occ_stats WHERE relid = 'documents'::regclass}),
	[ [ 'documents', '2' ] ],
	'occ_stats: the same row (counters kept), under the new name');
is( $node->safe_psql('postgres', 'SELECT table_name FROM occ_recent_conflicts LIMIT 1'),
	'documents', 'occ_recent_conflicts: the new name');

# Row history: a stale update merged three ways against a kept version counts as
# a merge, one that conflicts as a conflict, and the ring holds no paths.
$node->safe_psql(
	'postgres', q{
CREATE TABLE hist (id int PRIMARY KEY, title text, doc jsonb);
SELECT occ_enable('hist', history => 3);
INSERT INTO hist VALUES (1, 't', '{"a": {"b": 1, "c": 1}}');
UPDATE hist SET doc = '{"a": {"b": 2, "c": 1}}';
});
is( $node->safe_psql('postgres',
		q{SELECT occ_update('hist', 1, 1, '{"doc": {"a": {"c": 2}}}') ->> 'version'}),
	'3', 'history: a stale occ_update merges against the kept version');
is( $node->safe_psql('postgres',
		q{SELECT occ_try_update('hist', 1, 2, '{"title": "u"}') ->> 'status'}),
	'merged', '  and so does occ_try_update');
fails_in($sa, q{SELECT occ_update('hist', 1, 1, '{"doc": {"a": {"b": 9}}}')}, 'OC409',
	'  a stale change of a path changed since conflicts');
is(counters('postgres', 'hist'), '3|0|2|1|0|0|0|0.25|0',
	'hist: 3 updates (the plain one and the two merged), 2 merges, 1 conflict');
is_deeply(
	rows_of($node, 'postgres',
		q{SELECT key, expected_version, current_version, conflicting_fields FROM occ_recent_conflicts WHERE table_name = 'hist'}),
	[ [ '1', '1', '4', '["doc"]' ] ],
	'  the ring holds the conflict with its column, no paths, no row data');

$sa->quit;
$sb->quit;
$node->stop;

# ---------------------------------------------------------------------------
# Without preloading.

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;

my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION occ');
is($ret, 0, 'CREATE EXTENSION occ works without preloading') or diag $err;
SKIP:
{
	skip 'occ cannot be installed without preloading', 15 if $ret != 0;

	for my $sql (
		'SELECT * FROM occ_stats',
		'SELECT * FROM occ_recent_conflicts',
		'SELECT occ_stats_reset()')
	{
		$e = sql_error($plain, 'postgres', $sql);
		is($e->{sqlstate}, '55000', "without preloading, $sql: 55000");
		like($e->{hint} // '', qr/shared_preload_libraries/, '  with a hint naming shared_preload_libraries');
	}

	# Everything else works.
	$plain->safe_psql(
		'postgres', q{
CREATE TABLE docs (id int PRIMARY KEY, title text);
SELECT occ_enable('docs');
INSERT INTO docs VALUES (1, 'x');
CREATE TABLE orm (id int PRIMARY KEY, name text);
SELECT occ_enable('orm', version_input => 'expected');
INSERT INTO orm VALUES (1, 'x');
CREATE TABLE notes (id int PRIMARY KEY, a text, b text);
SELECT occ_enable('notes', granularity => 'field');
INSERT INTO notes VALUES (1, 'a', 'b');
	});
	is( $plain->safe_psql(
			'postgres', q{SELECT occ_update('docs', 1, 1, '{"title":"y"}')->>'version'}),
		'2', 'occ_update works');
	is(sql_error($plain, 'postgres', q{SELECT occ_update('docs', 1, 1, '{"title":"z"}')})->{sqlstate},
		'OC409', 'a stale occ_update: OC409');
	is( sql_error($plain, 'postgres',
			q{SELECT occ_update_if_match('docs', 1, 'AAAAAAAAAAAAAAAAAAAAAAAA', '{"title":"z"}')})
		  ->{sqlstate},
		'OC412', 'a stale ETag: OC412');
	is(sql_error($plain, 'postgres', q{SELECT occ_delete('docs', 7, 1)})->{sqlstate},
		'OC404', 'a missing row: OC404');
	is(sql_error($plain, 'postgres', q{UPDATE orm SET name = 'y' WHERE id = 1})->{sqlstate},
		'OC428', 'an UPDATE without the version (expected): OC428');
	$plain->safe_psql('postgres', q{SELECT occ_update('notes', 1, 1, '{"a":"a2"}')});
	is( $plain->safe_psql(
			'postgres', q{SELECT occ_update('notes', 1, 1, '{"b":"b2"}')->>'version'}),
		'3', 'a stale update of another field merges');
	is($plain->safe_psql('postgres', 'SELECT occ_delete(\'docs\', 1, 2)->>\'id\''),
		'1', 'occ_delete works');

	# The prefix is reserved once the module is loaded: a placeholder set before
	# is removed with a warning, and SET is refused from then on.
	($ret, $out, $err) = $plain->psql(
		'postgres', q{
SET occ.no_such_setting = 1;
LOAD 'occ';
\set VERBOSITY verbose
SET occ.no_such_setting = 2;
	});
	like($err,
		qr/WARNING:  invalid configuration parameter name "occ\.no_such_setting", removing it/,
		'without preloading, loading occ removes a placeholder occ.* setting');
	like($err, qr/ERROR:  42602: invalid configuration parameter name "occ\.no_such_setting"/,
		'  and SET of it afterwards: 42602');
}

$plain->stop;
done_testing();
