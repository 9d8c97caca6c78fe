# The regression suite's behaviour tests, run on a Citus cluster (issue 14):
# a coordinator and two workers on localhost, configured as the suite's own
# temporary instance is (test/test.conf).  Every test in test/sql runs on
# the coordinator with pg_regress, with the extension distributed right
# after each CREATE EXTENSION, and must print what test/expected holds for
# one server.  What a cluster answers differently is marked in the test
# itself, between "-- cluster: differs (why)" and "-- cluster: end": those
# lines are left out of both the test and its expected output here, and
# the README lists them.  Skipped where Citus is not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname basename);
use File::Path qw(make_path);
use FindBin;

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => 'Citus is not installed (scripts/install-citus.sh CITUS_SOURCE_TARBALL builds it '
  . 'from source; users install the Citus packages for PostgreSQL 15)'
  unless -f "$libdir/citus.so";

my $src = "$FindBin::Bin/..";
my $db = 'contrib_regression';    # the database pg_regress uses under PGXS

# --- the cluster ---------------------------------------------------------------

my $suite_conf = slurp_file("$src/test.conf");
$suite_conf =~ s/^shared_preload_libraries = 'pg_cron'$/shared_preload_libraries = 'citus,pg_cron'/m
  or die "test/test.conf no longer preloads pg_cron alone: update this test";
my @cluster;
for my $name ('coordinator', 'worker1', 'worker2')
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	# Citus connects between the nodes through their Unix sockets (a node's
	# name is its socket directory), not TCP; few shards keep it quick.
	$node->append_conf('postgresql.conf', $suite_conf . "citus.shard_count = 4\n");
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION citus');
	push @cluster, $node;
}
my ($coord, @workers) = @cluster;
$coord->safe_psql($db, "SELECT citus_set_coordinator_host('" . $coord->host . "', " . $coord->port . ')');
$coord->safe_psql($db, "SELECT citus_add_node('" . $_->host . "', " . $_->port . ')') for @workers;
is($coord->safe_psql($db, 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2',
	'the coordinator sees two active workers');

# --- the tests, for a cluster ---------------------------------------------------

# After each CREATE EXTENSION, on the same line (so that the echo of the
# test and of its expected output change alike): distribute(), quietly,
# where the extension is there (a test may expect CREATE EXTENSION to fail).
# DROP EXTENSION leaves presence_tracking_definer able to log in, which a
# new CREATE EXTENSION refuses (README), so the line takes that back first.
my $distribute = q{SELECT current_setting('client_min_messages') AS pt_cmm \gset \\\\ }
  . q{SET client_min_messages = warning; DO $pt$BEGIN }
  . q{IF to_regprocedure('presence_tracking.distribute()') IS NOT NULL THEN }
  . q{ALTER ROLE presence_tracking_definer LOGIN; PERFORM presence_tracking.distribute(); }
  . q{END IF; END $pt$; SET client_min_messages = :pt_cmm;};
my $nologin = q{DO $pt$BEGIN ALTER ROLE presence_tracking_definer NOLOGIN; }
  . q{EXCEPTION WHEN undefined_object THEN END $pt$;};

sub for_cluster
{
	my ($text, $file) = @_;
	my $regions = () = $text =~ /^-- cluster: differs/mg;
	my $ends = () = $text =~ /^-- cluster: end$/mg;
	die "$file: $regions \"-- cluster: differs\" lines but $ends \"-- cluster: end\" lines"
	  unless $regions == $ends;
	$text =~ s/^-- cluster: differs.*?^-- cluster: end\n//msg;
	$text =~ s/^(CREATE EXTENSION presence_tracking(?:_uuid|_text)?;)$/$nologin $1 $distribute/mg;
	return $text;
}

my $work = PostgreSQL::Test::Utils::tempdir;
make_path("$work/input/sql", "$work/input/expected");
my @tests = map { basename($_, '.sql') } sort glob("$src/sql/*.sql");
my $differing = 0;
for my $test (@tests)
{
	my $sql = slurp_file("$src/sql/$test.sql");
	$differing += () = $sql =~ /^-- cluster: differs/mg;
	for (["sql/$test.sql", $sql], ["expected/$test.out", slurp_file("$src/expected/$test.out")])
	{
		open(my $fh, '>', "$work/input/$_->[0]") or die $!;
		print $fh for_cluster($_->[1], $_->[0]);
		close $fh;
	}
}
note scalar(@tests) . " tests, $differing regions marked as differing on a cluster";

# --- run them ------------------------------------------------------------------

my $pgxs = `pg_config --pgxs`;
chomp $pgxs;
my $pg_regress = dirname(dirname($pgxs)) . '/test/regress/pg_regress';
my $bindir = `pg_config --bindir`;
chomp $bindir;
system($pg_regress, '--use-existing', '--host=' . $coord->host, '--port=' . $coord->port,
	"--dbname=$db", "--bindir=$bindir", "--inputdir=$work/input", "--outputdir=$work/output", @tests);

# Citus names a shard's objects after the table's, with the shard's id: an
# error about a constraint names the shard.  Errors raised on a worker say
# where.  A test's own function in pg_temp is not sent to the workers, and
# Citus says so.  None of these is an answer.
sub comparable
{
	my ($text) = @_;
	$text =~ s/\b([a-z_]+)_1\d{5}\b/$1/g;
	$text =~ s/^CONTEXT:  while executing command on \S+:\d+\n//mg;
	$text =~ s/^WARNING:  "function pg_temp_\d+\.[^"]*" has dependency on unsupported object .*\n^DETAIL:  .* will be created only locally\n//mg;
	return $text;
}

for my $test (@tests)
{
	my $result = "$work/output/results/$test.out";
	my $expected = "$work/input/expected/$test.out";
	my $same = -f $result && comparable(slurp_file($result)) eq comparable(slurp_file($expected));
	ok($same, "$test: the cluster prints what one server prints");
	diag(`diff -u '$expected' '$result' | head -80`) unless $same;
}

# Each test dropped what it made: nothing of the extension is left anywhere.
for my $node (@cluster)
{
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_class WHERE relname ~ '^(presence|artifact_)'}),
		'0', $node->name . ': no table or shard of the extension is left');
}

done_testing();
