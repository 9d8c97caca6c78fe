# Crash recovery: under a mixed load of record_view() and heartbeat(), the
# server is killed with SIGKILL.  After crash recovery the three tiers of
# view tracking agree (view_count = ledger rows, first_viewed_at = first
# session, an access row for every stats row), the functions work at once,
# and presence, an UNLOGGED table, is empty.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceInvariants;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# The load would fill the log with its statements.
$node->append_conf('postgresql.conf', "log_statement = none\n");
$node->start;

# Without pg_cron the install script only warns about the purge job.
$node->safe_psql('postgres', 'CREATE EXTENSION presence_tracking');
# A short debounce, so that the load opens new sessions all the time.  In
# PostgreSQL 15 ALTER SYSTEM refuses a custom parameter its session does not
# know, so the library is loaded first.
$node->safe_psql('postgres',
	q{LOAD 'presence_tracking'; ALTER SYSTEM SET presence_tracking.view_debounce = '1s'});
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('presence_tracking.view_debounce') = '1s'})
  or die 'view_debounce was not reloaded';

# 200 users x 20 versions, five versions per artifact, times now().
my $basedir = $node->basedir;
PostgreSQL::Test::Utils::append_to_file(
	"$basedir/record_view.sql", q{
\set u random(1, 200)
\set v random(1, 20)
\set a (:v - 1) / 5 + 1
SELECT presence_tracking.record_view(:u, :a, :v);
});
PostgreSQL::Test::Utils::append_to_file(
	"$basedir/heartbeat.sql", q{
\set u random(1, 200)
\set v random(1, 20)
\set a (:v - 1) / 5 + 1
SELECT presence_tracking.heartbeat(:u, :a, :v);
});

my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '8', '-j', '2', '-T', '30',
		'-f', "$basedir/record_view.sql\@3",
		'-f', "$basedir/heartbeat.sql\@1",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err,
	IPC::Run::timeout(180));

# About five seconds of load, and make sure it really ran.
sleep 5;
my $before = $node->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM presence_tracking.artifact_views) || ' '
	      || (SELECT count(*) FROM presence_tracking.presence)});
my ($ledger_before, $presence_before) = split / /, $before;
note("before the crash: $ledger_before ledger rows (committed so far), $presence_before presence rows");
cmp_ok($ledger_before, '>', 0, 'the load has recorded views');
cmp_ok($presence_before, '>', 0, 'the load has recorded presence');

# pg_ctl makes the postmaster a session and process group leader and every
# server process inherits its group: SIGKILL the whole group at once (the
# postmaster with it), so no backend lives on to commit after the "crash";
# $node->kill9 then records that the node is down.
my $pid = PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid');
($pid) = $pid =~ /^(\d+)/;
my $stat = PostgreSQL::Test::Utils::slurp_file("/proc/$pid/stat");
my ($pgid) = $stat =~ /\)\s+\S+\s+\d+\s+(\d+)/;
is($pgid, $pid, 'the postmaster leads its process group');
kill '-KILL', $pgid;
$node->kill9;
for (my $i = 0; $i < 300 && kill(0, -$pgid); $i++)
{
	usleep(100_000);
}
ok(!kill(0, -$pgid), 'every server process is gone');

