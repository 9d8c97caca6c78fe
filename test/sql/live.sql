-- Live presence (release 1.3): tab sessions, states and data, leave(),
-- the richer face pile, recently offline users, and what bad input gets.
SET client_min_messages = error;
CREATE EXTENSION presence_tracking;
RESET client_min_messages;
SET presence_tracking.max_backdate = -1;

-- Beats without a session keep the rule of earlier releases: one session
-- per version, and a user on two versions shows the most recent one.
SELECT presence_tracking.heartbeat(1, 10, 100, now() - interval '20 s') AS joined;
SELECT presence_tracking.heartbeat(1, 10, 101, now() - interval '10 s') AS joined;
SELECT user_id, version_id, state, sessions, data FROM presence_tracking.active_viewers(10);
SELECT user_id FROM presence_tracking.active_viewers(10, 100);
SELECT session_id = '' AS no_session, version_id FROM presence_tracking.presence ORDER BY version_id;

-- Two tabs of one user: one face, two sessions.  The strongest state
-- shows; version and data are those of the session that changed last.
SELECT presence_tracking.heartbeat(2, 10, 100, session_id => 'tab-1') AS joined;
SELECT presence_tracking.heartbeat(2, 10, 101, session_id => 'tab-2', state => 'editing',
                                   data => '{"cursor": 42}') AS joined;
SELECT user_id, version_id, state, sessions, data FROM presence_tracking.active_viewers(10) WHERE user_id = 2;
-- A plain beat changes nothing shown (changed_at stays).
SELECT changed_at AS before FROM presence_tracking.presence WHERE session_id = 'tab-1' \gset
SELECT presence_tracking.heartbeat(2, 10, 100, session_id => 'tab-1') AS joined;
SELECT changed_at = :'before' AS unchanged, beats FROM presence_tracking.presence WHERE session_id = 'tab-1';
-- The editing tab goes back to viewing: the face shows viewing, still on 101.
SELECT presence_tracking.heartbeat(2, 10, 101, session_id => 'tab-2', state => 'viewing',
                                   data => '{"cursor": 42}') AS joined;
SELECT user_id, version_id, state, sessions, data FROM presence_tracking.active_viewers(10) WHERE user_id = 2;
-- Idle is the weakest state.
SELECT presence_tracking.heartbeat(2, 10, 101, session_id => 'tab-2', state => 'idle') AS joined;
SELECT user_id, state FROM presence_tracking.active_viewers(10) WHERE user_id = 2;

-- A tab that switches version moves its session: no ghost on the old one.
SELECT presence_tracking.heartbeat(2, 10, 102, session_id => 'tab-1') AS joined;
SELECT session_id, version_id FROM presence_tracking.presence WHERE user_id = 2 ORDER BY session_id;
SELECT user_id FROM presence_tracking.active_viewers(10, 100) ORDER BY user_id;

-- Counts and where a user is.
SELECT presence_tracking.active_count(10) AS present, presence_tracking.active_count(11) AS elsewhere;
SELECT presence_tracking.heartbeat(2, 20, 200, session_id => 'tab-3', state => 'editing') AS joined;
SELECT artifact_id, version_id, state FROM presence_tracking.user_presence(2) ORDER BY artifact_id;

-- Leave: one tab leaves, the user stays; the last leaves, the user goes.
SELECT presence_tracking.leave(2, 10, 'tab-1') AS gone;
SELECT user_id, sessions FROM presence_tracking.active_viewers(10) WHERE user_id = 2;
SELECT presence_tracking.leave(2, 10, 'tab-1') AS gone;            -- again: no error, nothing
SELECT presence_tracking.leave(2, 10, 'no-such-tab') AS gone;      -- unknown: no error
SELECT presence_tracking.leave(2, 10, 'tab-2') AS gone;
SELECT presence_tracking.leave(2, 10, 'tab-2') AS gone;            -- idempotent
SELECT user_id FROM presence_tracking.active_viewers(10) ORDER BY user_id;
-- NULL ends every session of the user on the artifact, not elsewhere.
SELECT presence_tracking.leave(1, 10) AS gone;
SELECT presence_tracking.active_count(10) AS present;
SELECT artifact_id FROM presence_tracking.user_presence(2);
-- A left tab that beats again is back.
SELECT presence_tracking.heartbeat(2, 10, 101, session_id => 'tab-2') AS joined;
SELECT presence_tracking.leave(2, 10) AS gone;

-- Recently offline: left or timed out, newest first, within the window.
SELECT presence_tracking.heartbeat(3, 10, 100, now() - interval '200 s', session_id => 'old') AS joined;
SELECT user_id, version_id, how, now() - last_seen_at >= interval '200 s' AS long_ago
  FROM presence_tracking.recent_viewers(10);
