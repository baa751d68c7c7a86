# Extension versions and upgrade scripts.  The versions come from the files in
# sql/ at test time: occ--X.sql installs X, occ--A--B.sql upgrades A to B.
# Starting from the oldest installable version, walk ALTER EXTENSION occ UPDATE
# TO each next version up to occ.control's default_version; after every step
# the extension's objects (functions with their full definitions, views,
# tables, triggers, ACLs, comments, config dumps) must be identical to a fresh
# CREATE EXTENSION of that version in another database, and an enabled table
# with data must keep its versions, ETags, secret and behaviour.  Upgrade
# scripts off that walk are run on their own.  With no upgrade scripts this
# still checks each install script against the default install.  From 1.1 to
# 1.2, history is then turned on for tables enabled under 1.1.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;    # OccTest.pm, whatever prove's -I says
use OccTest;

my $root = "$FindBin::Bin/../..";

# Versions from the repository.
my ($default) = slurp_file("$root/occ.control") =~ /^\s*default_version\s*=\s*'([^']+)'/m;
ok(defined $default, "occ.control has a default_version ($default)");

my (%install, %edges, %all);
opendir(my $dh, "$root/sql") or die "cannot open $root/sql: $!";
for my $f (sort readdir $dh)
{
	if ($f =~ /^occ--(.+?)--(.+)\.sql$/)
	{
		$edges{$1}{$2} = $f;
		$all{$1} = $all{$2} = 1;
	}
	elsif ($f =~ /^occ--(.+)\.sql$/)
	{
		$install{$1} = $f;
		$all{$1} = 1;
	}
}
closedir $dh;

# Version order: numeric by dotted components, then as strings.
sub vcmp
{
	my @a = split /\./, $_[0];
	my @b = split /\./, $_[1];
	while (@a || @b)
	{
		my ($x, $y) = (shift(@a) // -1, shift(@b) // -1);
		my $c =
		  ($x =~ /^\d+$/ && $y =~ /^\d+$/) ? ($x <=> $y) : ($x cmp $y);
		return $c if $c;
	}
	return 0;
}
my @versions = sort { vcmp($a, $b) } keys %all;
my @install_versions = sort { vcmp($a, $b) } keys %install;
note "versions: @versions; install scripts: @install_versions; upgrades: "
  . join(' ', map { my $from = $_; map { "$from->$_" } sort keys %{ $edges{$from} } } sort keys %edges);
ok(@install_versions > 0, 'sql/ has at least one install script');
ok($all{$default}, "the default version $default has a script in sql/");

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

# The installed copies are the repository's (else this would test a stale install).
my $sharedir = $node->safe_psql('postgres',
	q{SELECT setting FROM pg_config() WHERE name = 'SHAREDIR'});
for my $f (sort(values %install), map { values %$_ } values %edges)
{
	my $inst = "$sharedir/extension/$f";
	ok(-f $inst && slurp_file($inst) eq slurp_file("$root/sql/$f"),
		"$f is installed and up to date (make install)");
}
my @offered = split(/\n/,
	$node->safe_psql('postgres',
		q{SELECT version FROM pg_available_extension_versions WHERE name = 'occ'}));
is_deeply([ sort(@offered) ], [ sort(@versions) ],
	'the server offers exactly the versions in sql/');

# Everything that makes up the installed extension, one line per object.
my $objects_q = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'occ'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
       AND d.deptype = 'e')
