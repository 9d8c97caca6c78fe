# Dump and restore: pg_dump (custom and plain) of a database that uses the
# extension restores every row of its tables, the restored extension keeps
# working on the restored data, and, where pg_cron lives in the same
# database, the restore does not clash with pg_cron's own dumped job rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tempdir = PostgreSQL::Test::Utils::tempdir;

# The WARNING the install script gives when CREATE EXTENSION runs inside a
# restore (pg_dump's output and pg_restore set row_security = off).
my $restore_warning = qr/presence purge job not scheduled while restoring a dump/;

# Every table of the extension, with the order that makes its full content
# comparable as text.
my %table_order = (
	artifact_views         => 'user_id, viewed_at, version_id',
	artifact_version_stats => 'user_id, version_id',
	artifact_access        => 'user_id, artifact_id',
	presence               => 'artifact_id, user_id, version_id',);

sub table_text
{
	my ($node, $db, $table) = @_;
	return $node->safe_psql($db,
		    "SELECT count(*) || E'\\n' || coalesce(string_agg(t::text, E'\\n' "
		  . "ORDER BY $table_order{$table}), '') "
		  . "FROM presence_tracking.$table t");
}

# view_count = ledger rows and first_viewed_at = first session, for every
# (user, version); and an access row at least as recent as each stats row.
sub invariant_violations
{
	my ($node, $db) = @_;
	return $node->safe_psql(
		$db, q{
		SELECT (SELECT count(*)
		          FROM presence_tracking.artifact_version_stats s
		          LEFT JOIN LATERAL (
		                SELECT count(*) AS n, min(l.viewed_at) AS first
		                  FROM presence_tracking.artifact_views l
		                 WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
		         WHERE s.view_count <> l.n OR s.first_viewed_at IS DISTINCT FROM l.first)
		     + (SELECT count(*)
		          FROM presence_tracking.artifact_views l
		         WHERE NOT EXISTS (SELECT FROM presence_tracking.artifact_version_stats s
		                            WHERE s.user_id = l.user_id AND s.version_id = l.version_id))
		     + (SELECT count(*)
		          FROM presence_tracking.artifact_version_stats s
		         WHERE NOT EXISTS (SELECT FROM presence_tracking.artifact_access a
		                            WHERE a.user_id = s.user_id AND a.artifact_id = s.artifact_id
		                              AND a.last_viewed_at >= s.last_viewed_at))});
}

# A key of the given type as an SQL literal: kind is 'u' (user), 'a'
# (artifact) or 'v' (version), n a small number.
sub key_literal
{
	my ($type, $kind, $n) = @_;
	my %kind_digit = (u => 1, a => 2, v => 3);
	return "${n}::bigint" if $type eq 'bigint';
	return sprintf("'%08d-0000-4000-8000-%012d'::uuid", $kind_digit{$kind}, $n)
	  if $type eq 'uuid';
	return "'$kind-$n'::text";
}

# The views and heartbeats that fill a database: several users, artifacts
# and versions, several sessions per (user, version), times in the past
# (default debounce 1 h, ttl 150 s).
sub fill_sql
{
	my ($type) = @_;
	my @calls;
	my $k = sub { key_literal($type, @_) };
	# (user, artifact, version, time)
	my @views = (
		[ 1, 10, 100, '2026-03-02 09:00:00+00' ],
		[ 1, 10, 100, '2026-03-02 09:45:00+00' ],    # same session
		[ 1, 10, 100, '2026-03-02 11:00:00+00' ],    # second session
		[ 1, 10, 101, '2026-03-02 11:05:00+00' ],
		[ 1, 10, 100, '2026-03-03 08:00:00+00' ],    # third session
		[ 1, 20, 200, '2026-03-02 12:00:00+00' ],
		[ 2, 10, 100, '2026-03-02 09:00:00+00' ],
		[ 2, 10, 100, '2026-03-02 10:00:00+00' ],    # exactly the debounce
		[ 2, 10, 101, '2026-03-02 10:30:00.123456+00' ],
		[ 2, 20, 201, '2026-03-04 16:20:00+00' ],
		[ 3, 20, 200, '2026-03-05 07:00:00+00' ],
		[ 3, 20, 200, '2026-03-05 06:00:00+00' ],    # older: nothing moves
		[ 3, 20, 201, '2026-03-05 07:30:00+00' ],
		[ 3, 20, 201, '2026-03-06 07:30:00+00' ],
		[ 4, 30, 300, '2026-03-07 23:59:59.999999+00' ],);
	for my $v (@views)
	{
		push @calls,
		  sprintf("SELECT presence_tracking.record_view(%s, %s, %s, '%s');",
			$k->('u', $v->[0]), $k->('a', $v->[1]), $k->('v', $v->[2]), $v->[3]);
	}
	# Heartbeats: a streak, a gap that starts a new streak, two versions.
	my @beats = (
		[ 1, 10, 100, '2026-03-02 09:00:00+00' ],
		[ 1, 10, 100, '2026-03-02 09:01:00+00' ],
		[ 1, 10, 100, '2026-03-02 09:02:00+00' ],
		[ 1, 10, 101, '2026-03-02 09:02:30+00' ],
		[ 2, 10, 100, '2026-03-02 09:00:00+00' ],
		[ 2, 10, 100, '2026-03-02 09:30:00+00' ],    # after the ttl: new streak
		[ 3, 20, 200, '2026-03-05 07:00:00+00' ],);
	for my $b (@beats)
	{
		push @calls,
		  sprintf("SELECT presence_tracking.heartbeat(%s, %s, %s, '%s');",
			$k->('u', $b->[0]), $k->('a', $b->[1]), $k->('v', $b->[2]), $b->[3]);
	}
	return join("\n", @calls);
}

# The restored extension works on the restored data.
sub check_restored_works
{
	my ($node, $db, $type, $label) = @_;
	my $k = sub { key_literal($type, @_) };
	my ($u1, $a10, $v100) = ($k->('u', 1), $k->('a', 10), $k->('v', 100));

	is( $node->safe_psql(
			$db,
			"SELECT extname || ' ' || cardinality(extconfig) FROM pg_extension "
			  . "WHERE extname LIKE 'presence_tracking%'"),
		($type eq 'bigint' ? 'presence_tracking' : "presence_tracking_$type") . ' 4',
		"$label: the extension is restored with its four config tables");

	# The restored last view of (user 1, version 100) is 2026-03-03 08:00.
	my $last = "(SELECT last_viewed_at FROM presence_tracking.artifact_version_stats "
	  . "WHERE user_id = $u1 AND version_id = $v100)";
	is($node->safe_psql($db, "SELECT $last = '2026-03-03 08:00:00+00'"),
		't', "$label: restored last_viewed_at");
	is( $node->safe_psql(
			$db,
			"SELECT presence_tracking.record_view($u1, $a10, $v100, $last + interval '30 min')"),
		'f',
		"$label: a view within the debounce of a restored view is the same session");
	is( $node->safe_psql(
			$db,
			"SELECT presence_tracking.record_view($u1, $a10, $v100, $last + interval '1 hour')"),
		't',
		"$label: a view a debounce after the (rolled) last view opens a session");
	is( $node->safe_psql(
			$db,
			"SELECT view_count || ' ' || session_hits FROM presence_tracking.artifact_version_stats "
			  . "WHERE user_id = $u1 AND version_id = $v100"),
		'4 1',
		"$label: view_count continues from the restored count");
	is( $node->safe_psql(
			$db,
			"SELECT last_viewed_at = '2026-03-03 09:30:00+00' FROM presence_tracking.artifact_access "
			  . "WHERE user_id = $u1 AND artifact_id = $a10"),
		't',
		"$label: the access row follows");

	# A brand new (user, version) too.
	my ($u9, $a90, $v900) = ($k->('u', 9), $k->('a', 90), $k->('v', 900));
	is( $node->safe_psql(
			$db,
			"SELECT presence_tracking.record_view($u9, $a90, $v900), "
			  . "presence_tracking.record_view($u9, $a90, $v900)"),
		't|f',
		"$label: record_view of a new user opens one session");

	# Heartbeat: the restored streak of user 1 on version 100 is long over, so
	# a beat now starts a new one and makes the user present.
	is( $node->safe_psql(
			$db, "SELECT presence_tracking.heartbeat($u1, $a10, $v100)"),
		't', "$label: heartbeat on a restored presence row joins");
	is( $node->safe_psql(
			$db,
			"SELECT beats || ' ' || (joined_at = last_seen_at) FROM presence_tracking.presence "
			  . "WHERE artifact_id = $a10 AND user_id = $u1 AND version_id = $v100"),
		'1 true',
		"$label: the restored presence row starts a new streak");
	is( $node->safe_psql(
			$db, "SELECT presence_tracking.heartbeat($u1, $a10, $v100)"),
		'f', "$label: a second beat does not join again");
	is( $node->safe_psql(
			$db,
			"SELECT string_agg(user_id::text, ',') FROM presence_tracking.active_viewers($a10)"),
		($type eq 'bigint' ? '1' : $type eq 'uuid' ? '00000001-0000-4000-8000-000000000001' : 'u-1'),
		"$label: active_viewers sees the fresh beat, not the stale restored ones");

	is(invariant_violations($node, $db), '0', "$label: invariants hold after new calls");
	return;
}

#
# Without pg_cron: the three key types.
#
my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
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

	my %before;
	$before{$_} = table_text($node, $src, $_) for keys %table_order;
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
		for my $table (sort keys %table_order)
		{
			is(table_text($node, $db, $table), $before{$table},
				"$db: every row of $table restored");
		}
		is(invariant_violations($node, $db), '0', "$db: invariants hold after the restore");
		check_restored_works($node, $db, $type, $db);
	}
}

