# Upgrades.  For every release before the current default version and each
# key type: a database created at the old version and filled keeps every row
# through ALTER EXTENSION ... UPDATE, ends with the same objects as a fresh
# install, keeps its grants and its pg_cron job, and works as before.  The
# library under test also serves a database that has not run the update yet
# (C entry points stay valid across releases).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../perl";
use PresenceFixture;

# Every release of the SQL objects before the current one, with what the
# update to the current version changes in the objects: patterns for the
# lines of $describe_sql removed and added.  Every changed line must match a
# pattern and every pattern a line, so a missing or an extra change fails.
# Add a version here with its upgrade script, and the changes of a new
# upgrade script to every entry.  The patterns leave out what differs
# between key types and between the names of the installing superuser.
my @changes_1_2_removed = (
	qr/^ SECURITY DEFINER( ROWS 10)?$/,
	qr/^RETURN \(EXISTS \(SELECT FROM presence_tracking\.artifact_version_stats s WHERE /,
	qr/^config \{presence_tracking\.presence,presence_tracking\.artifact_views,presence_tracking\.artifact_version_stats,presence_tracking\.artifact_access\}$/,
	qr/^function presence_tracking\.(heartbeat|heartbeat_many|record_view|purge|schedule_purge|unschedule_purge|on_drop)\(.* config= acl=/,
	qr/^relation presence_tracking\.(presence|artifact_views|artifact_version_stats|artifact_access) kind=r .*acl=\{\w+=arwdDxt\/\w+,presence_tracking_reader=r\/\w+\}$/,
);
my @changes_1_2_added = (
	qr/^ SET search_path TO 'pg_catalog', 'pg_temp'$/,
	qr/^column artifact_versions\.(version_id|artifact_id) \w+ notnull=t default=$/,
	qr/^column artifact_versions_(artifact_idx\.artifact_id|pkey\.version_id) \w+ notnull=f default=$/,
	qr/^constraint presence_tracking\.artifact_versions artifact_versions_pkey PRIMARY KEY \(version_id\)$/,
	qr/^ ROWS 10$/,
	qr/^RETURN CASE WHEN \(\(user_id IS NOT NULL\) AND \(version_id IS NOT NULL\)\) THEN \(EXISTS /,
	qr/^function presence_tracking\.(heartbeat|heartbeat_many|record_view)\(.* secdef=f .*config= acl=\{\w+=X\/\w+,presence_tracking_writer=X\/\w+\} /,
	qr/^function presence_tracking\.(purge|schedule_purge|unschedule_purge|on_drop)\(\) secdef=f .*config=\{"search_path=pg_catalog, pg_temp"\} acl=\{\w+=X\/\w+\} /,
	qr/^index CREATE (UNIQUE )?INDEX artifact_versions_(artifact_idx|pkey) ON presence_tracking\.artifact_versions USING btree \((artifact_id|version_id)\)$/,
	qr/^member table presence_tracking\.artifact_versions$/,
	qr/^relation presence_tracking\.(presence|artifact_version_stats|artifact_access) kind=r .*,presence_tracking_definer=arw\/\w+\}$/,
	qr/^relation presence_tracking\.artifact_versions kind=r .*,presence_tracking_definer=ar\/\w+\}$/,
	qr/^relation presence_tracking\.artifact_versions_(artifact_idx|pkey) kind=i persistence=p options= acl=$/,
);
# (1.2 also added the ledger's grant to the definer and a config list with
# artifact_views: 1.4 replaced both, so their lines are under 1.4.)
# Release 1.3: sessions on the presence table, new writers and readers.
my @changes_1_3_removed = (
	qr/^ RETURNS TABLE\(user_id \w+, version_id \w+, last_seen_at timestamp with time zone\)$/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_(active_viewers|heartbeat|heartbeat_many)\$function\$$/,
	qr/^constraint presence_tracking\.presence presence_pkey PRIMARY KEY \(artifact_id, user_id, version_id\)$/,
	qr/^index CREATE UNIQUE INDEX presence_pkey ON presence_tracking\.presence USING btree \(artifact_id, user_id, version_id\)$/,
	qr/^member function presence_tracking\.(heartbeat|heartbeat_many)\(\w+(\[\])?,\w+(\[\])?,\w+(\[\])?,timestamp with time zone\)$/,
	qr/^function presence_tracking\.(heartbeat|heartbeat_many)\(\w+(\[\])?,\w+(\[\])?,\w+(\[\])?,timestamp with time zone\) /,
	qr/^relation presence_tracking\.presence kind=r persistence=u /,
);
my @changes_1_3_added = (
	qr/^ RETURNS TABLE\(artifact_id \w+, version_id \w+, state text, last_seen_at timestamp with time zone\)$/,
	qr/^ RETURNS TABLE\(user_id \w+, version_id \w+, last_seen_at timestamp with time zone, how text\)$/,
	qr/^ RETURNS TABLE\(user_id \w+, version_id \w+, last_seen_at timestamp with time zone, state text, sessions bigint, data jsonb\)$/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_(active_count|beat|beat_many|expire_sessions|face_pile|leave|recent_viewers|user_presence)\$function\$$/,
	qr/^column presence\.(changed_at timestamp with time zone notnull=t default=|data jsonb notnull=f default=|end_reason text notnull=f default=|ended_at timestamp with time zone notnull=f default=|session_id text notnull=t default=''::text|state text notnull=t default='viewing'::text)$/,
	qr/^column presence_pkey\.session_id text notnull=f default=$/,
	qr/^column presence_user_idx\.user_id \w+ notnull=f default=$/,
	qr/^constraint presence_tracking\.presence presence_pkey PRIMARY KEY \(artifact_id, user_id, session_id, version_id\)$/,
	qr/^function presence_tracking\.(active_viewers|active_count|user_presence|recent_viewers)\(.* secdef=f volatile=s .*config= acl=\{\w+=X\/\w+,presence_tracking_reader=X\/\w+\} /,
	qr/^function presence_tracking\.(heartbeat|heartbeat_many|leave|expire_sessions)\(.* secdef=f volatile=v .*config= acl=\{\w+=X\/\w+,presence_tracking_writer=X\/\w+\} /,
	qr/^index CREATE INDEX presence_user_idx ON presence_tracking\.presence USING btree \(user_id\)$/,
	qr/^index CREATE UNIQUE INDEX presence_pkey ON presence_tracking\.presence USING btree \(artifact_id, user_id, session_id, version_id\)$/,
	qr/^member function presence_tracking\.(active_count|expire_sessions|heartbeat|heartbeat_many|leave|recent_viewers|user_presence)\(/,
	qr/^relation presence_tracking\.presence kind=r persistence=u .*,presence_tracking_definer=arwd\/\w+\}$/,
	qr/^relation presence_tracking\.presence_user_idx kind=i persistence=u options= acl=$/,
);
# Release 1.4: view tracking, complete.
my @new_functions_1_4 = qw(artifact_engagement check_consistency check_tracked day_start fold_engagement
  forget_user import_views ledger_horizon ledger_partitions maintain_views manage_ledger_partitions rebuild_stats
  restoring_dump set_tracking tracking unread view_day);
my $new_function_1_4 = join('|', @new_functions_1_4);
my $new_table_1_4 = 'artifact_engagement|artifact_tracking|artifact_view_days|artifact_views_default|ledger_horizon';
my @changes_1_4_removed = (
	qr/^\s+WHERE \(s\.(artifact_id = artifact_matrix\.artifact_id|version_id = version_viewers\.version_id)\)$/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_record_view\$function\$$/,
	qr/^config \{presence_tracking\.presence,presence_tracking\.artifact_views,/,
	qr/^index CREATE UNIQUE INDEX artifact_views_pkey ON presence_tracking\.artifact_views USING btree \(user_id, viewed_at, version_id\)$/,
	qr/^relation presence_tracking\.artifact_views(_pkey)? kind=[ri] /,
	qr/^constraint presence_tracking\.artifact_views artifact_views_pkey PRIMARY KEY \(user_id, viewed_at, version_id\)$/,
	qr/^column artifact_views_pkey\.\w+ /,
);
my @changes_1_4_added = (
	qr/^\s+FROM presence_tracking\.artifact_tracking t$/,
	qr/^\s+WHERE \(t\.artifact_id = s\.artifact_id\)\)\)\)\)$/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_(day_start|record_view_1_4|restoring_dump|set_tracking|view_day)\$function\$$/,
	qr/^ RETURNS (date|text|timestamp with time zone|boolean)$/,
	qr/^ (STABLE|STABLE PARALLEL SAFE STRICT|LANGUAGE c)$/,
	qr/^column ($new_table_1_4)(_pkey|_unfolded_idx)?\.\w+ /,
	qr/^config \{presence_tracking\.presence,presence_tracking\.artifact_version_stats,presence_tracking\.artifact_access,presence_tracking\.artifact_versions,.*presence_tracking\.artifact_views_default.*\}$/,
	qr/^constraint presence_tracking\.($new_table_1_4) /,
	qr/^function presence_tracking\.($new_function_1_4)\(/,
	qr/^index CREATE (UNIQUE )?INDEX ($new_table_1_4)(_pkey|_unfolded_idx) ON /,
	qr/^member function presence_tracking\.($new_function_1_4)\(/,
	qr/^member table presence_tracking\.($new_table_1_4)$/,
	qr/^relation presence_tracking\.($new_table_1_4)(_pkey|_unfolded_idx)? kind=[ri] /,
	qr/^relation presence_tracking\.artifact_views kind=p .*,presence_tracking_definer=a\/\w+\}$/,
);
# Release 1.5: Citus.  forget_user and maintain_views are PL/pgSQL (one
# line), distributed and on_citus_worker C; version_viewers and artifact_matrix check the mode in a subquery
# (so from a release before 1.4 only the 1.5 lines of those appear).
my @new_functions_1_5 = qw(distribute distributed drop_shards fold_engagement_in_cluster on_citus_worker);
my $new_function_1_5 = join('|', @new_functions_1_5);
my @changes_1_5_removed = (
	qr/^function presence_tracking\.(forget_user|maintain_views)\(/,
	qr/^\s+WHERE \(\(s\.(artifact_id = artifact_matrix\.artifact_id|version_id = version_viewers\.version_id)\) AND presence_tracking\.check_tracked\(/,
	qr/^\s+FROM presence_tracking\.artifact_versions av$/,
	qr/^\s+WHERE \(av\.version_id = version_viewers\.version_id\)\), 'who viewed it'::text\) AND \(NOT \(EXISTS \( SELECT$/,
);
my @changes_1_5_added = (
	qr/^function presence_tracking\.($new_function_1_5|forget_user|maintain_views)\(/,
	qr/^member function presence_tracking\.($new_function_1_5)\(/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_(distributed|on_citus_worker)\$function\$$/,
	qr/^\s+WHERE \(\(s\.(artifact_id = artifact_matrix\.artifact_id|version_id = version_viewers\.version_id)\) AND \( SELECT presence_tracking\.check_tracked\(/,
	qr/^\s+FROM presence_tracking\.artifact_versions av$/,
	qr/^\s+WHERE \(av\.version_id = version_viewers\.version_id\)\), 'who viewed it'::text\) AS check_tracked\) AND \(NOT \(EXISTS \( SELECT$/,
);
# Release 1.6: the fold, the partitions' job, erasure and distribute()
# changed for a cluster, and drop_shards() got a setting (one line each);
# forget_presence is new, in C.
my @changes_1_6 =
  (qr/^function presence_tracking\.(distribute|drop_shards|fold_engagement|forget_user|maintain_views|manage_ledger_partitions)\(/);
my @changes_1_6_since_1_4 = (qr/^function presence_tracking\.(fold_engagement|manage_ledger_partitions)\(/);
my @new_1_6 = (
	qr/^(member )?function presence_tracking\.forget_presence\(/,
	qr/^AS '\$libdir\/presence_tracking', \$function\$presence_tracking_forget_presence\$function\$$/,
	qr/^ STRICT$/,
);
my %changes_since = (
	'1.0' => {
		removed => [
			qr/^constraint presence_tracking\.artifact_version_stats artifact_version_stats_session_hits_check CHECK \(\(session_hits > 0\)\)$/,
			qr/^constraint presence_tracking\.artifact_version_stats artifact_version_stats_view_count_check CHECK \(\(view_count > 0\)\)$/,
			qr/^constraint presence_tracking\.presence presence_beats_check CHECK \(\(beats > 0\)\)$/,
			@changes_1_2_removed, @changes_1_3_removed, @changes_1_4_removed,
		],
		added => [ @changes_1_2_added, @changes_1_3_added, @changes_1_4_added, @changes_1_5_added, @new_1_6 ],
	},
	'1.1' => {
		removed => [ @changes_1_2_removed, @changes_1_3_removed, @changes_1_4_removed ],
		added   => [ @changes_1_2_added,   @changes_1_3_added,   @changes_1_4_added,   @changes_1_5_added, @new_1_6 ],
	},
	'1.2' => {
		removed => [ @changes_1_3_removed, @changes_1_4_removed ],
		added   => [ @changes_1_3_added,   @changes_1_4_added,   @changes_1_5_added, @new_1_6 ],
	},
	'1.3' => {
		removed => [@changes_1_4_removed],
		added   => [ @changes_1_4_added,   @changes_1_5_added, @new_1_6 ],
	},
	'1.4' => {
		removed => [ @changes_1_5_removed, @changes_1_6_since_1_4 ],
		added   => [ @changes_1_5_added,   @changes_1_6_since_1_4, @new_1_6 ],
	},
	'1.5' => {
		removed => [@changes_1_6],
		added   => [ @changes_1_6, @new_1_6 ],
	},);
my @old_versions = sort keys %changes_since;

my %extension_of = (
	bigint => 'presence_tracking',
	uuid   => 'presence_tracking_uuid',
	text   => 'presence_tracking_text',);

# Everything about the extension's objects that an upgrade could get wrong,
# as text: members, columns, constraints, indexes, storage, functions with
# their bodies and settings, privileges, config tables.  The ledger's
# monthly partitions (and artifact_views_before_1_4, an updated ledger) are
# data, not objects of the extension: which exist depends on the month and
# the rows.  A PL/pgSQL function (1.4 has several) is one line, so that a
# pattern names it; so are the SQL functions 1.4 added.
my $partition = q{'^artifact_views_(\d{4}_\d{2}|before_1_4)(_pkey)?$'};
my $describe_sql = q{
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid) AS line
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND e.extname LIKE 'presence_tracking%'
  UNION ALL
  SELECT format('column %s.%s %s notnull=%s default=%s', c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE c.relnamespace = 'presence_tracking'::regnamespace AND a.attnum > 0
     AND NOT a.attisdropped AND c.relname !~ PARTITION
  UNION ALL
  SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'presence_tracking'::regnamespace
     AND conname !~ PARTITION
  UNION ALL
  SELECT format('relation %s kind=%s persistence=%s options=%s acl=%s', c.oid::regclass,
                c.relkind, c.relpersistence, c.reloptions, c.relacl)
    FROM pg_class c WHERE c.relnamespace = 'presence_tracking'::regnamespace
     AND c.relname !~ PARTITION
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE c.relnamespace = 'presence_tracking'::regnamespace AND c.relname !~ PARTITION
  UNION ALL
  SELECT format('function %s secdef=%s volatile=%s strict=%s config=%s acl=%s body=%s',
                p.oid::regprocedure, p.prosecdef, p.provolatile, p.proisstrict,
                p.proconfig, p.proacl,
                CASE WHEN l.lanname = 'plpgsql' OR p.proname IN ('ledger_horizon', 'ledger_partitions', 'unread', 'tracking')
                     THEN replace(pg_get_functiondef(p.oid), E'\n', ' ')
                     ELSE pg_get_functiondef(p.oid) END)
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
   WHERE p.pronamespace = 'presence_tracking'::regnamespace
  UNION ALL
  SELECT format('config %s', e.extconfig::regclass[])
    FROM pg_extension e WHERE e.extname LIKE 'presence_tracking%'
) objects};
$describe_sql =~ s/PARTITION/$partition/g;

# Each C function of the database's extension resolves in the installed
# library: the C validator of CREATE FUNCTION looks the symbol up.  Returns
# the symbols that do not, or an empty string.
sub missing_entry_points
{
	my ($node, $db) = @_;
	my $symbols = $node->safe_psql(
		$db, q{
		SELECT string_agg(DISTINCT probin || ' ' || prosrc, E'\n')
		  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		 WHERE l.lanname = 'c' AND p.pronamespace = 'presence_tracking'::regnamespace});
	my @missing;
	for my $line (split /\n/, $symbols)
	{
		my ($library, $symbol) = split / /, $line;
		my ($ret, $out, $err) = $node->psql($db,
			"CREATE FUNCTION pg_temp.probe() RETURNS void AS '$library', '$symbol' LANGUAGE c");
		push @missing, "$symbol ($err)" if $ret != 0;
	}
	return join(', ', @missing);
}

# Every line matches one of the patterns, and every pattern a line.
sub lines_match
{
	my ($lines, $patterns, $label) = @_;
	my @unmatched_lines = grep {
		my $line = $_;
		!grep { $line =~ $_ } @$patterns
	} @$lines;
	my @unmatched_patterns = grep {
		my $pattern = $_;
		!grep { $_ =~ $pattern } @$lines
	} @$patterns;
	is(join("\n", @unmatched_lines), '', "$label: no change beyond the expected ones");
	is(join("\n", @unmatched_patterns), '', "$label: every expected change made");
	return;
}

# The lines only in $before and the lines only in $after, sorted.
sub line_changes
{
	my ($before, $after) = @_;
	my %in_before = map { $_ => 1 } split /\n/, $before;
	my %in_after = map { $_ => 1 } split /\n/, $after;
	return ([ sort grep { !$in_after{$_} } keys %in_before ],
		[ sort grep { !$in_before{$_} } keys %in_after ]);
}

my $node = cron_cluster('upgrade', 'postgres');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'presence_tracking'});
ok(!grep({ $_ eq $current } @old_versions), "the default version $current is not an old one");

for my $type (qw(bigint uuid text))
{
	my $ext = $extension_of{$type};

	# A fresh install of the current version: what every upgrade must reach.
	$node->safe_psql('postgres', "CREATE DATABASE fresh_$type");
	$node->safe_psql("fresh_$type", "CREATE EXTENSION $ext");
	my $fresh = $node->safe_psql("fresh_$type", $describe_sql);

	for my $old (@old_versions)
	{
		(my $tag = "${type}_$old") =~ s/\W/_/g;

		# The new library with the old SQL objects, not updated.
		my $stay = "stay_$tag";
		$node->safe_psql('postgres', "CREATE DATABASE $stay");
		$node->safe_psql($stay, "CREATE EXTENSION $ext VERSION '$old'");
		is($node->safe_psql($stay, "SELECT extversion FROM pg_extension WHERE extname = '$ext'"),
			$old, "$stay: installed at $old");
		is(missing_entry_points($node, $stay), '',
			"$stay: every C function of $old resolves in the new library");
		$node->safe_psql($stay, fill_sql($type));
		is(invariant_violations($node, $stay), '0', "$stay: filled by the new library");
		check_filled_works($node, $stay, $type, $stay);
		my $k = sub { key_literal($type, @_) };
		is( $node->safe_psql(
				$stay,
				sprintf(
					"SELECT count(*) FROM presence_tracking.heartbeat_many(ARRAY[%s, %s], ARRAY[%s, %s], ARRAY[%s, %s])",
					$k->('u', 7), $k->('u', 8), $k->('a', 70), $k->('a', 70), $k->('v', 700), $k->('v', 700))),
			'2', "$stay: heartbeat_many");
		is($node->safe_psql($stay, 'SELECT presence_tracking.purge() >= 0'),
			't', "$stay: purge");

		# The update.
		my $up = "up_$tag";
		$node->safe_psql('postgres', "CREATE DATABASE $up");
		$node->safe_psql($up, "CREATE EXTENSION $ext VERSION '$old'");
		$node->safe_psql($up, fill_sql($type));
		my %before;
		my %columns;
		my @old_tables = presence_tables($node, $up);
		for my $table (@old_tables)
		{
			# The columns the table had: an update may add columns, and
			# must keep every value of the old ones.
			$columns{$table} = $node->safe_psql($up,
				"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
				  . "WHERE attrelid = 'presence_tracking.$table'::regclass AND attnum > 0 AND NOT attisdropped");
			$before{$table} = table_text($node, $up, $table, $columns{$table});
		}
		my $objects_before = $node->safe_psql($up, $describe_sql);
		$node->safe_psql($up, "ALTER EXTENSION $ext UPDATE");
		is($node->safe_psql($up, "SELECT extversion FROM pg_extension WHERE extname = '$ext'"),
			$current, "$up: updated from $old to $current");
		for my $table (@old_tables)
		{
			is(table_text($node, $up, $table, $columns{$table}), $before{$table},
				"$up: every row of $table kept");
		}
		# Presence rows of earlier releases become sessions without an id.
		is( $node->safe_psql(
				$up,
				"SELECT count(*) FROM presence_tracking.presence WHERE session_id <> '' "
				  . "OR state <> 'viewing' OR data IS NOT NULL OR changed_at <> joined_at OR ended_at IS NOT NULL"),
			'0', "$up: presence rows became sessions without an id");
		my $objects_after = $node->safe_psql($up, $describe_sql);
		my ($removed, $added) = line_changes($objects_before, $objects_after);
		lines_match($removed, $changes_since{$old}{removed}, "$up: removed");
		lines_match($added, $changes_since{$old}{added}, "$up: added");
		is($objects_after, $fresh,
			"$up: the same objects, grants and settings as a fresh install of $current");
		check_filled_works($node, $up, $type, $up);
	}
}

# pg_cron in the same database: the update keeps the one purge job, with its
# id, and the roles keep their grants (checked by the comparison above and
# here through a writer that calls record_view after the update).
$node->safe_psql('postgres', "CREATE EXTENSION presence_tracking VERSION '$old_versions[0]'");
my $job_sql = q{SELECT string_agg(jobid || ' ' || schedule || ' ' || command, ',') FROM cron.job WHERE jobname = 'presence_tracking_purge'};
my $job = $node->safe_psql('postgres', $job_sql);
like($job, qr/^\d+ 0 \* \* \* \* /, "cron: installing $old_versions[0] scheduled the purge job");
# The command an older library scheduled, which the update replaces.
$node->safe_psql('postgres',
	q{SELECT cron.alter_job(jobid, command => 'SELECT presence_tracking.purge()') FROM cron.job});
my $jobid_sql = q{SELECT jobid FROM cron.job WHERE jobname = 'presence_tracking_purge'};
my $jobid = $node->safe_psql('postgres', $jobid_sql);
$node->safe_psql('postgres',
	'CREATE ROLE app LOGIN; GRANT presence_tracking_writer, presence_tracking_reader TO app');
$node->safe_psql('postgres', 'ALTER EXTENSION presence_tracking UPDATE');
is($node->safe_psql('postgres', $jobid_sql), $jobid, 'cron: the update keeps the job and its id');
my $command_sql = q{SELECT command FROM cron.job WHERE jobname = 'presence_tracking_purge'};
my $updated_command = $node->safe_psql('postgres', $command_sql);
like($updated_command, qr/^DO \$purge\$.*pg_catalog\.pg_extension.*%I\.purge\(\)/,
	'cron: the update gives the job the command that finds the schema through the extension');
$node->safe_psql('postgres', 'SELECT presence_tracking.schedule_purge()');
is($node->safe_psql('postgres', $command_sql), $updated_command,
	"cron: the update script's command is the library's (PT_PURGE_COMMAND)");
is( $node->safe_psql(
		'postgres',
		'SET ROLE app; SELECT presence_tracking.record_view(1, 2, 3); SELECT presence_tracking.has_viewed(1, 3)'),
	"t\nt",
	'a writer and reader calls the updated extension');
my ($ret, $out, $err) = $node->psql('postgres',
	'SET ROLE app; DELETE FROM presence_tracking.artifact_views');
like($err, qr/permission denied for table artifact_views/,
	'the writer still cannot write the tables directly');
$node->safe_psql('postgres', 'DROP EXTENSION presence_tracking');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'),
	'0', 'cron: DROP EXTENSION after the update removes the job');

$node->stop;
done_testing();