SELECT pg_describe_object(classid, objid, objsubid) || ' => ' ||
       CASE classid
       WHEN 'pg_proc'::regclass THEN
           (SELECT concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text,
                             obj_description(p.oid, 'pg_proc'),
                             'owner ' || p.proowner::regrole, 'secdef ' || p.prosecdef::text,
                             'leakproof ' || p.proleakproof::text, 'cost ' || p.procost::text,
                             'config ' || p.proconfig::text)
              FROM pg_proc p WHERE p.oid = objid)
       WHEN 'pg_class'::regclass THEN
           (SELECT concat_ws(' | ', 'kind ' || c.relkind::text, c.relacl::text,
                             obj_description(c.oid, 'pg_class'),
                             'owner ' || c.relowner::regrole,
                             'rls ' || c.relrowsecurity::text,
                             CASE WHEN c.relkind IN ('v', 'm')
                                  THEN pg_get_viewdef(c.oid) END,
                             (SELECT string_agg(concat_ws(' ', a.attname,
                                         format_type(a.atttypid, a.atttypmod),
                                         CASE WHEN a.attnotnull THEN 'not null' END,
                                         pg_get_expr(ad.adbin, ad.adrelid),
                                         a.attacl::text,
                                         col_description(c.oid, a.attnum)),
                                         ', ' ORDER BY a.attnum)
                                FROM pg_attribute a
                                LEFT JOIN pg_attrdef ad
                                  ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                               WHERE a.attrelid = c.oid AND a.attnum > 0
                                 AND NOT a.attisdropped),
                             (SELECT string_agg(pg_get_triggerdef(t.oid), '; ' ORDER BY t.tgname)
                                FROM pg_trigger t
                               WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
                             (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; '
                                                ORDER BY i.indexrelid::regclass::text)
                                FROM pg_index i WHERE i.indrelid = c.oid),
                             (SELECT string_agg(conname || ' ' || pg_get_constraintdef(k.oid), '; '
                                                ORDER BY conname)
                                FROM pg_constraint k WHERE k.conrelid = c.oid),
                             (SELECT string_agg(concat_ws(' ', polname, polcmd::text, pg_get_expr(polqual, polrelid)), '; ' ORDER BY polname)
                                FROM pg_policy WHERE polrelid = c.oid))
              FROM pg_class c WHERE c.oid = objid)
       WHEN 'pg_type'::regclass THEN
           (SELECT concat_ws(' | ', format_type(t.oid, NULL), 'type ' || t.typtype::text,
                             t.typacl::text, obj_description(t.oid, 'pg_type'))
              FROM pg_type t WHERE t.oid = objid)
       ELSE ''
       END
  FROM members
UNION ALL
SELECT concat_ws(' | ', 'extension occ', 'schema ' || extnamespace::regnamespace,
                 'relocatable ' || extrelocatable::text, 'owner ' || extowner::regrole,
                 'config ' || extconfig::regclass[]::text, 'condition ' || extcondition::text)
  FROM pg_extension WHERE extname = 'occ'
ORDER BY 1
};

my $dbn = 0;

# A fresh database with occ at $version (CREATE EXTENSION ... VERSION).
sub fresh_db
{
	my ($version) = @_;
	my $db = 'occ_' . ++$dbn;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION occ VERSION '$version'");
	return $db;
}

sub objects_of
{
	my ($db) = @_;
	return [ split /\n/, $node->safe_psql($db, $objects_q) ];
}

# Are the objects of $db those of a fresh install of $version?
sub same_as_fresh
{
	my ($db, $version, $what) = @_;
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'occ'}),
		$version, "$what: extension is at $version");
	note "no sql/occ--$version.sql: the fresh install of $version runs the same upgrade scripts"
	  unless $install{$version};
	my $fresh = fresh_db($version);
	is_deeply(objects_of($db), objects_of($fresh),
		"$what: objects identical to a fresh CREATE EXTENSION occ VERSION '$version'");
}

# Data made by an older version, checked after every upgrade step.
my $data_sql = q{
CREATE TABLE docs (id int PRIMARY KEY, title text, body jsonb);
SELECT occ_enable('docs');
INSERT INTO docs SELECT i, 'doc ' || i, '{}' FROM generate_series(1, 5) i;
SELECT occ_update('docs', 1, 1, '{"title": "one"}');
CREATE TABLE items (sku text PRIMARY KEY, qty int, lock_version integer NOT NULL DEFAULT 1);
SELECT occ_enable('items', 'lock_version', 'tag', 'row', 'next');
INSERT INTO items VALUES ('a', 1);
};
my $state_q = q{
SELECT string_agg(id || ':' || version || ':' || etag, ',' ORDER BY id) FROM docs
UNION ALL SELECT string_agg(sku || ':' || lock_version || ':' || tag, ',') FROM items
UNION ALL SELECT string_agg(table_name || ':' || version_column || ':' || etag_column || ':'
                            || granularity || ':' || version_input, ',' ORDER BY table_name::text)
            FROM occ_tables
UNION ALL SELECT encode(secret, 'hex') FROM occ_secret
};