$pgbench->finish;    # the clients lost their connections
my @err_lines = split /\n/, $err;
note("pgbench stderr (last lines):\n" . join("\n", @err_lines[ ($#err_lines > 2 ? $#err_lines - 2 : 0) .. $#err_lines ]))
  if @err_lines;

my $log_offset = -s $node->logfile;
$node->start;
ok( $node->log_contains(
		qr/database system was (interrupted|not properly shut down)/, $log_offset),
	'the restart ran crash recovery');

# The functions work at once.  User 1000 is outside the load's key space.
is( $node->safe_psql(
		'postgres',
		q{SELECT presence_tracking.record_view(1000, 1, 1), presence_tracking.record_view(1000, 1, 1)}),
	't|f',
	'record_view works right after crash recovery');

# Presence is UNLOGGED: crash recovery reset it to empty.
is($node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.presence'),
	'0', 'presence is empty after crash recovery');
is($node->safe_psql('postgres', 'SELECT presence_tracking.heartbeat(1000, 1, 1)'),
	't', 'heartbeat works right after crash recovery (and joins)');
is( $node->safe_psql(
		'postgres',
		q{SELECT presence_tracking.heartbeat(1000, 1, 1) || ' ' || (SELECT string_agg(user_id::text, ',') FROM presence_tracking.active_viewers(1))}
	),
	'false 1000',
	'a second beat is no join; the face pile shows the user');

my $counts = $node->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM presence_tracking.artifact_views) || ' '
	      || (SELECT coalesce(sum(view_count), 0) FROM presence_tracking.artifact_version_stats) || ' '
	      || (SELECT count(*) FROM presence_tracking.artifact_version_stats) || ' '
	      || (SELECT count(*) FROM presence_tracking.artifact_access)});
my ($ledger, $sessions, $stats, $access) = split / /, $counts;
note("after crash recovery: $ledger ledger rows, sum(view_count) = $sessions, "
	  . "$stats stats rows, $access access rows");
cmp_ok($ledger, '>=', $ledger_before, 'no committed session is lost');
is($sessions, $ledger, 'sum(view_count) equals the ledger rows');

is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	  FROM presence_tracking.artifact_version_stats s
	  LEFT JOIN LATERAL (
	        SELECT count(*) AS n FROM presence_tracking.artifact_views l
	         WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
	 WHERE s.view_count <> l.n}),
	'0',
	'view_count equals the ledger rows for every (user, version)');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	  FROM presence_tracking.artifact_views l
	 WHERE NOT EXISTS (SELECT FROM presence_tracking.artifact_version_stats s
	                    WHERE s.user_id = l.user_id AND s.version_id = l.version_id)}),
	'0',
	'every ledger row has its stats row');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	  FROM presence_tracking.artifact_version_stats s
	  JOIN LATERAL (
	        SELECT min(l.viewed_at) AS first, max(l.viewed_at) AS last
	          FROM presence_tracking.artifact_views l
	         WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
	 WHERE s.first_viewed_at IS DISTINCT FROM l.first
	    OR s.last_viewed_at < l.last}),
	'0',
	'first_viewed_at is the first session, last_viewed_at not before the last');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	  FROM presence_tracking.artifact_version_stats s
	 WHERE NOT EXISTS (SELECT FROM presence_tracking.artifact_access a
	                    WHERE a.user_id = s.user_id AND a.artifact_id = s.artifact_id
	                      AND a.last_viewed_at >= s.last_viewed_at)}),
	'0',
	'every stats row has an access row at least as recent');

# The indexes survived the crash too (amcheck ships with the server).
my ($indexes, $checked) = indexes_verified($node);
is($checked, $indexes, "amcheck finds the $indexes btree indexes of the extension consistent");

# And the load can go on where it stopped.
$node->pgbench(
	'-n -c 4 -j 2 -t 200',
	0,
	[qr/processed: 800\/800/],
	[qr/^$/],
	'the load runs again after crash recovery',
	{
		'001_record_view@3' => q{
\set u random(1, 200)
\set v random(1, 20)
\set a (:v - 1) / 5 + 1
SELECT presence_tracking.record_view(:u, :a, :v);
},
		'001_heartbeat@1' => q{
\set u random(1, 200)
\set v random(1, 20)
\set a (:v - 1) / 5 + 1
SELECT presence_tracking.heartbeat(:u, :a, :v);
}
	});
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*)
	  FROM presence_tracking.artifact_version_stats s
	  LEFT JOIN LATERAL (
	        SELECT count(*) AS n, min(l.viewed_at) AS first FROM presence_tracking.artifact_views l
	         WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
	 WHERE s.view_count <> l.n OR s.first_viewed_at IS DISTINCT FROM l.first}),
	'0',
	'the invariants still hold after more load');

$node->stop;

done_testing();
