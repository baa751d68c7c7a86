# occ behind pgbouncer in transaction pooling mode: consecutive transactions of
# one client land on whatever server connection is free, so nothing may rely
# on backend-local state between calls.  Every public function works through
# the pooler, conflicts reach the client with the same SQLSTATE, DETAIL, HINT
# and diagnostic fields as on a direct connection, and concurrent clients over
# the extended protocol lose no update.
use strict;
use warnings;

use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

# Find pgbouncer (Debian installs it in /usr/sbin).
my ($pgbouncer) =
  grep { -x $_ }
  map { File::Spec->catfile($_, 'pgbouncer') }
  (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin');
plan skip_all => 'pgbouncer is not installed (Debian package pgbouncer)'
  unless $pgbouncer;
plan skip_all => 'pgbouncer refuses to run as root' if $> == 0;

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE occdb');
$node->safe_psql('occdb', 'CREATE EXTENSION occ');
my $user = $node->safe_psql('postgres', 'SELECT current_user');

# pgbouncer: unix socket only, in a short private directory; one server
# connection per pool so that clients visibly share it.
my $dir     = PostgreSQL::Test::Utils::tempdir;
my $sockdir = PostgreSQL::Test::Utils::tempdir_short;
my $port    = PostgreSQL::Test::Cluster::get_free_port();
my $host    = $node->host;
my $nport   = $node->port;
append_to_file("$dir/userlist.txt", qq{"$user" ""\n});
append_to_file(
	"$dir/pgbouncer.ini", qq{
[databases]
occdb = host=$host port=$nport dbname=occdb
[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $sockdir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $user
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
});

my ($bout, $berr) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'>', \$bout, '2>', \$berr);
END { $bouncer->kill_kill if $bouncer && $bouncer->pumpable; }

my $via = "host=$sockdir port=$port dbname=occdb user=$user";

# psql through the pooler: stdout, dies on error.
sub pooled
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('occdb', $sql, connstr => $via, stdout => \$out,
		stderr => \$err);
	die "psql via pgbouncer failed: $err\nwhile running: $sql" if $ret;
	return $out;
}

my $up = 0;
for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
{
	my ($ret) = $node->psql('occdb', 'SELECT 1', connstr => $via);
	if ($ret == 0) { $up = 1; last; }
	die "pgbouncer exited: $berr" unless $bouncer->pumpable;
	select(undef, undef, undef, 0.1);
}
ok($up, 'pgbouncer accepts connections') or BAIL_OUT("pgbouncer did not start: $berr");