SELECT user_id, how FROM presence_tracking.recent_viewers(10, interval '100 s');
SELECT presence_tracking.expire_sessions() AS ended;
SELECT user_id, how FROM presence_tracking.recent_viewers(10);
SELECT presence_tracking.expire_sessions() AS ended;               -- nothing left to end
-- A present user is not recent.
SELECT presence_tracking.heartbeat(3, 10, 100, session_id => 'new') AS joined;
SELECT user_id, how FROM presence_tracking.recent_viewers(10);

-- heartbeat_many takes sessions, states and data per beat.
SELECT * FROM presence_tracking.heartbeat_many(
    ARRAY[4, 4, 5], ARRAY[30, 30, 30], ARRAY[300, 301, 300],
    session_ids => ARRAY['x', 'y', NULL], states => ARRAY['editing', NULL, 'idle'],
    data => ARRAY['{"sel": [1, 2]}', NULL, NULL]::jsonb[]);
SELECT user_id, version_id, state, sessions, data FROM presence_tracking.active_viewers(30);
-- A key given twice in one call: the last one wins.
SELECT count(*) FROM presence_tracking.heartbeat_many(
    ARRAY[5, 5], ARRAY[30, 30], ARRAY[300, 300], states => ARRAY['editing', 'viewing']);
SELECT user_id, state FROM presence_tracking.active_viewers(30) WHERE user_id = 5;

-- The read functions name their operators: a caller's search_path cannot
-- change what they compute.
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
SET search_path = evil, pg_catalog;
SELECT user_id, state FROM presence_tracking.active_viewers(30) ORDER BY user_id;
SELECT artifact_id, state FROM presence_tracking.user_presence(5);
RESET search_path;
DROP SCHEMA evil CASCADE;

-- Bad input: a clear error, and nothing changes.
SELECT count(*) AS rows_before FROM presence_tracking.presence \gset
SELECT presence_tracking.heartbeat(6, 10, 100, session_id => repeat('s', 129));
SELECT presence_tracking.heartbeat(6, 10, 100, state => 'typing');
SELECT presence_tracking.heartbeat(6, 10, 100, data => jsonb_build_object('blob', repeat('x', 1100)));
-- The JSON text is what travels in events: 22 bytes stored, 131,072 as text.
SELECT presence_tracking.heartbeat(6, 10, 100, data => '1e131071');
SELECT presence_tracking.heartbeat_many(ARRAY[6], ARRAY[10], ARRAY[100], session_ids => ARRAY['a', 'b']);
SELECT presence_tracking.heartbeat_many(ARRAY[6, 6], ARRAY[10, 10], ARRAY[100, 101], session_ids => ARRAY['a', 'a']);
SELECT presence_tracking.heartbeat_many(ARRAY[6], ARRAY[10], ARRAY[100], states => ARRAY['viewing', 'idle']);
SELECT presence_tracking.leave(NULL, 10);
SELECT presence_tracking.leave(6, 10, repeat('s', 129));
SELECT * FROM presence_tracking.recent_viewers(10, interval '-1 s');
SELECT count(*) >= 0 AS accepted FROM presence_tracking.recent_viewers(10, interval '1 day -1 hour');
BEGIN READ ONLY;
SELECT presence_tracking.leave(3, 10);
ROLLBACK;
BEGIN READ ONLY;
SELECT presence_tracking.expire_sessions();
ROLLBACK;
SELECT count(*) = :rows_before AS nothing_changed FROM presence_tracking.presence;
-- 128 bytes is the limit, and an id of any characters is fine.
SELECT presence_tracking.heartbeat(6, 10, 100, session_id => repeat('é', 64)) AS joined;

-- The read side's NULL rule: no rows, no error.
SELECT count(*) FROM presence_tracking.active_viewers(NULL);
SELECT presence_tracking.active_count(NULL);
SELECT count(*) FROM presence_tracking.user_presence(NULL);
SELECT count(*) FROM presence_tracking.recent_viewers(NULL);

-- Events are a superuser's setting.
CREATE ROLE live_app LOGIN;
GRANT presence_tracking_writer, presence_tracking_reader TO live_app;
SET ROLE live_app;
SET presence_tracking.notify = off;
SELECT presence_tracking.heartbeat(7, 10, 100, session_id => 'w', state => 'editing') AS joined;
SELECT presence_tracking.leave(7, 10, 'w') AS gone;
SELECT presence_tracking.expire_sessions() >= 0 AS swept;
SELECT user_id, state FROM presence_tracking.active_viewers(10) ORDER BY user_id;
RESET ROLE;
DROP OWNED BY live_app;
DROP ROLE live_app;

-- Purge deletes sessions older than the retention, open or ended (an open
-- one is ended first, so that its leave is announced: 008_live.pl hears it).
SELECT presence_tracking.heartbeat(8, 40, 400, now() - interval '700 s') AS joined;
SELECT presence_tracking.purge() > 0 AS purged;
SELECT count(*) AS left_behind FROM presence_tracking.presence WHERE user_id = 8 OR last_seen_at < now() - interval '600 s';

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
