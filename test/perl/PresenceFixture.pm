# Fixture shared by the TAP tests that fill a database with known views and
# heartbeats and then check it after something was done to it (a dump and
# restore, an upgrade): the fill, the table contents as text, the invariants
# between the tiers, and the checks that the extension works on that data.
package PresenceFixture;
use strict;
use warnings;
use Exporter 'import';
use Test::More;
use PostgreSQL::Test::Cluster;
use JSON::PP;
our @EXPORT =
  qw(cron_cluster presence_tables table_text invariant_violations key_literal fill_sql
  check_filled_works listened_events);

# The events a test/listener/listen.js client has written to $file so far,
# decoded (none before it made the file).
sub listened_events
{
	my ($file) = @_;
	return () unless -e $file;
	open my $fh, '<', $file or die "cannot read $file: $!";
	my @events = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return @events;
}

# Every table of the extension, with the order that makes its full content
# comparable as text.
my %table_order = (
	artifact_views         => 'user_id, viewed_at, version_id',
	artifact_version_stats => 'user_id, version_id',
	artifact_access        => 'user_id, artifact_id',
	artifact_versions      => 'version_id',
	presence               => 'artifact_id, user_id, version_id',
	artifact_view_days     => 'user_id, version_id, day',
	artifact_engagement    => 'artifact_id, day, version_id',
	artifact_tracking      => 'artifact_id',
	ledger_horizon         => 'dropped_before',);

sub table_text
{
	my ($node, $db, $table, $columns) = @_;
	$columns //= '*';
	return $node->safe_psql($db,
		    "SELECT count(*) || E'\\n' || coalesce(string_agg(t::text, E'\\n' "
		  . "ORDER BY $table_order{$table}, t::text), '') "
		  . "FROM (SELECT $columns FROM presence_tracking.$table) t");
}

# view_count = ledger rows and first_viewed_at = first session, for every
# (user, version); and an access row at least as recent as each stats row.
# From release 1.4 on, also every violation check_consistency() reports
# (day rows and engagement against the ledger, access times, versions).
sub invariant_violations
{
	my ($node, $db) = @_;
	my $own_check = $node->safe_psql($db,
		"SELECT to_regprocedure('presence_tracking.check_consistency()') IS NOT NULL");
	my $reported = $own_check eq 't'
	  ? $node->safe_psql($db, 'SELECT count(*) FROM presence_tracking.check_consistency()')
	  : 0;
	return $reported + $node->safe_psql(
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

# The extension works on the data fill_sql() left (restored, upgraded or
# as filled): new calls continue the sessions, streaks and counts.
sub check_filled_works
{
	my ($node, $db, $type, $label) = @_;
	my $k = sub { key_literal($type, @_) };
	my ($u1, $a10, $v100) = ($k->('u', 1), $k->('a', 10), $k->('v', 100));

	# Release 1.2 added artifact_versions; 1.4 the day rows, the rollup, the
	# tracking modes, the ledger's horizon and its default partition.
	my $tables = $node->safe_psql($db,
		"SELECT CASE WHEN extversion IN ('1.0', '1.1') THEN 4 WHEN extversion IN ('1.2', '1.3') THEN 5 ELSE 9 END FROM pg_extension "
		  . "WHERE extname LIKE 'presence_tracking%'");
	is( $node->safe_psql(
			$db,
			"SELECT extname || ' ' || cardinality(extconfig) FROM pg_extension "
			  . "WHERE extname LIKE 'presence_tracking%'"),
		($type eq 'bigint' ? 'presence_tracking' : "presence_tracking_$type") . " $tables",
		"$label: the extension is restored with its $tables config tables");

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

# The fixture's data are imports, with times in the past: its clusters let
# every session write them (a superuser-only setting; see the README).
our $IMPORTS = 'presence_tracking.max_backdate = -1';

# A started cluster named $name with pg_cron preloaded, its jobs run in
# database $cron_database; @settings are more postgresql.conf lines.
sub cron_cluster
{
	my ($name, $cron_database, @settings) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		join("\n",
			"shared_preload_libraries = 'pg_cron'",
			"cron.database_name = '$cron_database'",
			'cron.use_background_workers = on',
			'max_worker_processes = 16', $IMPORTS, @settings)
		  . "\n");
	$node->start;
	return $node;
}

# The extension's tables, in a fixed order; with a node and a database,
# those that exist there (an old release has fewer).
sub presence_tables
{
	my ($node, $db) = @_;
	return sort keys %table_order if !defined $node;
	return grep {
		$node->safe_psql($db, "SELECT to_regclass('presence_tracking.$_') IS NOT NULL") eq 't'
	} sort keys %table_order;
}

1;