# 1. Each install script on its own: installs, and (for the default) is what
#    a plain CREATE EXTENSION occ gives.
for my $v (@install_versions)
{
	my $db = fresh_db($v);
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'occ'}),
		$v, "CREATE EXTENSION occ VERSION '$v' installs $v");
	my $objs = join("\n", @{ objects_of($db) });
	like($objs, qr/^function occ_update\(regclass,"any",bigint,jsonb\) => /m,
		"version $v has occ_update");
	like($objs, qr/^view occ_tables => /m, "version $v has occ_tables");
}
{
	my $db = 'occ_' . ++$dbn;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION occ');
	same_as_fresh($db, $default, 'plain CREATE EXTENSION occ');
}

# 2. The walk: oldest install version, then each next version in order.
my %walked;
{
	my $cur = $install_versions[0];
	my $db  = fresh_db($cur);
	$node->safe_psql($db, $data_sql);
	my $state = $node->safe_psql($db, $state_q);
	my %seen = ($cur => 1);
	while ($cur ne $default)
	{
		my @next = sort { vcmp($a, $b) } grep { !$seen{$_} } keys %{ $edges{$cur} || {} };
		my @up = grep { vcmp($_, $cur) > 0 } @next;
		my $to = @up ? $up[0] : $next[0];
		if (!defined $to)
		{
			fail("no upgrade script leads on from $cur towards $default");
			last;
		}
		$node->safe_psql($db, "ALTER EXTENSION occ UPDATE TO '$to'");
		$walked{"$cur--$to"} = 1;
		$seen{$to} = 1;
		same_as_fresh($db, $to, "upgrade $cur -> $to");
		is($node->safe_psql($db, $state_q), $state,
			"upgrade $cur -> $to: versions, ETags, configuration and secret kept");
		$cur = $to;
	}

	# The old data still works under the default version.
	my ($v, $e) = split /\|/, $node->safe_psql($db, 'SELECT version, etag FROM docs WHERE id = 1');
	my ($nv, $ne) = split /\|/, $node->safe_psql($db,
		qq{SELECT r->>'version', r->>'etag' FROM occ_update_if_match('docs', 1, '"$e"', '{"title": "up"}') r});
	is($nv, $v + 1, "after the walk to $cur: occ_update_if_match with an old ETag works");
	isnt($ne, $e, "after the walk to $cur: new ETag");
	is( sql_error($node, $db,
			qq{SELECT occ_update('docs', 1, $v, '{"title": "stale"}')})->{sqlstate},
		'OC409', "after the walk to $cur: stale version conflicts");
	is( $node->safe_psql($db,
			q{UPDATE items SET qty = 2, lock_version = 2 WHERE sku = 'a' AND lock_version = 1 RETURNING lock_version}),
		'2', "after the walk to $cur: version_input next still enforced (accepts read + 1)");
	is(sql_error($node, $db, q{UPDATE items SET qty = 3 WHERE sku = 'a'})->{sqlstate},
		'OC428', "after the walk to $cur: version_input next still enforced (OC428)");
	is($node->safe_psql($db, q{INSERT INTO docs VALUES (6, 'six', '{}') RETURNING version}),
		'1', "after the walk to $cur: INSERT gets version 1");
}

# 3. Upgrade scripts the walk did not use, each on its own.
for my $from (sort { vcmp($a, $b) } keys %edges)
{
	for my $to (sort { vcmp($a, $b) } keys %{ $edges{$from} })
	{
		next if $walked{"$from--$to"};
		my $db = fresh_db($from);
		$node->safe_psql($db, $data_sql);
		my $state = $node->safe_psql($db, $state_q);
		$node->safe_psql($db, "ALTER EXTENSION occ UPDATE TO '$to'");
		same_as_fresh($db, $to, "upgrade script $from -> $to");
		is($node->safe_psql($db, $state_q), $state,
			"upgrade script $from -> $to: data and secret kept");
	}
}