$node->stop;

#
# With pg_cron in the same database: the restore does not schedule the job a
# second time, so pg_cron's dumped job rows load, every one of them.
#
my $cron = PostgreSQL::Test::Cluster->new('cron');
$cron->init;
$cron->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'crondb'
cron.use_background_workers = on
max_worker_processes = 16
});
$cron->start;
$cron->safe_psql('postgres', 'CREATE DATABASE crondb');
$cron->safe_psql('crondb', 'CREATE EXTENSION pg_cron');
$cron->safe_psql('crondb', 'CREATE EXTENSION presence_tracking');

my $jobs_sql = q{SELECT string_agg(jobname || ' ' || schedule || ' ' || command || ' ' || database, E'\n' ORDER BY jobname) FROM cron.job};
is( $cron->safe_psql('crondb', $jobs_sql),
	'presence_tracking_purge 0 * * * * SELECT presence_tracking.purge() crondb',
	'cron: CREATE EXTENSION scheduled the purge job');
$cron->safe_psql('crondb', q{SELECT cron.schedule('other_job', '0 3 * * *', 'SELECT 1')});
my $jobs_before = $cron->safe_psql('crondb', $jobs_sql);
is( $jobs_before,
	"other_job 0 3 * * * SELECT 1 crondb\n"
	  . 'presence_tracking_purge 0 * * * * SELECT presence_tracking.purge() crondb',
	'cron: two jobs before the dump');
my $jobids_before = $cron->safe_psql('crondb',
	q{SELECT string_agg(jobid || ' ' || jobname, ',' ORDER BY jobid) FROM cron.job});

$cron->safe_psql('crondb', fill_sql('bigint'));
my %cron_before;
$cron_before{$_} = table_text($cron, 'crondb', $_) for keys %table_order;

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
for my $table (sort keys %table_order)
{
	is(table_text($cron, 'crondb', $table), $cron_before{$table},
		"cron: every row of $table restored");
}
is(invariant_violations($cron, 'crondb'), '0', 'cron: invariants hold after the restore');
check_restored_works($cron, 'crondb', 'bigint', 'crondb');

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
