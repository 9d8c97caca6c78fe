# The extension on a real Citus cluster (issue 14): a coordinator and two
# workers on localhost, beside one ordinary node with the same settings.
# It proves that presence_tracking.distribute() distributes every table
# (and refuses where it should), that the same workload gives the same
# answers on the coordinator as on the single node, that record_view and
# heartbeat each go to one node without two-phase commit, that a storm
# keeps the view_count = ledger invariant, that a LISTEN client on the
# coordinator hears the events, that the cluster has one purge job, and
# that DROP EXTENSION leaves nothing on any node.  Skipped where Citus is
# not installed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time usleep);
use lib "$FindBin::Bin/../perl";
use PresenceFixture;

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => 'Citus is not installed (scripts/install-citus.sh CITUS_SOURCE_TARBALL builds it '
  . 'from source; users install the Citus packages for PostgreSQL 15)'
  unless -f "$libdir/citus.so";

my $timeout = 60;    # seconds, for any one psql or pgbench run

# --- helpers ---------------------------------------------------------------

# Runs $sql on $node (database postgres) with verbose errors; returns its
# output and, on failure, "ERROR: SQLSTATE: message" (empty on success).
sub run_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => $timeout);
	my ($state, $message) = $err =~ /^(?:psql:\S+ )?ERROR:\s+([0-9A-Z]{5}): (.*)$/m;
	return ($out, defined $state ? "ERROR: $state: $message" : '');
}

# Like safe_psql, time-bound: dies on an error.
sub sql
{
	my ($node, $sql) = @_;
	my ($out, $error) = run_sql($node, $sql);
	die "on node " . $node->name . ": $error\nin: $sql" if $error;
	return $out;
}

# The SQLSTATE $sql fails with, or 'no error'.
sub sqlstate
{
	my ($node, $sql) = @_;
	my (undef, $error) = run_sql($node, $sql);
	return $error =~ /^ERROR: (\S+):/ ? $1 : 'no error';
}

