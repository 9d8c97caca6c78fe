# Dump and restore: pg_dump (custom and plain) of a database that uses the
# extension restores every row of its tables, the restored extension keeps
# working on the restored data, and, where pg_cron lives in the same
# database, the restore does not clash with pg_cron's own dumped job rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceFixture;

my $tempdir = PostgreSQL::Test::Utils::tempdir;

# The WARNING the install script gives when CREATE EXTENSION runs inside a
# restore (pg_dump's output and pg_restore set row_security = off).
my $restore_warning = qr/presence purge job not scheduled while restoring a dump/;

#
# Without pg_cron: the three key types.
#
my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "$PresenceFixture::IMPORTS\n");
$node->start;

my %extension_of = (
	bigint => 'presence_tracking',
	uuid   => 'presence_tracking_uuid',
	text   => 'presence_tracking_text',);

for my $type (qw(bigint uuid text))
{
	my $ext = $extension_of{$type};
	my $src = "src_$type";
	$node->safe_psql('postgres', "CREATE DATABASE $src");
	# Without pg_cron the install script only gives a WARNING about the purge.
	$node->safe_psql($src, "CREATE EXTENSION $ext");
	$node->safe_psql($src, fill_sql($type));
	# The job's maintenance gives the ledger's rows (March 2026) a monthly
	# partition: a table of its own in the dump, not a member of the extension.
	$node->safe_psql($src, 'SELECT presence_tracking.maintain_views()');
	is( $node->safe_psql(
			$src,
			"SELECT string_agg(tableoid::regclass::text || ' ' || n, ', ') FROM "
			  . "(SELECT tableoid, count(*) AS n FROM presence_tracking.artifact_views GROUP BY 1) p"),
		'presence_tracking.artifact_views_2026_03 13',
		"$type: the ledger's rows are in their monthly partition");

	my %before;
	$before{$_} = table_text($node, $src, $_) for presence_tables();
	is( $node->safe_psql(
			$src,
			"SELECT (SELECT count(*) FROM presence_tracking.artifact_views) || ' ' || "
			  . "(SELECT sum(view_count) FROM presence_tracking.artifact_version_stats) || ' ' || "
			  . "(SELECT count(*) FROM presence_tracking.artifact_version_stats) || ' ' || "
			  . "(SELECT count(*) FROM presence_tracking.artifact_access) || ' ' || "
			  . "(SELECT count(*) FROM presence_tracking.presence)"),
		'13 13 9 6 4',
		"$type: source filled (ledger, sessions, stats, access, presence rows)");
	is(invariant_violations($node, $src), '0', "$type: invariants hold in the source");

	# Custom format, restored with pg_restore.
	my $custom = "$tempdir/$type.dump";
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $custom, '-d', $src ],
		"$type: pg_dump -Fc");
	$node->safe_psql('postgres', "CREATE DATABASE custom_$type");
	# pg_restore shows server messages only with --verbose: look for the
	# WARNING in the server log, and for nothing at all on stderr.
	my $log_offset = -s $node->logfile;
	$node->command_checks_all(
		[ 'pg_restore', '-d', "custom_$type", $custom ],
		0, [qr/^$/], [qr/^$/],
		"$type: pg_restore exits 0 without errors");
	ok($node->log_contains($restore_warning, $log_offset),
		"$type: pg_restore: the install script saw the restore and left the job alone");

	# Plain SQL, restored with psql.
	my $plain = "$tempdir/$type.sql";
	$node->command_ok([ 'pg_dump', '-f', $plain, '-d', $src ], "$type: pg_dump plain");
	$node->safe_psql('postgres', "CREATE DATABASE plain_$type");
	$node->command_checks_all(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', "plain_$type", '-f', $plain ],
		0, [qr/.*/], [$restore_warning],
		"$type: psql restore of the plain dump exits 0, warning only about the purge job");

	for my $db ("custom_$type", "plain_$type")
	{
		# Presence is UNLOGGED (emptied after a crash) but an ordinary pg_dump
		# dumps its data all the same (pg_extension_config_dump marks it; only
		# --no-unlogged-table-data skips it).  Restored presence is stale by
		# nature: it says who was there when the dump was taken, and the TTL
		# and the purge age it out like any other row.
		for my $table (presence_tables())
		{
			is(table_text($node, $db, $table), $before{$table},
				"$db: every row of $table restored");
		}
		is(invariant_violations($node, $db), '0', "$db: invariants hold after the restore");
		is( $node->safe_psql(
				$db,
				"SELECT string_agg(tableoid::regclass::text || ' ' || n, ', ') FROM "
				  . "(SELECT tableoid, count(*) AS n FROM presence_tracking.artifact_views GROUP BY 1) p"),
			'presence_tracking.artifact_views_2026_03 13',
			"$db: the monthly partition restored with its rows");
		check_filled_works($node, $db, $type, $db);
	}
}