# 3b. Row history (occ 1.2) on tables enabled under 1.1: ALTER EXTENSION occ
#     UPDATE from 1.1, then occ_enable(..., history => N) on an enabled table
#     with data.  The history table is the caller's, not the extension's, so the
#     extension's objects are still those of a fresh install.
if ($all{'1.1'} && vcmp($default, '1.2') >= 0)
{
	my $db = fresh_db('1.1');
	$node->safe_psql($db, $data_sql);
	my $state = $node->safe_psql($db, $state_q);
	$node->safe_psql($db, 'ALTER EXTENSION occ UPDATE');
	is($node->safe_psql($db, $state_q), $state, "1.1 -> $default: data and secret kept");

	# docs 1 is at version 2 from 1.1: history starts with it.
	$node->safe_psql($db, q{SELECT occ_enable('docs', history => 2)});
	is($node->safe_psql($db, q{SELECT history FROM occ_tables WHERE table_name = 'docs'::regclass}),
		'2', "1.1 -> $default: occ_enable(..., history => 2) on a 1.1 table");
	same_as_fresh($db, $default, "1.1 -> $default with a history table");
	is( $node->safe_psql(
			$db, q{
SELECT c.relowner::regrole = current_user::regrole,
       NOT has_table_privilege('public', c.oid, 'SELECT'),
       NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
  FROM pg_class c WHERE c.oid = 'docs_occ_history'::regclass}),
		't|t|t',
		"1.1 -> $default: the history table is the caller's, closed to PUBLIC, no extension member");

	is( $node->safe_psql(
			$db, q{
SET occ.reason = 'after the upgrade';
SELECT occ_update('docs', 1, 2, '{"body": {"a": {"b": 1}}}')->>'version';
SELECT occ_update('docs', 1, 3, '{"title": "four"}')->>'version';
SELECT string_agg(concat_ws(':', version, (changed_at IS NOT NULL)::text,
                            coalesce((changed_by = current_user)::text, '-'),
                            (changes IS NOT NULL)::text), ',' ORDER BY version)
  FROM occ_history('docs', 1)}),
		"3\n4\n2:false:-:false,3:true:true:true,4:true:true:true",
		"1.1 -> $default: updates record history; the version from 1.1 has no when, who or changes");
	is( $node->safe_psql($db,
			q{SELECT string_agg(coalesce(reason, '-'), ',' ORDER BY version) FROM occ_history('docs', 1)}),
		'-,after the upgrade,after the upgrade',
		"1.1 -> $default: and why (occ.reason set first thing in a new session)");
	is( $node->safe_psql($db, q{SELECT occ_row_at('docs', 1, 2)->>'title'}),
		'one', "1.1 -> $default: occ_row_at gives the row as 1.1 left it");
	is( $node->safe_psql(
			$db,
			q{SELECT r->>'version', r->>'title', r->'body' FROM occ_update('docs', 1, 2, '{"body": {"c": 2}}') r}
		),
		'5|four|{"a": {"b": 1}, "c": 2}',
		"1.1 -> $default: a stale update merges against the kept version from 1.1");
	is(sql_error($node, $db, q{SELECT occ_row_at('docs', 1, 2)})->{sqlstate},
		'OC410', "1.1 -> $default: and history => 2 then keeps versions 3 to 5 only");

	# The trigger made by 1.1 fired BEFORE INSERT OR UPDATE; with history it
	# also deletes a row's history with the row.
	$node->safe_psql($db, q{SELECT occ_delete('docs', 1, 5)});
	is($node->safe_psql($db, q{SELECT count(*) FROM docs_occ_history WHERE id = 1}),
		'0', "1.1 -> $default: deleting a row deletes its history");

	# The ORM table from 1.1 (version_input next) takes history too.
	is( $node->safe_psql(
			$db, q{
SELECT occ_enable('items', 'lock_version', 'tag', 'row', 'next', history => 1);
UPDATE items SET qty = 2, lock_version = 2 WHERE sku = 'a' AND lock_version = 1;
SELECT string_agg(version::text, ',' ORDER BY version) FROM occ_history('items', 'a')}),
		"\n1,2",
		"1.1 -> $default: history on a version_input next table from 1.1");

	# Off again: the history table goes.
	$node->safe_psql($db, q{SELECT occ_enable('docs', history => 0)});
	is($node->safe_psql($db, q{SELECT to_regclass('docs_occ_history') IS NULL}),
		't', "1.1 -> $default: history => 0 drops the history table");
	same_as_fresh($db, $default, "1.1 -> $default after history => 0");
}

# 4. Every installable version reaches the default by ALTER EXTENSION occ UPDATE.
for my $v (@install_versions)
{
	next if $v eq $default;
	my $db = fresh_db($v);
	$node->safe_psql($db, 'ALTER EXTENSION occ UPDATE');
	same_as_fresh($db, $default, "ALTER EXTENSION occ UPDATE from $v");
}

$node->stop;
done_testing();
