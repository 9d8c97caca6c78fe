# The exploits found in 1.1, run as an attacker would against a database
# created at each old release: they work there, and the update to the
# current release closes them in the same database.  Then what needs
# pg_cron: DROP OWNED BY the installing role leaves no job behind, and the
# purge schedule is accepted exactly when the installed pg_cron accepts it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceFixture;

# Writers' times are bounded here, as on a default installation.
my $node = cron_cluster('hostile', 'postgres', "presence_tracking.max_backdate = '5min'");
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

# 1. pg_temp shadowing of an unqualified name in a DBA's trigger.
my $pg_temp_exploit = q{
CREATE TABLE pg_temp.audit_log (user_id bigint, at timestamptz);
GRANT ALL ON pg_temp.audit_log TO PUBLIC;
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN ALTER ROLE attacker SUPERUSER; RETURN NEW; END $$;
CREATE TRIGGER escalate BEFORE INSERT ON pg_temp.audit_log
  FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
SELECT presence_tracking.record_view(1, 10, 100);
};
# 2. An unqualified function in a trigger, shadowed on the caller's path.
my $search_path_exploit = q{
SET search_path = app, pg_catalog;
SELECT presence_tracking.heartbeat(1, 10, 100);
};
# 6. A version recorded under a second artifact, by a second user.
my $version_exploit = q{
SELECT presence_tracking.record_view(8, 80, 800);
SELECT presence_tracking.record_view(9, 81, 800);
};

# Runs $sql as the attacker; returns whether it became a superuser (and
# takes the attribute back).
sub attacker_became_superuser
{
	my ($db, $sql) = @_;
	$node->psql($db, "SET ROLE attacker; $sql");
	my $super = $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'});
	$node->safe_psql('postgres', 'ALTER ROLE attacker NOSUPERUSER');
	return $super eq 't';
}

sub version_forged
{
	my ($db) = @_;
	$node->psql($db, "SET ROLE attacker; $version_exploit");
	return $node->safe_psql($db,
		q{SELECT count(DISTINCT artifact_id) FROM presence_tracking.artifact_version_stats WHERE version_id = 800}
	) > 1;
}

my $roles_made = 0;
for my $old (qw(1.0 1.1))
{
	(my $db = "old_$old") =~ s/\W/_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION presence_tracking VERSION '$old'");
	if (!$roles_made++)
	{
		$node->safe_psql('postgres', 'CREATE ROLE attacker IN ROLE presence_tracking_writer');
	}
	# The DBA's triggers, as the README invites.
	$node->safe_psql(
		$db, q{
		CREATE SCHEMA app AUTHORIZATION attacker;
		CREATE TABLE public.audit_log (user_id bigint, at timestamptz);
		GRANT INSERT ON public.audit_log TO PUBLIC;
		CREATE FUNCTION public.audit_access() RETURNS trigger LANGUAGE plpgsql AS
		  $$ BEGIN INSERT INTO audit_log VALUES (NEW.user_id, NEW.last_viewed_at); RETURN NEW; END $$;
		CREATE TRIGGER audit AFTER INSERT OR UPDATE ON presence_tracking.artifact_access
		  FOR EACH ROW EXECUTE FUNCTION public.audit_access();
		CREATE FUNCTION public.presence_check() RETURNS trigger LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM lower('X'); RETURN NEW; END $$;
		CREATE TRIGGER check_presence BEFORE INSERT OR UPDATE ON presence_tracking.presence
		  FOR EACH ROW EXECUTE FUNCTION public.presence_check();
	});
	$node->safe_psql($db,
		q{CREATE FUNCTION app.lower(text) RETURNS text LANGUAGE plpgsql AS
		  $$ BEGIN ALTER ROLE attacker SUPERUSER; RETURN $1; END $$;
		  ALTER FUNCTION app.lower(text) OWNER TO attacker});

	ok(attacker_became_superuser($db, $pg_temp_exploit), "$old: exploit 1 (pg_temp) works before the update");
	ok(attacker_became_superuser($db, $search_path_exploit),
		"$old: exploit 2 (search_path) works before the update");
	ok(version_forged($db), "$old: exploit 6 (version under another artifact) works before the update");

	$node->safe_psql($db, 'ALTER EXTENSION presence_tracking UPDATE');
	ok(!attacker_became_superuser($db, $pg_temp_exploit), "$old: exploit 1 fails after the update");
	# The code such a trigger reaches runs as presence_tracking_definer, which
	# owns nothing: it cannot alter or re-grant the writers.
	my $acl_sql = q{SELECT proacl::text || coalesce(proconfig::text, '') FROM pg_proc
	                 WHERE oid = 'presence_tracking.record_view(bigint,bigint,bigint,timestamptz)'::regprocedure};
	my $acl_before = $node->safe_psql($db, $acl_sql);
	(my $persist = $pg_temp_exploit) =~ s/ALTER ROLE attacker SUPERUSER/GRANT EXECUTE ON FUNCTION presence_tracking.record_view(bigint,bigint,bigint,timestamptz) TO PUBLIC; ALTER FUNCTION presence_tracking.record_view(bigint,bigint,bigint,timestamptz) SECURITY DEFINER/;
	$node->psql($db, "SET ROLE attacker; $persist");
	is($node->safe_psql($db, $acl_sql), $acl_before, "$old: nor can it alter or re-grant the writers");
	ok(!attacker_became_superuser($db, $search_path_exploit), "$old: exploit 2 fails after the update");
	my ($ret, $out, $err) = $node->psql($db,
		'SET ROLE attacker; SELECT presence_tracking.record_view(10, 82, 800)');
	like($err, qr/version 800 belongs to artifact 80, not to artifact 82/,
		"$old: exploit 6 fails after the update (the artifact of the first view is kept)");
	($ret, $out, $err) = $node->psql($db,
		q{SET ROLE attacker; SELECT presence_tracking.record_view(42, 7, 700, '1990-01-01')});
	like($err, qr/at is too far in the past/, "$old: exploit 5 (back-dating) fails");
}