$node->stop;

#
# With pg_cron in the same database: the restore does not schedule the job a
# second time, so pg_cron's dumped job rows load, every one of them.
#
my $cron = cron_cluster('cron', 'crondb');
$cron->safe_psql('postgres', 'CREATE DATABASE crondb');
$cron->safe_psql('crondb', 'CREATE EXTENSION pg_cron');
$cron->safe_psql('crondb', 'CREATE EXTENSION presence_tracking');

# The purge job's command (a DO block, PT_PURGE_COMMAND) shows as "purge".
my $jobs_sql = q{SELECT string_agg(jobname || ' ' || schedule || ' '
  || CASE WHEN command LIKE 'DO $purge$%' THEN 'purge' ELSE command END || ' ' || database, E'\n' ORDER BY jobname) FROM cron.job};
is( $cron->safe_psql('crondb', $jobs_sql),
	'presence_tracking_purge 0 * * * * purge crondb',
	'cron: CREATE EXTENSION scheduled the purge job');
$cron->safe_psql('crondb', q{SELECT cron.schedule('other_job', '0 3 * * *', 'SELECT 1')});
my $jobs_before = $cron->safe_psql('crondb', $jobs_sql);
is( $jobs_before,
	"other_job 0 3 * * * SELECT 1 crondb\n"
	  . 'presence_tracking_purge 0 * * * * purge crondb',
	'cron: two jobs before the dump');
my $jobids_before = $cron->safe_psql('crondb',
	q{SELECT string_agg(jobid || ' ' || jobname, ',' ORDER BY jobid) FROM cron.job});

$cron->safe_psql('crondb', fill_sql('bigint'));
my %cron_before;
$cron_before{$_} = table_text($cron, 'crondb', $_) for presence_tables();

my $cron_dump = "$tempdir/crondb.sql";
$cron->command_ok([ 'pg_dump', '-f', $cron_dump, '-d', 'crondb' ], 'cron: pg_dump plain');
$cron->safe_psql('postgres', 'DROP DATABASE crondb WITH (FORCE)');
$cron->safe_psql('postgres', 'CREATE DATABASE crondb');
$cron->command_checks_all(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'crondb', '-f', $cron_dump ],
	0, [qr/.*/], [$restore_warning],
	'cron: psql restore into crondb exits 0');

is($cron->safe_psql('crondb', $jobs_sql), $jobs_before,
	'cron: after the restore cron.job has both jobs, once each');
is( $cron->safe_psql(
		'crondb', q{SELECT string_agg(jobid || ' ' || jobname, ',' ORDER BY jobid) FROM cron.job}),
	$jobids_before,
	'cron: with their job ids');
for my $table (presence_tables())
{
	is(table_text($cron, 'crondb', $table), $cron_before{$table},
		"cron: every row of $table restored");
}
is(invariant_violations($cron, 'crondb'), '0', 'cron: invariants hold after the restore');
check_filled_works($cron, 'crondb', 'bigint', 'crondb');

# pg_cron still works with the restored jobs: a job scheduled now gets the
# next id, and the purge job can be rescheduled in place.
is( $cron->safe_psql(
		'crondb',
		q{SELECT cron.schedule('third_job', '0 4 * * *', 'SELECT 2') > max(jobid) FROM cron.job WHERE jobname <> 'third_job'}),
	't',
	'cron: a new job gets a fresh id after the restore');
$cron->safe_psql('crondb', q{SELECT presence_tracking.schedule_purge()});
is( $cron->safe_psql('crondb',
		q{SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'}),
	'1',
	'cron: schedule_purge() after the restore keeps one purge job');

$cron->stop;

done_testing();
