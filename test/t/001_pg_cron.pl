# The purge job on pg_cron: scheduled by CREATE EXTENSION with the configured
# schedule, runs and succeeds, follows schedule_purge(), leaves with DROP
# EXTENSION; and the extension installs and works where pg_cron is absent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceFixture;

my $node = cron_cluster('cron', 'app', q{presence_tracking.cleanup_schedule = '*/15 * * * *'});
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_cron');
$node->safe_psql('app', 'CREATE EXTENSION presence_tracking');

my $job = q{SELECT schedule, command, database FROM cron.job WHERE jobname = 'presence_tracking_purge'};
like($node->safe_psql('app', $job), qr/^\*\/15 \* \* \* \*\|DO \$purge\$ .*%I\.purge\(\).*\|app$/,
	'CREATE EXTENSION schedules the purge on cleanup_schedule');

# A run of the job: every minute, and wait for pg_cron to report it.
$node->safe_psql('app', q{
	SELECT presence_tracking.heartbeat(1, 1, 1, now() - interval '1 hour');
	SELECT presence_tracking.heartbeat(2, 1, 1, now());
	SET presence_tracking.cleanup_schedule = '* * * * *';
	SELECT presence_tracking.schedule_purge();
});
is($node->safe_psql('app', "SELECT count(*), min(schedule) FROM cron.job WHERE jobname = 'presence_tracking_purge'"),
	'1|* * * * *', 'schedule_purge() reschedules the one job');
ok($node->poll_query_until('app', q{
	SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 WHERE j.jobname = 'presence_tracking_purge' AND d.status = 'succeeded'}),
	'the job ran and succeeded');
is($node->safe_psql('app', 'SELECT user_id FROM presence_tracking.presence'), '2',
	'the job purged the expired row and kept the live one');

# unschedule_purge() and schedule_purge() again.
is($node->safe_psql('app', 'SELECT presence_tracking.unschedule_purge()'), 't', 'unschedule_purge() removes the job');
is($node->safe_psql('app', 'SELECT presence_tracking.unschedule_purge()'), 'f', 'and says so when there is none');
$node->safe_psql('app', 'SELECT presence_tracking.schedule_purge()');

# A failed DROP keeps the job; a successful one removes it.
$node->safe_psql('app', 'CREATE VIEW app_face_pile AS SELECT * FROM presence_tracking.presence');
my ($ret, $out, $err) = $node->psql('app', 'DROP EXTENSION presence_tracking');
isnt($ret, 0, 'DROP EXTENSION fails while a view depends on it');
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '1',
	'the failed drop keeps the job');
$node->safe_psql('app', 'DROP VIEW app_face_pile; DROP EXTENSION presence_tracking');
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '0',
	'DROP EXTENSION leaves no job behind');

# DROP SCHEMA ... CASCADE drops the extension, and the job with it.
$node->safe_psql('app', 'CREATE EXTENSION presence_tracking_text');
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '1',
	'the text-key extension schedules the job too');
$node->safe_psql('app', 'DROP SCHEMA presence_tracking CASCADE');
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '0',
	'DROP SCHEMA CASCADE leaves no job behind');

# The job's command, run as pg_cron runs it (the superuser's session), finds
# the extension's schema through the catalog: renamed, with a look-alike
# under the old name whose purge() would make its owner a superuser, the job
# still purges the extension's table and runs nothing of the look-alike.
my $run_job = q{SELECT command FROM cron.job WHERE jobname = 'presence_tracking_purge' \gexec};
$node->safe_psql('app', 'CREATE EXTENSION presence_tracking; CREATE ROLE dbowner');
$node->safe_psql('app', 'ALTER DATABASE app OWNER TO dbowner');
$node->safe_psql('app', q{SET presence_tracking.max_backdate = -1;
	SELECT presence_tracking.heartbeat(1, 1, 1, now() - interval '1 hour')});
$node->safe_psql('app', 'ALTER SCHEMA presence_tracking RENAME TO presence_tracking_real');
$node->safe_psql('app', q{SET ROLE dbowner; CREATE SCHEMA presence_tracking;
	CREATE FUNCTION presence_tracking.purge() RETURNS bigint LANGUAGE plpgsql AS
	  $$ BEGIN ALTER ROLE dbowner SUPERUSER; RETURN 0; END $$});
$node->safe_psql('app', $run_job);
is($node->safe_psql('app', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
	'the job does not run a look-alike purge() in a squatted schema');
is($node->safe_psql('app', 'SELECT count(*) FROM presence_tracking_real.presence'), '0',
	'the job purges the renamed schema of the extension');
$node->safe_psql('app', 'DROP SCHEMA presence_tracking CASCADE');
$node->safe_psql('app', 'ALTER SCHEMA presence_tracking_real RENAME TO presence_tracking');

# A drop the event trigger does not see (here: disabled): the job, next
# time it runs, finds no extension and removes itself.
$node->safe_psql('app', 'ALTER EVENT TRIGGER presence_tracking_on_drop DISABLE');
$node->safe_psql('app', 'DROP EXTENSION presence_tracking');
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '1',
	'a drop the event trigger did not see leaves the job for now');
$node->safe_psql('app', $run_job);
is($node->safe_psql('app', "SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'"), '0',
	'and the job removes itself when it next runs');
$node->stop;

# Without pg_cron at all: installs with a warning and works; purge by hand.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION presence_tracking');
is($ret, 0, 'CREATE EXTENSION succeeds without pg_cron');
like($err, qr/pg_cron is not installed in this database/, 'and says the purge is not scheduled');
like($err, qr/presence_tracking\.purge\(\)/, 'and how to purge instead');
is($plain->safe_psql('postgres', q{
	SET presence_tracking.max_backdate = -1;
	SELECT presence_tracking.heartbeat(1, 1, 1, now() - interval '1 hour');
	SELECT presence_tracking.heartbeat(2, 1, 1);
	SELECT presence_tracking.record_view(1, 1, 1);
	SELECT presence_tracking.purge();
}), "t\nt\nt\n1", 'heartbeat, record_view and purge work');
($ret, $out, $err) = $plain->psql('postgres', 'SELECT presence_tracking.schedule_purge()');
like($err, qr/ERROR:  presence purge job not scheduled: pg_cron is not installed/,
	'schedule_purge() by hand is an error without pg_cron');
$plain->safe_psql('postgres', 'DROP EXTENSION presence_tracking');
$plain->stop;

done_testing();
