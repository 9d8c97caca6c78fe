-- The demo of make run, played by scripts/run.sh in a fresh database
-- presence_demo (pg_cron installed there), as a superuser, with
-- psql -v ON_ERROR_STOP=1: any error ends it and make run fails.
-- Every time is relative to now(), so it plays the same at any hour.
\pset footer off

\echo '== presence_tracking, the extension installed in this database'
CREATE EXTENSION presence_tracking;
SELECT extname, extversion FROM pg_extension WHERE extname = 'presence_tracking';

\echo '== Old presence rows are purged every hour by a pg_cron job, scheduled by CREATE EXTENSION (its command runs presence_tracking.purge())'
SELECT jobname, schedule, database FROM cron.job WHERE jobname = 'presence_tracking_purge';

\echo '== Presence. Alice (user 1), Bob (2) and Carol (3) open artifact 42: their browser'
\echo '   tabs call heartbeat(user, artifact, version) every minute. The first beat of a'
\echo '   user on the artifact returns true: a join, to announce "Alice is here".'
SELECT presence_tracking.heartbeat(1, 42, 2) AS alice_joins,
       presence_tracking.heartbeat(2, 42, 2) AS bob_joins,
       presence_tracking.heartbeat(3, 42, 1) AS carol_joins;
\echo '   Alice beats again (a minute later, in real life): she is already there, so no join.'
SELECT presence_tracking.heartbeat(1, 42, 2) AS alice_joins_again;

\echo '== The face pile of artifact 42: who is looking at it now (each user once, with'
\echo '   the version they have open), and of its version 2 alone'
SELECT * FROM presence_tracking.active_viewers(42);
SELECT * FROM presence_tracking.active_viewers(42, 2);

\echo '== Live presence. An application LISTENs on channel presence_tracking: every change'
\echo '   a face pile shows arrives at commit, as JSON (psql prints it after each statement).'
LISTEN presence_tracking;
\echo '   Alice opens a second tab (a session id of its own) and types in it: state editing.'
\echo '   One face, two sessions; one event: an update.'
SELECT presence_tracking.heartbeat(1, 42, 2, session_id => 'alice-tab-2', state => 'editing',
                                   data => '{"cursor": 120}') AS alice_joins;
SELECT user_id, version_id, state, sessions, data FROM presence_tracking.active_viewers(42);
\echo '   Bob sees a warning: someone else is editing version 2.'
SELECT user_id AS editing_version_2 FROM presence_tracking.active_viewers(42, 2)
 WHERE state = 'editing' AND user_id <> 2;
\echo '   Alice closes that tab: the page calls leave() from navigator.sendBeacon. She stays'
\echo '   (her first tab is open), back to viewing: another update.'
SELECT presence_tracking.leave(1, 42, 'alice-tab-2') AS alice_gone;
UNLISTEN presence_tracking;

\echo '== Carol closes her tab, so her beats stop. A user stays present for the TTL'
\echo '   after the last beat (150 s); shortened here to 3 s (and beats to every 1 s),'
\echo '   Alice and Bob keep beating while 3.5 s pass, and Carol drops out of the face pile.'
SET presence_tracking.heartbeat_interval = '1s';
SET presence_tracking.ttl = '3s';
DO $$ BEGIN PERFORM pg_sleep(2); END $$;
SELECT presence_tracking.heartbeat(1, 42, 2) AS alice_beats, presence_tracking.heartbeat(2, 42, 2) AS bob_beats;
DO $$ BEGIN PERFORM pg_sleep(1.5); END $$;
SELECT user_id, version_id FROM presence_tracking.active_viewers(42);
\echo '   "Seen a few seconds ago": users no longer present, and how they went.'
SELECT user_id, how FROM presence_tracking.recent_viewers(42);
RESET presence_tracking.ttl;
RESET presence_tracking.heartbeat_interval;

\echo '== View tracking. record_view(user, artifact, version) on every page load counts'
\echo '   viewing sessions: a view less than view_debounce (1 h) after the previous one'
\echo '   continues the session, the window rolling on with each view. Shortened here to'
\echo '   20 s, Alice views version 2 at these times (the at argument, back-dated a few'
\echo '   minutes); true means a new session was counted:'
SET presence_tracking.view_debounce = '20s';
SELECT v.at AS alice_views_at, presence_tracking.record_view(1, 42, 2, now() - v.ago) AS new_session
  FROM (VALUES ('3 min 20 s ago', interval '200 s'),
               ('3 min 5 s ago (15 s later)', interval '185 s'),
               ('2 min 50 s ago (15 s later)', interval '170 s'),
               ('2 min 25 s ago (25 s later)', interval '145 s')) AS v(at, ago);
\echo '   Bob views version 2 once, now; nobody has viewed version 1 yet.'
SELECT presence_tracking.record_view(2, 42, 2) AS bob_new_session;
RESET presence_tracking.view_debounce;

\echo '== Who viewed version 2, and how often (version_viewers), and whether Carol'
\echo '   has seen it (has_viewed: an unread indicator)'
SELECT * FROM presence_tracking.version_viewers(2);
SELECT presence_tracking.has_viewed(3, 2) AS carol_has_viewed_version_2;

\echo '== Per version of artifact 42: sessions, distinct viewers, last view (artifact_stats)'
SELECT * FROM presence_tracking.artifact_stats(42);

\echo '== Unread badges for a whole list at once: the versions Carol has never viewed'
SELECT * FROM presence_tracking.unread(3, ARRAY[1, 2]) AS carol_unread;

\echo '== Engagement per day (UTC days): sessions and distinct viewers of artifact 42,'
\echo '   exact, from rollups (the hourly job folds the day rows; the rest is read as is)'
SELECT * FROM presence_tracking.artifact_engagement(42, (now() - interval '1 day')::date, now()::date);

\echo '== Opt-out: artifact 43 is private; its views are recorded for unread badges only'
SELECT presence_tracking.set_tracking(43, 'unread_only') AS previous_mode;
SELECT presence_tracking.record_view(1, 43, 5) AS new_session;
SELECT presence_tracking.has_viewed(1, 5) AS alice_has_viewed, presence_tracking.tracking(43) AS mode;
\echo '   (version_viewers(5) and artifact_engagement(43, ...) now refuse with SQLSTATE 55000.)'

\echo '== The self-check of the view tracking invariants: no row means all hold'
SELECT * FROM presence_tracking.check_consistency();

\echo '== The ledger is partitioned by month (this month and the next three, made at install)'
SELECT partition, from_at, to_at FROM presence_tracking.ledger_partitions();
