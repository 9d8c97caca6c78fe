# Live presence, heard the way an application hears it: a node-postgres
# client LISTENs on channel presence_tracking (test/listener/listen.js)
# while sessions join, change state, leave, roll back and time out; the
# timeout sweeper runs as a background worker (the library is preloaded).
# Then a storm of 16 pgbench clients (random beats, leaves, state changes,
# and beats that time out at once) and the invariant: the face pile rebuilt
# from the event stream alone, starting from an empty room, is exactly what
# active_viewers() returns, and no event ever contradicts the one before.
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

# A long TTL while single events are checked one by one; a short one for
# the timeouts and the storm.
my $ttl = 3;
my $node = cron_cluster(
	'live', 'postgres',
	"shared_preload_libraries = 'pg_cron,presence_tracking'",
	"presence_tracking.heartbeat_interval = '1s'",
	"presence_tracking.ttl = '60s'");
$node->safe_psql('postgres', 'CREATE EXTENSION presence_tracking');

# The listener, and the events it has written so far.
my $events_file = $node->basedir . '/events.jsonl';
my $listener_dir = "$FindBin::Bin/../listener";
local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';
my $listener = IPC::Run::start([ 'node', "$listener_dir/listen.js", $events_file ],
	'>', \my $listener_out, '2>', \my $listener_err);

sub events { return listened_events($events_file); }

# Waits until the listener has written at least $n events (ready line
# excluded) or $seconds pass; returns the events.
sub wait_events
{
	my ($n, $seconds) = @_;
	my $deadline = time + $seconds;
	my @events;
	while (1)
	{
		@events = grep { exists $_->{payload} } events();
		last if @events >= $n || time > $deadline;
		usleep(20_000);
	}
	return @events;
}

my $deadline = time + 30;
usleep(50_000) until (grep { $_->{ready} } events()) || time > $deadline;
ok((grep { $_->{ready} } events()), 'the listener is listening')
  or diag("listener: $listener_err");

