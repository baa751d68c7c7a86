# OccTest.pm: small helpers shared by occ's TAP tests (test/t/*.pl).
# Found through PROVE_FLAGS = -I ./test/t; everything else comes from
# PostgreSQL::Test::Cluster and PostgreSQL::Test::Utils.
package OccTest;

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();

our @EXPORT = qw(sql_error rows_of decode_detail);

# Runs $sql (expected to fail) on $node with verbose error reporting and
# returns a hash of the error's fields: sqlstate, message, detail, hint,
# schema, table, column, plus the raw stderr and psql's exit code.  Extra
# arguments go to $node->psql (for instance connstr => ... to go through a
# pooler).  Nothing is stopped on error, so $sql may hold several statements;
# the first error is reported.
sub sql_error
{
	my ($node, $dbname, $sql, %params) = @_;
	my ($stdout, $stderr) = ('', '');
	my $ret = $node->psql(
		$dbname, "\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 1,
		%params);
	my %e = (ret => $ret, stderr => $stderr, stdout => $stdout);
	($e{sqlstate}, $e{message}) = $stderr =~ /ERROR:\s+([0-9A-Z]{5}):\s+(.*)$/m;
	($e{detail}) = $stderr =~ /^DETAIL:\s+(.*)$/m;
	($e{hint})   = $stderr =~ /^HINT:\s+(.*)$/m;
	($e{schema}) = $stderr =~ /^SCHEMA NAME:\s+(.*)$/m;
	($e{table})  = $stderr =~ /^TABLE NAME:\s+(.*)$/m;
	($e{column}) = $stderr =~ /^COLUMN NAME:\s+(.*)$/m;
	$e{sqlstate} //= '';
	return \%e;
}

# The JSON DETAIL of an OC error as a Perl hash (undef if it is not JSON).
sub decode_detail
{
	my ($detail) = @_;
	return undef unless defined $detail;
	my $h = eval { JSON::PP->new->decode($detail) };
	return $h;
}

# safe_psql's output as a list of rows, each a list of columns (psql -A's
# '|' separator; fine for the simple values these tests compare).
sub rows_of
{
	my ($node, $dbname, $sql) = @_;
	my $out = $node->safe_psql($dbname, $sql);
	return [ map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out ];
}

1;