# The output of one call, made comparable: every time since $anchor (the
# calls' default now()) becomes its rank among them (T1 the oldest), the
# anchor's date becomes "today", older times (imports) stay as they are.
my $ts_re = qr/\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d(?::\d\d)?)?/;
sub sortable
{
	my ($t) = @_;
	my ($base, $frac, $zone) = $t =~ /^(.{19})(?:\.(\d+))?(.*)$/;
	return $base . '.' . substr(($frac // '') . '000000', 0, 6) . $zone;
}

sub normalised
{
	my ($text, $anchor) = @_;
	my %recent = map { $_ => 1 } grep { sortable($_) ge sortable($anchor) } $text =~ /($ts_re)/g;
	my @order = sort { sortable($a) cmp sortable($b) } keys %recent;
	my %rank = map { $order[$_] => 'T' . ($_ + 1) } 0 .. $#order;
	$text =~ s/($ts_re)/$rank{$1} \/\/ $1/ge;
	my $today = substr($anchor, 0, 10);
	$text =~ s/\b$today\b/today/g;
	return $text;
}

# --- the nodes ---------------------------------------------------------------

# Citus connects between the nodes through their Unix sockets (a node's
# name is its socket directory), as the suite's own connections do: no node
# listens on TCP, where initdb -A trust would let any local user in.
sub citus_node
{
	my ($name) = @_;
	return cron_cluster($name, 'postgres', "shared_preload_libraries = 'citus,pg_cron,presence_tracking'");
}
my $single = cron_cluster('single', 'postgres', "shared_preload_libraries = 'pg_cron,presence_tracking'");
my $coord = citus_node('coordinator');
my @workers = map { citus_node("worker$_") } 1, 2;
my @cluster = ($coord, @workers);

sql($_, 'CREATE EXTENSION citus') for @cluster;
sql($coord, "SELECT citus_set_coordinator_host('" . $coord->host . "', " . $coord->port . ')');
sql($coord, "SELECT citus_add_node('" . $_->host . "', " . $_->port . ')') for @workers;
is(sql($coord, 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2',
	'the coordinator sees two active workers');
# The coordinator starts at 1.5 and is distributed there, then upgraded
# (section 1): a cluster of 1.5 delegated record_view, which 1.6 undoes.
sql($_, 'CREATE EXTENSION pg_cron') for ($single, $coord);
sql($single, 'CREATE EXTENSION presence_tracking');
sql($coord, q{CREATE EXTENSION presence_tracking VERSION '1.5'});
is(join(',', map { sql($_, q{SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking'}) } @workers),
	join(',', (sql($coord, q{SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking'})) x 2),
	'CREATE EXTENSION on the coordinator reaches both workers');

# --- 1. distribute() -----------------------------------------------------------

# How each table is to be distributed: by which column, or a reference table.
my %expected_kind = (
	presence               => 'artifact_id',
	artifact_engagement    => 'artifact_id',
	artifact_views         => 'user_id',
	artifact_version_stats => 'user_id',
	artifact_access        => 'user_id',
	artifact_view_days     => 'user_id',
	artifact_versions      => 'reference',
	artifact_tracking      => 'reference',
	ledger_horizon         => 'reference',);
my $expected_kinds = join("\n", map { "$_ $expected_kind{$_}" } sort keys %expected_kind);

# distribute()'s rows as "table kind" lines, the kind read from its text.
sub distribute
{
	my ($node) = @_;
	my ($out, $error) = run_sql($node,
		'SELECT table_name, distribution FROM presence_tracking.distribute() ORDER BY 1');
	return $error if $error;
	return join("\n", map {
		my ($table, $how) = split /\|/, $_, 2;
		$table =~ s/^presence_tracking\.//;
		my $kind = $how =~ /reference/i ? 'reference'
		  : $how =~ /\buser_id\b/ ? 'user_id'
		  : $how =~ /\bartifact_id\b/ ? 'artifact_id' : "? ($how)";
		"$table $kind"
	} split /\n/, $out);
}

# What Citus's catalog says of the same tables (partitions left out).
my $catalog_sql = q{
	SELECT string_agg(c.relname || ' ' || CASE p.partmethod WHEN 'n' THEN 'reference'
	                    ELSE column_to_column_name(p.logicalrelid, p.partkey) END, E'\n' ORDER BY c.relname)
	  FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
	 WHERE c.relnamespace = 'presence_tracking'::regnamespace AND NOT c.relispartition};
my $distributed_count = q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'presence_tracking.%'};

# Citus logs in to the workers as the writers' role: distribute() leaves
# that decision to the DBA and says so.
is(sqlstate($coord, 'SELECT * FROM presence_tracking.distribute()'), '55000',
	'distribute() while presence_tracking_definer cannot log in: 55000');
is(sql($coord, $distributed_count), '0', 'and distributes nothing');
sql($coord, 'ALTER ROLE presence_tracking_definer LOGIN');
is(distribute($coord), $expected_kinds, 'distribute() returns the 9 tables and how each is distributed');
my $first_catalog = sql($coord, $catalog_sql);
is($first_catalog, $expected_kinds, "Citus's catalog agrees: distribution columns and reference tables");
my $first_count = sql($coord, $distributed_count);
is(distribute($coord), $expected_kinds, 'a second distribute() returns the same rows');
is(sql($coord, $catalog_sql) . ' / ' . sql($coord, $distributed_count), "$first_catalog / $first_count",
	'and changes nothing');

# 1.5 delegated record_view to the node of the user's shard, where the
# session's settings did not reach it.  ALTER EXTENSION UPDATE on the
# coordinator reaches every node, and none delegates it any more.
my $delegation = q{SELECT coalesce(max(distribution_argument_index)::text, 'not delegated') FROM pg_dist_object
	WHERE objid = 'presence_tracking.record_view(bigint, bigint, bigint, timestamptz)'::regprocedure};
is(sql($coord, $delegation), '0', '1.5 delegated record_view by its first argument');
sql($coord, 'ALTER EXTENSION presence_tracking UPDATE');
my $default_version = sql($coord, q{SELECT default_version FROM pg_available_extensions WHERE name = 'presence_tracking'});
is(join(',', map { sql($_, q{SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking'}) } @cluster),
	join(',', ($default_version) x 3), "ALTER EXTENSION UPDATE on the coordinator brings every node to $default_version");
is(join(',', map { sql($_, $delegation) } @cluster), join(',', ('not delegated') x 3),
	'no node delegates record_view after the update');
is(distribute($coord), $expected_kinds, 'distribute() after the update returns the same rows');
is(sql($coord, $delegation), 'not delegated', 'and does not delegate record_view');

is(sqlstate($single, 'SELECT * FROM presence_tracking.distribute()'), '0A000',
	'distribute() where Citus is not installed: 0A000');
is(sqlstate($workers[0], 'SELECT * FROM presence_tracking.distribute()'), '55000',
	'distribute() on a worker: 55000');
# The presence writers' locks and events are the coordinator's.
is(sqlstate($workers[0], 'SELECT presence_tracking.heartbeat(1, 7, 700)'), '55000',
	'a heartbeat on a worker node: 55000');
is(sqlstate($workers[0], 'SELECT presence_tracking.leave(1, 7)'), '55000', 'a leave on a worker node: 55000');
is($first_count,
	sql($coord, q{SELECT 9 + count(*) FROM pg_inherits WHERE inhparent = 'presence_tracking.artifact_views'::regclass}),
	"pg_dist_partition holds the 9 tables and every partition of the ledger ($first_count)");
is(sql($coord, q{SELECT count(DISTINCT colocationid) FROM pg_dist_partition
	 WHERE logicalrelid IN ('presence_tracking.artifact_views'::regclass, 'presence_tracking.artifact_version_stats',
	                        'presence_tracking.artifact_access', 'presence_tracking.artifact_view_days')}),
	'1', 'the view tables are co-located');
is(sql($coord, q{SELECT count(DISTINCT colocationid) FROM pg_dist_partition
	 WHERE logicalrelid IN ('presence_tracking.presence'::regclass, 'presence_tracking.artifact_engagement')}),
	'2', 'presence and the rollup are not (forget_user changes both, as two roles)');

# --- 2. same answers -----------------------------------------------------------

# Every call made in the same order on both; the times are the calls'
# default now(), except the imports' (in the past, by design).
my @workload = (
	[ 'heartbeat: first beat joins',          'SELECT presence_tracking.heartbeat(1, 501, 50101)' ],
	[ 'heartbeat: second beat',               'SELECT presence_tracking.heartbeat(1, 501, 50101)' ],
	[ 'heartbeat: same user, other version',  'SELECT presence_tracking.heartbeat(1, 501, 50102)' ],
	[ 'heartbeat: session, state, data',
		q{SELECT presence_tracking.heartbeat(2, 501, 50101, session_id => 'tab-a', state => 'editing', data => '{"cursor": 3}')} ],
	[ 'heartbeat: second tab',
		q{SELECT presence_tracking.heartbeat(2, 501, 50102, session_id => 'tab-b')} ],
	[ 'heartbeat: idle session',
		q{SELECT presence_tracking.heartbeat(3, 502, 50201, session_id => 'x', state => 'idle')} ],
	[ 'heartbeat_many: the joins',
		q{SELECT * FROM presence_tracking.heartbeat_many(ARRAY[1, 4, 5, 6, 3], ARRAY[501, 501, 502, 503, 502],
		    ARRAY[50101, 50101, 50201, 50301, 50201]) ORDER BY 1, 2, 3} ],
	[ 'heartbeat_many: nothing new',
		q{SELECT count(*) FROM presence_tracking.heartbeat_many(ARRAY[1, 4], ARRAY[501, 501], ARRAY[50101, 50101])} ],
	[ 'leave: one of two tabs',               q{SELECT presence_tracking.leave(2, 501, 'tab-b')} ],
	[ 'leave: every tab',                     'SELECT presence_tracking.leave(2, 501)' ],
	[ 'leave: again',                         'SELECT presence_tracking.leave(2, 501)' ],
	[ 'leave: the last session',              q{SELECT presence_tracking.leave(3, 502, 'x')} ],
	[ 'record_view: first view',              'SELECT presence_tracking.record_view(1, 501, 50101)' ],
	[ 'record_view: same session',            'SELECT presence_tracking.record_view(1, 501, 50101)' ],
	[ 'record_view: other version',           'SELECT presence_tracking.record_view(1, 501, 50102)' ],
	[ 'record_view: other users',
		'SELECT presence_tracking.record_view(2, 501, 50101), presence_tracking.record_view(3, 502, 50201), '
		  . 'presence_tracking.record_view(4, 503, 50301), presence_tracking.record_view(6, 501, 50101)' ],
	[ 'set_tracking: unread_only',            q{SELECT presence_tracking.set_tracking(503, 'unread_only')} ],
	[ 'set_tracking: off',                    q{SELECT presence_tracking.set_tracking(504, 'off')} ],
	[ 'tracking',
		'SELECT presence_tracking.tracking(501), presence_tracking.tracking(503), presence_tracking.tracking(504)' ],
	[ 'record_view: unread_only artifact',    'SELECT presence_tracking.record_view(5, 503, 50302)' ],
	[ 'record_view: artifact tracked off',    'SELECT presence_tracking.record_view(6, 504, 50401)' ],
	[ 'import_views',
		q{SELECT * FROM presence_tracking.import_views(ARRAY[8, 8, 8, 9, 8], ARRAY[505, 505, 505, 505, 505],
		    ARRAY[50501, 50501, 50502, 50501, 50501],
		    ARRAY['2026-06-01 10:00+00', '2026-06-01 10:30+00', '2026-06-02 09:00+00',
		          '2026-06-03 12:00+00', '2026-05-31 23:00+00']::timestamptz[])} ],
	[ 'has_viewed',
		'SELECT presence_tracking.has_viewed(1, 50101), presence_tracking.has_viewed(1, 50199), '
		  . 'presence_tracking.has_viewed(8, 50502), presence_tracking.has_viewed(5, 50302), '
		  . 'presence_tracking.has_viewed(NULL, 50101)' ],
	[ 'unread',          'SELECT * FROM presence_tracking.unread(1, ARRAY[50103, 50101, 50102, 50201, 50103])' ],
	[ 'version_viewers', 'SELECT * FROM presence_tracking.version_viewers(50101)' ],
	[ 'artifact_stats',
		'SELECT 501, * FROM presence_tracking.artifact_stats(501) UNION ALL SELECT 505, * FROM presence_tracking.artifact_stats(505) ORDER BY 1, 2' ],
	[ 'artifact_matrix', 'SELECT * FROM presence_tracking.artifact_matrix(501) ORDER BY 1, 2' ],
	[ 'user_history',
		'SELECT 1, * FROM presence_tracking.user_history(1) UNION ALL SELECT 8, * FROM presence_tracking.user_history(8)' ],
	[ 'user_history: since', q{SELECT * FROM presence_tracking.user_history(8, since => '2026-06-01 10:15+00')} ],
	[ 'active_viewers',              'SELECT * FROM presence_tracking.active_viewers(501)' ],
	[ 'active_viewers: one version', 'SELECT * FROM presence_tracking.active_viewers(501, 50101)' ],
	[ 'active_count',
		'SELECT presence_tracking.active_count(501), presence_tracking.active_count(502), presence_tracking.active_count(503)' ],
	[ 'user_presence',  'SELECT 1, * FROM presence_tracking.user_presence(1) UNION ALL SELECT 5, * FROM presence_tracking.user_presence(5)' ],
	[ 'recent_viewers', 'SELECT 501, * FROM presence_tracking.recent_viewers(501) UNION ALL SELECT 502, * FROM presence_tracking.recent_viewers(502)' ],
	[ 'artifact_engagement',
		q{SELECT 501, * FROM presence_tracking.artifact_engagement(501, '2000-01-01', '2100-01-01')
		  UNION ALL SELECT 505, * FROM presence_tracking.artifact_engagement(505, '2000-01-01', '2100-01-01') ORDER BY 1, 2, 3} ],
	[ 'artifact_engagement: unread_only', q{SELECT * FROM presence_tracking.artifact_engagement(503, '2000-01-01', '2100-01-01')} ],
	[ 'record_view: the session\'s view_debounce applies (1 min)',
		q{SET presence_tracking.view_debounce = '1min';
		  SELECT presence_tracking.record_view(9, 601, 60101, '2026-06-04 12:00+00');
		  SELECT presence_tracking.record_view(9, 601, 60101, '2026-06-04 12:10+00');
		  RESET presence_tracking.view_debounce} ],
	[ 'expire_sessions',   'SELECT presence_tracking.expire_sessions()' ],
	[ 'check_consistency', 'SELECT * FROM presence_tracking.check_consistency()' ],
	[ 'forget_user',       'SELECT * FROM presence_tracking.forget_user(8) ORDER BY 1' ],
	[ 'forget_user: gone', 'SELECT presence_tracking.has_viewed(8, 50501), count(*) FROM presence_tracking.user_history(8)' ],
	[ 'rebuild_stats',     'SELECT * FROM presence_tracking.rebuild_stats() ORDER BY 1' ],
	[ 'check_consistency after rebuild_stats', 'SELECT * FROM presence_tracking.check_consistency()' ],
);

# Runs the workload on $node in one session; returns [label, comparable
# output] pairs, the tables' contents after it included.  Markers written
# to stdout and stderr between the calls cut both into one part per call.
sub run_workload
{
	my ($node) = @_;
	my $anchor = sql($node, 'SELECT now()');
	my $started = time;
	my $script = join('', map { "\\echo @@ $_\n\\warn @@ $_\n$workload[$_][1];\n" } 0 .. $#workload);
	my ($out, $err) = ('', '');
	$node->psql('postgres', $script, stdout => \$out, stderr => \$err, on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => 2 * $timeout);
	note(sprintf('the workload took %.1f s on %s', time - $started, $node->name));
	my %out = (split(/^@@ (\d+)\n?/m, $out))[ 1 .. 2 * @workload ];
	my %err = (split(/^@@ (\d+)\n?/m, $err))[ 1 .. 2 * @workload ];
	my @results;
	for my $i (0 .. $#workload)
	{
		my ($error) = ($err{$i} // '') =~ /^((?:psql:\S+ )?ERROR:.*)$/m;
		$error =~ s/^psql:\S+ ERROR:\s+/ERROR: / if defined $error;
		my $text = join("\n", grep { defined && $_ ne '' } ($out{$i} // '') =~ s/\n+$//r, $error);
		push @results, [ $workload[$i][0], normalised($text, $anchor) ];
	}
	push @results, [ "table $_", normalised(table_text($node, 'postgres', $_), $anchor) ]
	  for presence_tables();
	return @results;
}

my @on_single = run_workload($single);
my @on_cluster = run_workload($coord);
for my $i (0 .. $#on_single)
{
	my ($label, $expected) = @{ $on_single[$i] };
	is($on_cluster[$i][1], $expected, "same answer on the cluster as on one node: $label");
}

# --- 3. one node per call, no two-phase commit -------------------------------

# Runs $call on the coordinator in a session of its own; returns the remote
# commands the coordinator issued (Citus's log) and the statements every
# node received meanwhile (server logs, log_statement = all): a call
# delegated to a worker issues its own remote commands there.
sub probe
{
	my ($call) = @_;
	my %offset = map { $_->name => -s $_->logfile } @cluster;
	my $log = '';
	$coord->psql('postgres',
		"SET citus.log_remote_commands = on; SET client_min_messages = log; SELECT $call;",
		stderr => \$log, timeout => $timeout);
	return ($log, join('', map { slurp_file($_->logfile, $offset{ $_->name }) } @cluster));
}

# A version new to the cluster is written to the version map, a reference
# table with a copy on every node: that first call commits on every node in
# two phases (once per version, by design: the README says so).  Every other
# call goes to the one node of its shard and commits there in one phase.
for my $probe (
	[ 'record_view (version new to the cluster)', 'presence_tracking.record_view(41, 7, 700)', 1 ],
	[ 'record_view (new session)',                'presence_tracking.record_view(42, 7, 700)', 0 ],
	[ 'record_view (same session)',               'presence_tracking.record_view(42, 7, 700)', 0 ],
	[ 'heartbeat (join)',                         'presence_tracking.heartbeat(42, 7, 700)',   0 ],
	[ 'heartbeat (beat)',                         'presence_tracking.heartbeat(42, 7, 700)',   0 ],
	[ 'leave',                                    'presence_tracking.leave(42, 7)',            0 ],
	[ 'heartbeat (version new to the cluster)',   'presence_tracking.heartbeat(43, 8, 800)',   1 ],
	[ 'heartbeat (join, version known)',          'presence_tracking.heartbeat(44, 8, 800)',   0 ])
{
	my ($name, $call, $new_version) = @$probe;
	my ($log, $received) = probe($call);
	my @issued = $log =~ /issuing (.*)$/mg;
	my %servers = map { $_ => 1 } $log =~ /on server \S+@(\S+)/g;
	my @two_phase = grep { /PREPARE TRANSACTION|COMMIT PREPARED/ } split /\n/, $log . $received;
	note("$name, remote commands from the coordinator: " . (join(' | ', @issued) || 'none'));
	ok(@issued > 0, "$name: executed through Citus (remote commands logged)");
	if ($new_version)
	{
		ok(@two_phase > 0, "$name: the version map is written on every node");
		next;
	}
	is(scalar(keys %servers), 1, "$name: sent to one node (" . join(', ', sort keys %servers) . ')');
	is(scalar(@two_phase), 0, "$name: no two-phase commit on any node") or diag(join("\n", @two_phase));
}

# --- 4. the storm --------------------------------------------------------------

my $storm = $coord->basedir . '/storm.sql';
append_to_file($storm, <<'EOS');
\set u random(1, 200)
\set a random(1, 20)
\set v random(1, 3)
SELECT presence_tracking.record_view(:u, :a, :a * 100 + :v);
SELECT presence_tracking.heartbeat(:u, :a, :a * 100 + :v);
EOS
my ($bench_out, $bench_err) = ('', '');
my $pgbench = IPC::Run::start([ 'pgbench', '--no-vacuum', '--client=8', '--jobs=2', '--time=10', '-f', $storm,
		'-h', $coord->host, '-p', $coord->port, 'postgres' ],
	'>', \$bench_out, '2>', \$bench_err, IPC::Run::timeout($timeout));
# The scheduled work (the ledger's partitions, the cluster's fold of the
# day rows into the rollup) runs again and again beside the writers.
my ($folds, $fold_errors) = (0, '');
my $storm_end = time + 10;
while (time < $storm_end)
{
	my (undef, $error) = run_sql($coord, 'SELECT presence_tracking.maintain_views()');
	$fold_errors .= "$error\n" if $error ne '';
	$folds++;
	usleep(500_000);
}
$pgbench->finish;
is($fold_errors, '', "storm: maintain_views() ran $folds times beside the writers without an error");
my ($tps) = $bench_out =~ /tps = ([\d.]+)/;
my ($latency) = $bench_out =~ /latency average = ([\d.]+ ms)/;
like($bench_out, qr/number of failed transactions: 0 /, 'storm: no call failed')
  or diag($bench_out . $bench_err);
unlike($bench_out . $bench_err, qr/aborted/, 'storm: no client aborted');
note('storm: 8 clients, 10 s, ' . ($tps // '?') . ' tps (record_view + heartbeat), latency '
	  . ($latency // '?'));
is(sql($coord, 'SELECT count(*) FROM presence_tracking.check_consistency()'), '0',
	'storm: check_consistency() is empty (the rollup and the day rows agree with the ledger)');
sql($coord, 'SELECT presence_tracking.maintain_views()');
is(sql($coord, q{SELECT count(*) FROM presence_tracking.artifact_view_days WHERE unfolded}), '0',
	'storm: a last fold leaves no day row unfolded');
is(sql($coord, q{SELECT (SELECT sum(views) FROM presence_tracking.artifact_engagement)
                    || ' = ' || (SELECT count(*) FROM presence_tracking.artifact_views)}) =~ s/^(\d+) = \1$/equal/r,
	'equal', 'storm: the rollup counts every session of the ledger');
is(sql($coord, 'SELECT count(*) FROM presence_tracking.check_consistency()'), '0',
	'storm: check_consistency() is empty after the last fold');
is(sql($coord, q{SELECT (SELECT sum(view_count) FROM presence_tracking.artifact_version_stats)
                    || ' = ' || (SELECT count(*) FROM presence_tracking.artifact_views)}) =~ s/^(\d+) = \1$/equal/r,
	'equal', 'storm: sum(view_count) equals the ledger rows');

# --- 5. events heard on the coordinator ----------------------------------------

my $events_file = $coord->basedir . '/events.jsonl';
my $listener = do
{
	local $ENV{PGHOST} = $coord->host;
	local $ENV{PGPORT} = $coord->port;
	local $ENV{PGDATABASE} = 'postgres';
	IPC::Run::start([ 'node', "$FindBin::Bin/../listener/listen.js", $events_file ],
		'>', \my $listener_out, '2>', \my $listener_err);
};
sub events { return listened_events($events_file); }
sub wait_for
{
	my ($found, $seconds) = @_;
	my $deadline = time + $seconds;
	usleep(50_000) until $found->() || time > $deadline;
	return $found->();
}
ok(wait_for(sub { grep { $_->{ready} } events() }, 30), 'the listener on the coordinator is listening');
# Whether the listener hears $event of user $user within 10 s.
sub hears
{
	my ($event, $user, $name) = @_;
	ok( wait_for(
			sub {
				grep { $_->{payload} && $_->{payload}{event} eq $event && $_->{payload}{user_id} eq $user }
				  events();
			},
			10),
		$name) or diag('heard: ' . join(' ', map { encode_json($_) } events()));
	return;
}
sql($coord, 'SELECT presence_tracking.heartbeat(1077, 9001, 900101)');
hears('join', '1077', 'a LISTEN client on the coordinator hears the join of a heartbeat made there');
# Erasure of a user who is present, on the cluster: the leave is heard
# there too, and nothing of the user is left in presence.
is(sql($coord, q{SELECT rows_deleted FROM presence_tracking.forget_user(1077) WHERE table_name = 'presence'}),
	'1', 'forget_user of a present user on the cluster deletes the session');
hears('leave', '1077', 'and the LISTEN client on the coordinator hears the leave');
$listener->signal('TERM');
$listener->finish;

# --- 6. operations -------------------------------------------------------------

my $jobs = q{SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'};
is(sql($coord, $jobs), '1', 'one purge job on the coordinator');
for my $worker (@workers)
{
	my $has_cron = sql($worker, q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'});
	is($has_cron eq '1' ? sql($worker, $jobs) : '0', '0',
		'no purge job on ' . $worker->name . ($has_cron eq '1' ? '' : ' (no pg_cron there)'));
}
my (undef, $purge_error) = run_sql($coord, 'SELECT presence_tracking.purge()');
is($purge_error, '', 'purge() on the coordinator works');

# --- 7. DROP EXTENSION leaves nothing but the schema --------------------------------------------

# Citus hides shards from pg_class unless told otherwise.
my $leftovers = q{
	SET citus.override_table_visibility = off;
	SELECT coalesce(string_agg(relname, ', ' ORDER BY relname), '')
	  FROM pg_class WHERE relname LIKE 'presence%' OR relname LIKE 'artifact\_%'};
my $schema = q{SELECT count(*) FROM pg_namespace WHERE nspname = 'presence_tracking'};
my $shards = q{SET citus.override_table_visibility = off;
	SELECT count(*) FROM pg_class WHERE relname ~ '^(presence|artifact_).*_[0-9]{6,}$'};
cmp_ok(sql($_, $shards), '>', 0, 'before the drop, ' . $_->name . ' holds shards') for @workers;
my (undef, $drop_error) = run_sql($coord, 'DROP EXTENSION presence_tracking');
is($drop_error, '', 'DROP EXTENSION presence_tracking on the coordinator');
# As on one node, the schema CREATE EXTENSION made stays, empty, until it
# is dropped: DROP SCHEMA on the coordinator drops it on every node.
my $objects_in_schema = q{SELECT count(*) FROM pg_class WHERE relnamespace = 'presence_tracking'::regnamespace};
for my $node (@cluster)
{
	my $left = sql($node, $leftovers);
	is($left, '', 'no relation left on ' . $node->name)
	  or diag(scalar(split /, /, $left) . ' left');
	is(sql($node, $objects_in_schema), '0', 'the schema is empty on ' . $node->name);
}
my (undef, $drop_schema_error) = run_sql($coord, 'DROP SCHEMA presence_tracking');
is($drop_schema_error, '', 'DROP SCHEMA presence_tracking on the coordinator');
is(sql($_, $schema), '0', 'no schema presence_tracking on ' . $_->name) for @cluster;

$_->stop for $single, @cluster;
done_testing();