my $seen = 0;
# The events since the last call, after waiting $wait seconds for more.
sub new_events
{
	my ($expected, $wait) = @_;
	my @all = wait_events($seen + $expected, $wait);
	usleep(300_000);    # and nothing more arrives
	@all = grep { exists $_->{payload} } events();
	my @new = @all[ $seen .. $#all ];
	$seen = @all;
	return map { $_->{payload} } @new;
}

sub summary
{
	return join(', ', map { "$_->{event} $_->{user_id}\@$_->{artifact_id}/$_->{version_id} $_->{state}" } @_);
}

my $sql = sub { $node->safe_psql('postgres', shift) };

# Join on the first beat: every id is a JSON string, the time is ISO 8601.
$sql->(q{SELECT presence_tracking.heartbeat(1, 10, 100, session_id => 'tab-a')});
my @e = new_events(1, 5);
is(summary(@e), 'join 1@10/100 viewing', 'first beat: one join');
is(ref(\$e[0]{user_id}) . ref(\$e[0]{artifact_id}) . ref(\$e[0]{version_id}), 'SCALARSCALARSCALAR',
	'ids are scalars');
like(encode_json($e[0]), qr/"user_id":"1"/, 'ids travel as JSON strings');
like($e[0]{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/, 'at is ISO 8601');

# A plain beat sends nothing.
$sql->(q{SELECT presence_tracking.heartbeat(1, 10, 100, session_id => 'tab-a')});
is(summary(new_events(1, 1)), '', 'plain beat: no event');

# A second tab sends nothing either: the face is already there.
$sql->(q{SELECT presence_tracking.heartbeat(1, 10, 100, session_id => 'tab-b')});
is(summary(new_events(1, 1)), '', 'second tab: no event');

# A state change is an update, with the data.
$sql->(q{SELECT presence_tracking.heartbeat(1, 10, 100, session_id => 'tab-b', state => 'editing', data => '{"cursor": 7}')});
@e = new_events(1, 5);
is(summary(@e), 'update 1@10/100 editing', 'state change: one update');
is_deeply($e[0]{data}, { cursor => 7 }, 'the update carries the data');

# One leave when the last of two tabs leaves.
$sql->(q{SELECT presence_tracking.leave(1, 10, 'tab-b')});
is(summary(new_events(1, 5)), 'update 1@10/100 viewing', 'the editing tab leaves: back to viewing');
$sql->(q{SELECT presence_tracking.leave(1, 10, 'tab-a')});
is(summary(new_events(1, 5)), 'leave 1@10/100 viewing', 'the last tab leaves: one leave');
$sql->(q{SELECT presence_tracking.leave(1, 10, 'tab-a')});
is(summary(new_events(1, 1)), '', 'leaving again: nothing');

# Nothing after a rollback.
$sql->(q{BEGIN; SELECT presence_tracking.heartbeat(2, 10, 100); ROLLBACK});
is(summary(new_events(1, 1)), '', 'rolled back: nothing');

# One transaction that joins, leaves, joins and leaves: four events
# (PostgreSQL folds equal notifications of a transaction; seq keeps them apart).
$sql->(q{BEGIN;
  SELECT presence_tracking.heartbeat(6, 10, 100, session_id => 'q');
  SELECT presence_tracking.leave(6, 10, 'q');
  SELECT presence_tracking.heartbeat(6, 10, 100, session_id => 'q');
  SELECT presence_tracking.leave(6, 10, 'q');
  COMMIT});
is(summary(new_events(4, 5)), 'join 6@10/100 viewing, leave 6@10/100 viewing, join 6@10/100 viewing, leave 6@10/100 viewing',
	'join, leave, join, leave in one transaction: four events, in order');

# The setting turns events off.
$sql->(q{SET presence_tracking.notify = off; SELECT presence_tracking.heartbeat(3, 10, 100)});
is(summary(new_events(1, 1)), '', 'notify = off: nothing');
$sql->(q{SELECT presence_tracking.leave(3, 10)});
is(summary(new_events(1, 5)), 'leave 3@10/100 viewing', 'notify on again: the leave is heard');

# Erasure: a user present on two artifacts leaves both (heard), and every
# session of theirs goes, the ended ones too.
$sql->(q{SELECT presence_tracking.heartbeat(8, 10, 100, session_id => 'x'),
               presence_tracking.heartbeat(8, 11, 110), presence_tracking.leave(8, 10, 'x'),
               presence_tracking.heartbeat(8, 10, 101, session_id => 'y')});
new_events(4, 5);
is($sql->(q{SELECT rows_deleted FROM presence_tracking.forget_user(8) WHERE table_name = 'presence'}),
	'3', 'forget_user deletes every session of the user, ended or not');
is(summary(new_events(2, 5)), 'leave 8@10/101 viewing, leave 8@11/110 viewing',
	'forget_user announces the leave on each artifact where the user was present');
$sql->(q{SELECT presence_tracking.heartbeat(9, 12, 120), presence_tracking.leave(9, 12)});
new_events(2, 5);
is($sql->(q{SELECT rows_deleted FROM presence_tracking.forget_user(9) WHERE table_name = 'presence'}),
	'1', 'forget_user of a user who already left deletes the ended session');
is(summary(new_events(1, 1)), '', 'and announces nothing');

# A timeout, announced by the background worker within 2 s of the TTL.
$sql->(qq{ALTER SYSTEM SET presence_tracking.ttl = '${ttl}s'; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', qq{SELECT current_setting('presence_tracking.ttl') = '${ttl}s'})
  or die 'ttl not reloaded';
usleep(500_000);    # the sweeper reloads too
my $last_beat = $sql->(q{SELECT extract(epoch FROM now()) FROM (SELECT presence_tracking.heartbeat(4, 10, 100, session_id => 'gone')) b});
@e = new_events(2, $ttl + 5);
is(summary(@e), 'join 4@10/100 viewing, leave 4@10/100 viewing', 'a silent session times out: join, then leave');
my ($heard) = map { $_->{received} / 1000 } grep { $_->{payload}{event} eq 'leave' } (events())[-1];
my $delay = $heard - ($last_beat + $ttl);
ok($delay >= 0 && $delay < 2, sprintf('the timeout is announced %.2f s after the TTL (limit 2 s)', $delay));
is($sql->(q{SELECT how FROM presence_tracking.recent_viewers(10) WHERE user_id = 4}),
	'timed_out', 'and shows as recently offline');

# Purge deletes a session older than the retention that nobody ended: it
# announces the leave first (here in one transaction with the beat, which
# the sweeper cannot see).
$sql->(q{BEGIN;
  SET LOCAL presence_tracking.max_backdate = -1;
  SELECT presence_tracking.heartbeat(5, 10, 100, now() - interval '700 s');
  SELECT presence_tracking.purge();
  COMMIT});
is(summary(new_events(2, 5)), 'join 5@10/100 viewing, leave 5@10/100 viewing',
	'purge announces the leave of a session it deletes');

# The storm.
my $storm = $node->basedir . '/storm.sql';
PostgreSQL::Test::Utils::append_to_file($storm, <<'EOS');
\set u random(1, 12)
\set a random(1, 3)
\set v random(1, 3)
\set tab random(1, 3)
\set st random(0, 2)
\set action random(1, 100)
\if :action <= 50
SELECT presence_tracking.heartbeat(:u, :a, :a * 10 + :v, session_id => 's' || :tab,
         state => (ARRAY['idle', 'viewing', 'editing'])[:st + 1],
         data => CASE WHEN :st = 2 THEN jsonb_build_object('cursor', :v) END);
\elif :action <= 60
SELECT presence_tracking.heartbeat(:u, :a, :a * 10 + :v, now() - interval '2.5 s', session_id => 'short' || :tab);
\elif :action <= 75
SELECT presence_tracking.leave(:u, :a, 's' || :tab);
\elif :action <= 80
SELECT presence_tracking.leave(:u, :a);
\elif :action <= 90
SELECT presence_tracking.heartbeat(:u, :a, :a * 10 + :v);
\else
SELECT count(*) FROM presence_tracking.heartbeat_many(ARRAY[:u, :u % 12 + 1], ARRAY[:a, :a],
         ARRAY[:a * 10 + :v, :a * 10 + 1], session_ids => ARRAY['s' || :tab, NULL],
         states => ARRAY['editing', NULL]);
\endif
EOS
my ($out, $err);
IPC::Run::run([ 'pgbench', '--no-vacuum', '--client=16', '--jobs=2', '--time=8', '-f', $storm,
		'-h', $node->host, '-p', $node->port, 'postgres' ], '>', \$out, '2>', \$err);
like($out, qr/number of failed transactions: 0 /, 'storm: no call failed') or diag($err);
unlike($out . $err, qr/aborted/, 'storm: no client aborted');

# Keep every open session alive for the comparison: a plain beat sends
# nothing, a beat on a session past its TTL announces leave and join; none
# can time out in the seconds of the comparison.
$sql->(q{
  SELECT count(*)
    FROM (SELECT array_agg(user_id) AS u, array_agg(artifact_id) AS a, array_agg(version_id) AS v,
                 array_agg(session_id) AS s, array_agg(state) AS st, array_agg(data) AS d
            FROM presence_tracking.presence
           WHERE ended_at IS NULL) live,
         presence_tracking.heartbeat_many(live.u, live.a, live.v, now(), live.s, live.st, live.d)});
$sql->(q{SELECT presence_tracking.expire_sessions()});
my $pile = $sql->(q{
  SELECT string_agg(rtrim(format('%s@%s/%s %s %s', v.user_id, a, v.version_id, v.state, v.data)), ', '
                    ORDER BY a, v.user_id)
    FROM generate_series(1, 3) a, presence_tracking.active_viewers(a) v});
usleep(1_000_000);

# Replay the storm's stream (artifacts 1 to 3) from an empty room.
my (%room, @contradictions, %count);
for my $p (grep { $_->{artifact_id} =~ /^[123]$/ } map { $_->{payload} } grep { exists $_->{payload} } events())
{
	my $key = "$p->{user_id}\@$p->{artifact_id}";
	$count{ $p->{event} }++;
	if ($p->{event} eq 'join')
	{
		push @contradictions, "join of present $key" if $room{$key};
		$room{$key} = $p;
	}
	elsif ($p->{event} eq 'update')
	{
		push @contradictions, "update of absent $key" unless $room{$key};
		$room{$key} = $p;
	}
	else
	{
		push @contradictions, "leave of absent $key" unless $room{$key};
		delete $room{$key};
	}
}
my $replayed = join(', ',
	map { sprintf('%s@%s/%s %s %s', $room{$_}{user_id}, $room{$_}{artifact_id}, $room{$_}{version_id},
			$room{$_}{state}, defined $room{$_}{data} ? encode_json($room{$_}{data}) =~ s/:/: /gr : '') =~ s/ $//r }
	  sort { $room{$a}{artifact_id} <=> $room{$b}{artifact_id} || $room{$a}{user_id} <=> $room{$b}{user_id} }
	  keys %room);
ok($count{join} > 20 && $count{leave} > 20 && $count{update} > 20,
	"storm: joins, leaves and updates heard ($count{join}, $count{leave}, $count{update})");
is(join("\n", @contradictions), '', 'no event contradicts the one before it');
isnt($pile, '', 'the room is not empty after the storm');
is($replayed, $pile, 'the replayed event stream is exactly the face pile');

$listener->signal('TERM');
$listener->finish;
$node->stop;
done_testing();