# Transaction pooling is really on: a client that stays connected does not
# keep the only server connection, the next client gets the same backend.
my ($idle_in, $idle_out, $idle_err) = ("SELECT pg_backend_pid();\n", '', '');
my $idle = IPC::Run::start([ 'psql', '-XAtq', '-d', $via, '-f', '-' ],
	'<', \$idle_in, '>', \$idle_out, '2>', \$idle_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$idle->pump until $idle_out =~ /^\d+\n/ || $idle_err ne '';
my ($pid1) = $idle_out =~ /^(\d+)/;
is(pooled('SELECT pg_backend_pid()'), $pid1,
	'a second client shares the server connection of a connected idle client');
$idle_in .= "\\q\n";
$idle->finish;

# Every public function through the pooler, one transaction each.
pooled(q{
CREATE TABLE docs (id int PRIMARY KEY, title text, body jsonb);
CREATE TABLE items (sku text PRIMARY KEY, qty int, lock_version integer NOT NULL DEFAULT 1);
CREATE TABLE notes (id int PRIMARY KEY, a text, b text);
});
pooled(q{SELECT occ_enable('docs')});
pooled(q{SELECT occ_enable('notes', granularity => 'field')});
pooled(q{SELECT occ_enable('items', 'lock_version', 'tag', 'row', 'next')});
is( pooled(q{SELECT string_agg(table_name || ':' || version_column || ':' || version_input, ',' ORDER BY table_name::text) FROM occ_tables}),
	'docs:version:ignore,items:lock_version:next,notes:version:ignore',
	'occ_enable through pgbouncer');
pooled(q{INSERT INTO docs SELECT i, 'doc ' || i, '{"a": 1}' FROM generate_series(1, 5) i});
pooled(q{INSERT INTO items VALUES ('a', 1), ('b', 2)});
pooled(q{INSERT INTO notes VALUES (1, 'a', 'b')});

is( pooled(q{SELECT r->>'version' || ' ' || (r->>'title') || ' ' || (r->'body')::text FROM occ_update('docs', 1, 1, '{"title": "one", "body": {"b": 2}}') r}),
	'2 one {"a": 1, "b": 2}',
	'occ_update through pgbouncer');
my $e1 = pooled('SELECT etag FROM docs WHERE id = 1');
my ($v3, $e3) = split /\|/,
  pooled(qq{SELECT r->>'version', r->>'etag' FROM occ_update_if_match('docs', 1, '"$e1"', '{"title": "uno"}') r});
is($v3, '3', 'occ_update_if_match through pgbouncer');
isnt($e3, $e1, 'occ_update_if_match through pgbouncer gives a new ETag');
is( $node->safe_psql('occdb', 'SELECT version, etag, title FROM docs WHERE id = 1'),
	"3|$e3|uno", 'a direct connection sees the pooled writes');
is(pooled(q{SELECT occ_delete('docs', 2, 1)->>'id'}), '2', 'occ_delete through pgbouncer');
my $e4 = pooled('SELECT etag FROM docs WHERE id = 4');
is(pooled(qq{SELECT occ_delete_if_match('docs', 4, '"$e4"')->>'id'}),
	'4', 'occ_delete_if_match through pgbouncer');
is(pooled('SELECT string_agg(id::text, \',\' ORDER BY id) FROM docs'),
	'1,3,5', 'the deletes happened');
is( pooled(q{SELECT occ_merge_patch('{"a": {"b": 1, "c": 2}, "d": 3}', '{"a": {"b": null}, "e": 4}')}),
	'{"a": {"c": 2}, "d": 3, "e": 4}',
	'occ_merge_patch through pgbouncer');
is( pooled(q{UPDATE items SET qty = 5, lock_version = 2 WHERE sku = 'a' AND lock_version = 1 RETURNING lock_version}),
	'2', 'ORM-style update with version_input next through pgbouncer');
is(pooled(q{SELECT occ_update('items', 'b', 1, '{"qty": 7}')->>'lock_version'}),
	'2', 'occ_update with a custom version column through pgbouncer');

is( pooled(q{SELECT r->>'status' || ' ' || (r->>'current_version') FROM occ_try_update('docs', 1, 1, '{"title": "stale"}') r}),
	'conflict 3',
	'occ_try_update reports a conflict through pgbouncer');
is( pooled(q{SELECT string_agg(r->>'version', ',') FROM occ_update_many('docs', '[{"id": 3, "version": 1, "patch": {"title": "x"}}, {"id": 5, "version": 1, "patch": {"title": "y"}}]') r}),
	'2,2',
	'occ_update_many through pgbouncer');
pooled(q{SELECT occ_update('notes', 1, 1, '{"a": "a2"}')});
is(pooled(q{SELECT occ_update('notes', 1, 1, '{"b": "b2"}')->>'version'}),
	'3', 'field granularity merges a stale update through pgbouncer');

# Errors: the pooled client sees exactly what a direct client sees.
my %cases = (
	OC409 => [ q{SELECT occ_update('docs', 1, 1, '{"title": "stale"}')},
		[qw(current_etag current_version expected_version key table)] ],
	'OC409 field' => [ q{SELECT occ_update('notes', 1, 1, '{"a": "stale"}')},
		[qw(changed_fields conflicting_fields current_etag current_version expected_version key table)] ],
	OC412 => [ qq{SELECT occ_update_if_match('docs', 1, '"$e1"', '{"title": "stale"}')},
		[qw(current_etag current_version expected_etag key table)] ],
	OC404 => [ q{SELECT occ_delete('docs', 2, 1)}, [qw(key table)] ],
	OC428 => [ q{UPDATE items SET qty = 0 WHERE sku = 'a'}, undef ],);
for my $case (sort keys %cases)
{
	my ($sql, $keys) = @{ $cases{$case} };
	my ($code) = $case =~ /^(\S+)/;
	my $d = sql_error($node, 'occdb', $sql);
	my $p = sql_error($node, 'occdb', $sql, connstr => $via);
	is($d->{sqlstate}, $code, "$case: direct connection gets $code");
	is($p->{sqlstate}, $code, "$case: pgbouncer client gets $code")
	  or diag($p->{stderr});
	for my $f (qw(message detail hint schema table column))
	{
		is($p->{$f}, $d->{$f}, "$case: same $f through pgbouncer");
	}
	my $dd = decode_detail($d->{detail});
	my $pd = decode_detail($p->{detail});
	ok($pd, "$case: DETAIL through pgbouncer is JSON");
	is_deeply([ sort keys %{ $pd || {} } ], [ sort keys %{ $dd || {} } ],
		"$case: same DETAIL keys through pgbouncer");
	is_deeply([ sort keys %$pd ], $keys, "$case: DETAIL keys are @$keys")
	  if $keys;
}
is($node->safe_psql('occdb', 'SELECT version FROM docs WHERE id = 1'),
	'3', 'the failed calls changed nothing');

# Concurrency over the extended protocol: 4 clients, 1 server connection,
# read and conditional write in separate transactions (so usually on a
# different turn of the pooled connection).  No update may be lost.
$node->safe_psql(
	'occdb', q{
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
SELECT occ_enable('counters');
INSERT INTO counters (id) SELECT generate_series(1, 3);
CREATE TABLE increments (id int, version bigint, etag text, PRIMARY KEY (id, version));
CREATE FUNCTION try_bump(k int, v bigint, cur bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    r := occ_update('counters', k, v, jsonb_build_object('n', cur + 1));
    INSERT INTO increments VALUES (k, (r->>'version')::bigint, r->>'etag');
    RETURN true;
EXCEPTION WHEN SQLSTATE 'OC409' THEN
    RETURN false;
END $$;
});
my $script = $node->basedir . '/bump.sql';
append_to_file($script, q{\set id random(1, 3)
SELECT version AS v, n AS cur FROM counters WHERE id = :id \gset
SELECT try_bump(:id, :v, :cur);
});
command_ok(
	[
		'pgbench', '-n', '-M', 'extended', '-c', '4', '-j', '2', '-t', '50',
		'-h', $sockdir, '-p', $port, '-U', $user, '-f', $script, 'occdb'
	],
	'pgbench (extended protocol) through pgbouncer');
is( $node->safe_psql(
		'occdb', q{
SELECT count(*) FROM counters c
  LEFT JOIN (SELECT id, count(*) AS cnt, max(version) AS maxv FROM increments GROUP BY id) i
  USING (id)
 WHERE c.n <> coalesce(i.cnt, 0) OR c.version <> 1 + coalesce(i.cnt, 0)}),
	'0',
	'every row: n = successful increments and version = 1 + increments');
cmp_ok($node->safe_psql('occdb', 'SELECT count(*) FROM increments'),
	'>', 0, 'some increments succeeded');
is($node->safe_psql('occdb', 'SELECT count(*) = count(DISTINCT etag) FROM increments'),
	't', 'every increment got its own ETag');

$bouncer->signal('TERM');
$bouncer->finish;
ok(!$bouncer->pumpable, 'pgbouncer stopped');
undef $bouncer;
$node->stop;
done_testing();
