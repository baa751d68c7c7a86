# Crash safety: concurrent conditional writes on a few hot rows, the server
# killed in the middle (immediate stop = no shutdown checkpoint, WAL replay on
# restart), then every committed increment must be accounted for exactly once
# in the row's counter, version and ETag, and nothing uncommitted may show.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->start;

# Four tables (one per version_input mode, one with field granularity), three
# hot rows each.  Every successful change inserts (table, id, what changed,
# new version, new etag, note) into changes in the same transaction.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION occ;
CREATE TABLE t_ignore (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
SELECT occ_enable('t_ignore');
CREATE TABLE t_next (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0,
                     lock_version integer NOT NULL DEFAULT 1);
SELECT occ_enable('t_next', 'lock_version', 'etag', 'row', 'next');
CREATE TABLE t_expected (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
SELECT occ_enable('t_expected', version_input => 'expected');
CREATE TABLE t_field (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, note text);
SELECT occ_enable('t_field', granularity => 'field');
INSERT INTO t_ignore (id) SELECT generate_series(1, 3);
INSERT INTO t_next (id) SELECT generate_series(1, 3);
INSERT INTO t_expected (id) SELECT generate_series(1, 3);
INSERT INTO t_field (id) SELECT generate_series(1, 3);

CREATE TABLE changes (
    tbl regclass, id int, kind text NOT NULL DEFAULT 'n', version bigint, etag text,
    note text, PRIMARY KEY (tbl, id, version));
CREATE TABLE initial_etags AS
    SELECT etag FROM t_ignore UNION ALL SELECT etag FROM t_next
    UNION ALL SELECT etag FROM t_expected UNION ALL SELECT etag FROM t_field;

-- The API client: read, occ_update with the version read, re-read and retry
-- on OC409.
CREATE FUNCTION api_bump(tbl regclass, vcol text, k int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
    cur bigint;
    r jsonb;
BEGIN
    LOOP
        EXECUTE format('SELECT %I, n FROM %s WHERE id = $1', vcol, tbl)
            INTO v, cur USING k;
        IF tbl = 't_field'::regclass THEN
            -- field granularity merges a stale write that sets n to the value
            -- another client already set ("unchanged": this increment was not
            -- applied): re-read and retry, as on a conflict
            r := occ_try_update(tbl, k, v, jsonb_build_object('n', cur + 1));
            IF r ->> 'status' IN ('updated', 'merged') THEN
                r := r -> 'row';
                EXIT;
            END IF;
        ELSE
            BEGIN
                r := occ_update(tbl, k, v, jsonb_build_object('n', cur + 1));
                EXIT;
            EXCEPTION WHEN SQLSTATE 'OC409' THEN
                NULL;   -- someone else won: re-read and retry
            END;
        END IF;
    END LOOP;
    INSERT INTO changes (tbl, id, version, etag)
        VALUES (tbl, k, (r ->> vcol)::bigint, r ->> 'etag');
END $$;

-- The ORM client (Hibernate/Rails style): read, then
-- UPDATE ... SET n = <read n + 1>, version = <read version + delta>
--   WHERE id = ? AND version = <read version>; 0 rows means re-read and retry.
CREATE FUNCTION orm_bump(tbl regclass, vcol text, delta int, k int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
    cur bigint;
    nv bigint;
    e text;
BEGIN
    LOOP
        EXECUTE format('SELECT %I, n FROM %s WHERE id = $1', vcol, tbl)
            INTO v, cur USING k;
        EXECUTE format('UPDATE %s SET n = $2, %I = $3 WHERE id = $1 AND %I = $4
                        RETURNING %I, etag', tbl, vcol, vcol, vcol)
            INTO nv, e USING k, cur + 1, v + delta, v;
        EXIT WHEN nv IS NOT NULL;
    END LOOP;
    INSERT INTO changes (tbl, id, version, etag) VALUES (tbl, k, nv, e);
END $$;

-- A field-granularity client that sends a stale version on purpose, patching
-- only note: occ merges it when note did not change since that version, and
-- raises OC409 otherwise (then nothing is recorded, no retry).
CREATE FUNCTION note_bump(k int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
    txt text := 'note ' || pg_backend_pid() || ' ' || clock_timestamp();
    r jsonb;
BEGIN
    SELECT version INTO v FROM t_field WHERE id = k;
    r := occ_update('t_field', k, greatest(v - 1, 1), jsonb_build_object('note', txt));
    INSERT INTO changes VALUES ('t_field', k, 'note', (r ->> 'version')::bigint,
                                r ->> 'etag', txt);
EXCEPTION WHEN SQLSTATE 'OC409' THEN
    NULL;
END $$;
});

# pgbench scripts: every kind of client on every table, on 3 hot rows.
my %scripts = (
	'api_ignore.sql' =>
	  "\\set id random(1, 3)\nSELECT api_bump('t_ignore', 'version', :id);\n",
	'orm_ignore.sql' =>
	  "\\set id random(1, 3)\nSELECT orm_bump('t_ignore', 'version', 1, :id);\n",
	'api_next.sql' =>
	  "\\set id random(1, 3)\nSELECT api_bump('t_next', 'lock_version', :id);\n",
	'orm_next.sql' =>
	  "\\set id random(1, 3)\nSELECT orm_bump('t_next', 'lock_version', 1, :id);\n",
	'api_expected.sql' =>
	  "\\set id random(1, 3)\nSELECT api_bump('t_expected', 'version', :id);\n",
	'orm_expected.sql' =>
	  "\\set id random(1, 3)\nSELECT orm_bump('t_expected', 'version', 0, :id);\n",
	'api_field.sql' =>
	  "\\set id random(1, 3)\nSELECT api_bump('t_field', 'version', :id);\n",
	'orm_field.sql' =>
	  "\\set id random(1, 3)\nSELECT orm_bump('t_field', 'version', 1, :id);\n",
	'note_field.sql' =>
	  "\\set id random(1, 3)\nSELECT note_bump(:id);\n",
);
my @file_opts;
for my $name (sort keys %scripts)
{
	my $path = $node->basedir . "/$name";
	append_to_file($path, $scripts{$name});
	push @file_opts, '-f', $path;
}

# A quick sanity run first: the scripts work (no client errors) before any crash.
$node->command_ok(
	[ 'pgbench', '-n', '-c', '2', '-t', '10', @file_opts, 'postgres' ],
	'pgbench scripts run cleanly');

# Now the real load, killed in the middle.
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '6', '-j', '2', '-T', '120',
		'-h', $node->host, '-p', $node->port, @file_opts, 'postgres'
	],
	'>', \$out, '2>', \$err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

ok( $node->poll_query_until('postgres',
		'SELECT count(*) >= 400 FROM changes'),
	'load is running');
$node->stop('immediate');
eval { $pgbench->finish; };
$pgbench->kill_kill if $@;
like($err, qr/server|connection|terminat|abort/i,
	'pgbench lost its connections at the crash');

$node->start;
ok($node->log_contains('database system was not properly shut down'),
	'restart went through crash recovery');

# The invariants, per row.
my $bad = $node->safe_psql(
	'postgres', q{
WITH r AS (
    SELECT 't_ignore'::regclass AS tbl, id, n, version::bigint AS version, etag, NULL AS note
      FROM t_ignore
    UNION ALL
    SELECT 't_next', id, n, lock_version, etag, NULL FROM t_next
    UNION ALL
    SELECT 't_expected', id, n, version, etag, NULL FROM t_expected
    UNION ALL
    SELECT 't_field', id, n, version, etag, note FROM t_field),
 c AS (
    SELECT tbl, id, count(*) AS cnt, count(*) FILTER (WHERE kind = 'n') AS n_cnt,
           max(version) AS maxv,
           (array_agg(etag ORDER BY version DESC))[1] AS last_etag,
           (array_agg(note ORDER BY version DESC) FILTER (WHERE kind = 'note'))[1] AS last_note
      FROM changes GROUP BY tbl, id)
SELECT r.tbl, r.id, r.n, r.version, c.cnt, c.n_cnt, c.maxv
  FROM r LEFT JOIN c USING (tbl, id)
 WHERE r.n <> coalesce(c.n_cnt, 0)
    OR r.version <> 1 + coalesce(c.cnt, 0)
    OR r.version <> coalesce(c.maxv, 1)
    OR r.etag IS NULL
    OR (c.cnt > 0 AND r.etag <> c.last_etag)
    OR r.note IS DISTINCT FROM c.last_note
});
is($bad, '',
	'every row: n = recorded increments, version = 1 + recorded changes, ETag and note = last recorded ones'
);

my ($total, $per_table, $notes) = split /\|/, $node->safe_psql(
	'postgres', q{
SELECT count(*), count(DISTINCT tbl), count(*) FILTER (WHERE kind = 'note') FROM changes});
cmp_ok($total, '>=', 400, "at least 400 committed changes survived ($total)");
is($per_table, 4, 'all four tables were written');
cmp_ok($notes, '>', 0, "stale field-granularity updates were merged ($notes)");

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = count(DISTINCT etag) FROM (
    SELECT etag FROM initial_etags UNION ALL SELECT etag FROM changes) e}),
	't',
	'no ETag was ever handed out twice (initial ones included)');

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
    SELECT etag FROM t_ignore UNION SELECT etag FROM t_next
    UNION SELECT etag FROM t_expected UNION SELECT etag FROM t_field) e}),
	'12', 'the 12 rows have 12 distinct ETags');

# After recovery occ keeps working: the current version succeeds, a stale one
# conflicts.
my ($v, $etag) = split /\|/,
  $node->safe_psql('postgres', 'SELECT version, etag FROM t_ignore WHERE id = 1');
my $res = $node->safe_psql('postgres',
	"SELECT r->>'version', r->>'etag' FROM occ_update('t_ignore', 1, $v, '{\"n\": -1}') r");
my ($v2, $etag2) = split /\|/, $res;
is($v2, $v + 1, 'occ_update after recovery bumps the version');
isnt($etag2, $etag, 'and changes the ETag');
is( sql_error($node, 'postgres',
		"SELECT occ_update('t_ignore', 1, $v, '{\"n\": -2}')")->{sqlstate},
	'OC409',
	'a stale version after recovery gets OC409');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM changes WHERE etag = '$etag2'"),
	'0',
	'the new ETag is not one handed out before the crash');

$node->stop;
done_testing();