# 3. A schema handed to a role that is not a superuser blocks the update,
# and so do objects such a role left in it (a better match for a call).
$node->safe_psql('postgres', 'CREATE DATABASE squatted; CREATE ROLE squatter');
$node->safe_psql('squatted', "CREATE EXTENSION presence_tracking VERSION '1.1'");
$node->safe_psql('squatted', 'ALTER SCHEMA presence_tracking OWNER TO squatter');
my ($ret, $out, $err) = $node->psql('squatted', 'ALTER EXTENSION presence_tracking UPDATE');
like($err, qr/schema presence_tracking is owned by squatter, which is not a superuser/,
	'3: the update refuses a schema a non-superuser owns');
$node->safe_psql('squatted', q{SET ROLE squatter;
	CREATE FUNCTION presence_tracking.artifact_stats(integer) RETURNS integer LANGUAGE sql AS 'SELECT 1'});
$node->safe_psql('squatted', 'ALTER SCHEMA presence_tracking OWNER TO CURRENT_USER');
($ret, $out, $err) = $node->psql('squatted', 'ALTER EXTENSION presence_tracking UPDATE');
like($err, qr/holds objects that are not the extension's: function artifact_stats\(integer\)/,
	'3: the update refuses objects in the schema that are not the extension\'s');
$node->safe_psql('squatted', 'DROP FUNCTION presence_tracking.artifact_stats(integer)');
$node->safe_psql('squatted', 'ALTER EXTENSION presence_tracking UPDATE');
is($node->safe_psql('squatted', q{SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking'}),
	$node->safe_psql('squatted', q{SELECT default_version FROM pg_available_extensions WHERE name = 'presence_tracking'}),
	'3: and goes through once the schema is the superuser\'s again');

# 8. DROP OWNED BY the role that installed the extension: at 1.1 the job
# stays; now it goes with the extension.
my $jobs = q{SELECT count(*) FROM cron.job WHERE jobname = 'presence_tracking_purge'};
$node->safe_psql('postgres', 'CREATE ROLE installer SUPERUSER');
for my $version (qw(1.1 1.2))
{
	$node->safe_psql('postgres',
		"SET ROLE installer; CREATE EXTENSION presence_tracking VERSION '$version'");
	is($node->safe_psql('postgres', $jobs), '1', "8: $version scheduled the purge job");
	$node->safe_psql('postgres', 'DROP OWNED BY installer');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'presence_tracking'}),
		'0', "8: DROP OWNED BY the installer drops the $version extension");
	is($node->safe_psql('postgres', $jobs), $version eq '1.1' ? '1' : '0',
		$version eq '1.1' ? '8: at 1.1 the job stays behind' : '8: now the job goes too');
	$node->safe_psql('postgres', "SELECT cron.unschedule(jobid) FROM cron.job");
	$node->safe_psql('postgres', 'DROP SCHEMA IF EXISTS presence_tracking');
}

# 8. The same when the role dropped owns the extension's schema, not the
# extension.
$node->safe_psql('postgres', 'CREATE ROLE schema_owner SUPERUSER');
$node->safe_psql('postgres', 'CREATE SCHEMA presence_tracking AUTHORIZATION schema_owner');
$node->safe_psql('postgres', 'CREATE EXTENSION presence_tracking');
is($node->safe_psql('postgres', $jobs), '1', '8: a schema made beforehand by another superuser is taken');
$node->safe_psql('postgres', 'DROP OWNED BY schema_owner CASCADE');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'presence_tracking'}),
	'0', '8: DROP OWNED BY the schema\'s owner drops the extension');
is($node->safe_psql('postgres', $jobs), '0', '8: and the job with it');

# 9. The schedule setting accepts exactly what the installed pg_cron accepts.
$node->safe_psql('postgres', 'LOAD \'presence_tracking\'');
for my $schedule ('0 * * * *', '@hourly', '30 seconds', '5-1 * * * *', '* * * * * *',
	'0 24 * * *', '*/0 * * * *', '@reboot', 'jan * * * *', '0 0 1 jan-jun mon-fri', '')
{
	my ($cron_ret) = $node->psql('postgres',
		"BEGIN; SELECT cron.schedule('probe', '$schedule', 'SELECT 1'); ROLLBACK");
	my ($set_ret) = $node->psql('postgres',
		"LOAD 'presence_tracking'; SET presence_tracking.cleanup_schedule = '$schedule'");
	is($set_ret == 0, $cron_ret == 0,
		"9: '$schedule' is " . ($cron_ret == 0 ? 'accepted' : 'refused') . ' by pg_cron and by the setting');
}

$node->stop;
done_testing();
