# Storm: 16 pgbench clients call record_view() on hot and random keys at
# once.  Afterwards, for every (user, version): view_count equals the ledger
# rows, and no two sessions are closer than the debounce (no duplicates).
# The hand-written "select, then insert" record_view of
# bench/handwritten.sql runs the same storm and double-counts.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceInvariants;

my $seconds = $ENV{PT_STORM_SECONDS} // 10;
my $node = PostgreSQL::Test::Cluster->new('storm');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 40\nsynchronous_commit = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION presence_tracking');

# Hot keys: 3 users x 3 versions, contended by every client.  Random keys:
# 3000 users x 40 other versions (a version belongs to one artifact).  Fresh keys: 3 users x 3 versions that change
# every 100 ms, so that all clients race on first views all the time.
my $script = sub {
	my ($call) = @_;
	my $hot = "${PostgreSQL::Test::Utils::tmp_check}/storm_hot_$call.sql";
	my $random = "${PostgreSQL::Test::Utils::tmp_check}/storm_random_$call.sql";
	append_to_file($hot, "\\set u random(1, 3)\n\\set v random(1, 3)\nSELECT $call(:u, (:v - 1) / 2 + 1, :v);\n");
	append_to_file($random, "\\set u random(1, 3000)\n\\set v random(1, 40)\nSELECT $call(:u, (:v - 1) / 4 + 1, :v + 100);\n");
	my $fresh = "${PostgreSQL::Test::Utils::tmp_check}/storm_fresh_$call.sql";
	append_to_file($fresh, "\\set u random(1, 3)\n\\set v random(1, 3)\n"
		  . "SELECT $call(:u, 9, 10000000 + (extract(epoch from clock_timestamp()) * 10)::bigint % 1000000 * 10 + :v);\n");
	return ("--file=$hot\@1", "--file=$random\@2", "--file=$fresh\@1");
};

# Runs the storm; returns the number of calls.
sub storm
{
	my ($call) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbench', '--no-vacuum', '--client=16', '--jobs=2', "--time=$seconds",
			$script->($call), '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err)
	  or die "pgbench failed: $err";
	my ($calls) = $out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	is($failed // 0, 0, "$call: no call failed");
	return $calls;
}

my $calls = storm('presence_tracking.record_view');
my ($ledger, $counted, $pairs) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM presence_tracking.artifact_views),
	       (SELECT sum(view_count) FROM presence_tracking.artifact_version_stats),
	       (SELECT count(*) FROM presence_tracking.artifact_version_stats)});
my $dups = duplicate_sessions($node, 'presence_tracking.artifact_views', '1 hour');
diag("record_view storm, 1 h debounce: calls $calls, ledger rows $ledger, "
	  . "sum(view_count) $counted, (user, version) pairs $pairs, duplicate sessions $dups");
cmp_ok($calls, '>', 1000, 'the storm made many calls');
is($ledger, $pairs, 'one session per (user, version) inside the debounce');
is($counted, $ledger, 'sum(view_count) equals the ledger rows');
is($dups, 0, 'no duplicate sessions');

is(tier_violations($node), '0', 'every (user, version) agrees with its ledger and access row');

# Again with a 1 s debounce, so that sessions open all the time on the hot
# keys and calls race across the debounce edge.
$node->safe_psql('postgres', q{
	LOAD 'presence_tracking';
	ALTER SYSTEM SET presence_tracking.heartbeat_interval = '1s';
	ALTER SYSTEM SET presence_tracking.view_debounce = '1s';
	SELECT pg_reload_conf();});
$calls = storm('presence_tracking.record_view');
($ledger, $counted) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM presence_tracking.artifact_views),
	       (SELECT sum(view_count) FROM presence_tracking.artifact_version_stats)});
$dups = duplicate_sessions($node, 'presence_tracking.artifact_views', '1 second');
diag("record_view storm, 1 s debounce: calls $calls, ledger rows $ledger, "
	  . "sum(view_count) $counted, duplicate sessions $dups");
is($counted, $ledger, 'sum(view_count) equals the ledger rows (1 s debounce)');
is($dups, 0, 'no two sessions closer than the debounce');
is(tier_violations($node), '0', 'every (user, version) still agrees');

# Release 1.4: the day rows and the engagement rollup agree with the ledger
# after the storm, before and after the fold.
is($node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.check_consistency()'),
	'0', 'check_consistency: day rows and engagement equal the ledger after the storm');
$node->safe_psql('postgres', 'SELECT presence_tracking.fold_engagement()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.check_consistency()'),
	'0', 'check_consistency: still after the fold');

# A planted violation of each tier is found, and rebuild_stats() repairs it
# while the storm goes on (with folds beside it); afterwards all agree.
$node->safe_psql('postgres', q{
	UPDATE presence_tracking.artifact_version_stats SET view_count = view_count + 3 WHERE user_id BETWEEN 1 AND 3;
	UPDATE presence_tracking.artifact_engagement SET views = views + 5, unique_viewers = unique_viewers + 1;
	DELETE FROM presence_tracking.artifact_access WHERE user_id BETWEEN 10 AND 20;
	UPDATE presence_tracking.artifact_view_days SET views = views + 2 WHERE user_id BETWEEN 30 AND 40;});
my $planted = $node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT violation, ', ' ORDER BY violation) FROM presence_tracking.check_consistency()});
is($planted, 'access time <> latest aggregate time, day rows <> ledger rows, engagement <> ledger, view_count <> ledger rows',
	'check_consistency finds each planted violation');
my ($out, $err) = ('', '');
my $background = IPC::Run::start(
	[ 'pgbench', '--no-vacuum', '--client=12', '--jobs=2', "--time=$seconds",
		$script->('presence_tracking.record_view'), '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
sleep 1;
my $rebuilds = 0;
for my $round (1 .. 3)
{
	$node->safe_psql('postgres', 'SELECT presence_tracking.fold_engagement()');
	$node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.rebuild_stats()');
	$node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.rebuild_stats(2)');
	$rebuilds += 2;
}
$background->finish or die "pgbench failed: $err";
my ($failed) = $out =~ /number of failed transactions: (\d+)/;
is($failed // 0, 0, "record_view beside $rebuilds rebuilds: no call failed");
is($node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.check_consistency()'),
	'0', 'check_consistency: every planted violation repaired, none made, while the storm ran');
is(tier_violations($node), '0', 'every (user, version) agrees after the online rebuild');

my ($indexes, $checked) = indexes_verified($node);
is($checked, $indexes, "amcheck: the $indexes indexes are sound and hold every row");

# The hand-written naive version under the same storm.
SKIP:
{
	# bench/handwritten.sql in this repository (PT_BASELINE: another file).
	my $baseline = $ENV{PT_BASELINE} // "$FindBin::Bin/../../bench/handwritten.sql";
	skip 'no hand-written baseline (PT_BASELINE)', 2 unless -f $baseline;
	$node->safe_psql('postgres', slurp_file($baseline));
	$calls = storm('handwritten.record_view_naive');
	my $naive_dups = duplicate_sessions($node, 'handwritten.views', '1 hour');
	diag("handwritten.record_view_naive storm: calls $calls, duplicate sessions $naive_dups");
	cmp_ok($naive_dups, '>', 0, 'the hand-written select-then-insert version double-counts');
}

$node->stop;
done_testing();
