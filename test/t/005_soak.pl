# Soak: heartbeats, record_view, face-pile reads and purges together, 16
# clients, for PT_SOAK_SECONDS (30 in make test; make soak runs 300).  No
# call fails, no deadlock, the view tiers agree, and the presence table stays
# bounded although rows expire and are purged all the time.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceInvariants;

my $seconds = $ENV{PT_SOAK_SECONDS} // 30;
my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 40\nlog_lock_waits = on\nlog_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION presence_tracking');

# ALTER SYSTEM takes values one by one; a combination that breaks a rule once
# loaded makes every function refuse to run, naming the rule.
$node->safe_psql('postgres', q{
	LOAD 'presence_tracking';
	ALTER SYSTEM SET presence_tracking.ttl = '30s';
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('presence_tracking.ttl') = '30s'})
  or die 'ttl was not reloaded';
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT presence_tracking.heartbeat(1, 1, 1)');
like($stderr, qr/settings are inconsistent: presence_tracking.ttl must be greater than presence_tracking.heartbeat_interval/,
	'a broken combination from ALTER SYSTEM is refused at use, naming the rule');

$node->safe_psql('postgres', q{
	LOAD 'presence_tracking';
	ALTER SYSTEM SET presence_tracking.heartbeat_interval = '1s';
	ALTER SYSTEM SET presence_tracking.ttl = '3s';
	ALTER SYSTEM SET presence_tracking.retention = '5s';
	ALTER SYSTEM SET presence_tracking.view_debounce = '2s';
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{SELECT current_setting('presence_tracking.retention') = '5s'})
  or die 'settings were not reloaded';

# 2000 users x 100 artifacts, 3 versions each.
my %scripts = (
	heartbeat => "SELECT presence_tracking.heartbeat(:u, :a, :a * 10 + :v);",
	record_view => "SELECT presence_tracking.record_view(:u, :a, :a * 10 + :v);",
	face_pile => "SELECT count(*) FROM presence_tracking.active_viewers(:a);",
	purge => "SELECT presence_tracking.purge();");
my %weight = (heartbeat => 60, record_view => 30, face_pile => 9, purge => 1);
my @files;
for my $name (sort keys %scripts)
{
	my $file = "${PostgreSQL::Test::Utils::tmp_check}/soak_$name.sql";
	append_to_file($file, "\\set u random(1, 2000)\n\\set a random(1, 100)\n\\set v random(1, 3)\n$scripts{$name}\n");
	push @files, "--file=$file\@$weight{$name}";
}

my $size = q{SELECT pg_total_relation_size('presence_tracking.presence')};
my $log_start = -s $node->logfile;
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start([ 'pgbench', '--no-vacuum', '--client=16', '--jobs=2',
		"--time=$seconds", '--report-per-command', @files,
		'-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
sleep(int($seconds / 3) || 1);
my $size_early = $node->safe_psql('postgres', $size);
$pgbench->finish or die "pgbench failed: $err";
my $size_end = $node->safe_psql('postgres', $size);

my ($calls) = $out =~ /number of transactions actually processed: (\d+)/;
my ($failed) = $out =~ /number of failed transactions: (\d+)/;
my %per_script = $out =~ /SQL script \d+: \S+soak_(\w+)\.sql\n - weight: \d+ \([^)]*\)\n - (\d+) transactions/g;
diag("soak ${seconds}s: $calls calls (" . join(', ', map { "$_ $per_script{$_}" } sort keys %per_script)
	  . "), failed " . ($failed // 0) . ", presence size ${size_early} B after a third, ${size_end} B at the end");
cmp_ok($calls, '>', 0, 'the soak made calls');
is($failed // 0, 0, 'no call failed');
unlike($err, qr/ERROR|deadlock/i, 'pgbench saw no error');
my $log = slurp_file($node->logfile, $log_start);
ok($log !~ /deadlock detected/, 'no deadlock in the server log during the soak');
my @errors = $log =~ /^.*\bERROR:.*$/mg;
is(scalar(@errors), 0, 'no error in the server log during the soak') or diag(join("\n", @errors[0 .. ($#errors < 9 ? $#errors : 9)]));

is(tier_violations($node), '0', 'the view tiers agree after the soak');
is(duplicate_sessions($node, 'presence_tracking.artifact_views', '2 s'), '0', 'no duplicate sessions');
my ($indexes, $checked) = indexes_verified($node);
is($checked, $indexes, "amcheck: the $indexes indexes are sound and hold every row");
# Bounded: the purge keeps rows to the last few seconds' beats, and HOT
# pruning and vacuum keep the pages from growing with the number of beats.
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM presence_tracking.presence'), '<=', 2000 * 300,
	'presence rows stay within the key space');
cmp_ok($size_end, '<=', 3 * $size_early + 1024 * 1024, 'presence size stays bounded');

$node->stop;
done_testing();
