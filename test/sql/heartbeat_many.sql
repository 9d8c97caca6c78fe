-- heartbeat_many(): the set-based heartbeat.
CREATE EXTENSION presence_tracking;
-- Times a TTL and more in the past are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;

BEGIN;
-- Element i of the three arrays is one beat.  The result lists the joins,
-- one per (user, artifact); a key given twice is one beat.
SELECT * FROM presence_tracking.heartbeat_many(
    '{1, 2, 2, 3, 1}', '{10, 10, 10, 10, 10}', '{100, 100, 100, 101, 101}', now() - interval '10 s');
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT artifact_id, user_id, version_id, now() - last_seen_at AS age, beats
  FROM presence_tracking.presence ORDER BY 1, 2, 3;
-- cluster: end
-- Beats of users already present are no joins; a new user is.
SELECT * FROM presence_tracking.heartbeat_many('{1, 2, 4}', '{10, 10, 10}', '{100, 100, 100}');
-- The same rules as heartbeat(): an older time never moves last_seen_at
-- back, and a gap of one TTL starts a new streak.
SELECT * FROM presence_tracking.heartbeat_many('{3}', '{10}', '{101}', now() - interval '60 s');
SELECT * FROM presence_tracking.heartbeat_many('{5}', '{10}', '{100}', now() - interval '300 s');
SELECT * FROM presence_tracking.heartbeat_many('{5}', '{10}', '{100}', now() - interval '150 s');
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT artifact_id, user_id, version_id, now() - last_seen_at AS age, now() - joined_at AS joined, beats
  FROM presence_tracking.presence ORDER BY 1, 2, 3;
SELECT user_id, version_id FROM presence_tracking.active_viewers(10);
-- cluster: end
-- An empty batch is no beat.
SELECT count(*) FROM presence_tracking.heartbeat_many('{}', '{}', '{}');
ROLLBACK;

-- 1000 beats in one call.
SELECT count(*) AS joins FROM presence_tracking.heartbeat_many(
    ARRAY(SELECT g FROM generate_series(1, 1000) g),
    ARRAY(SELECT g % 20 FROM generate_series(1, 1000) g),
    ARRAY(SELECT g % 20 * 10 FROM generate_series(1, 1000) g));
SELECT count(*), count(DISTINCT artifact_id) FROM presence_tracking.presence;

-- Bad input: a clear error, and nothing written.
\set VERBOSITY default
SELECT * FROM presence_tracking.heartbeat_many(NULL, '{1}', '{1}');
SELECT * FROM presence_tracking.heartbeat_many('{1}', '{1}', NULL);
SELECT * FROM presence_tracking.heartbeat_many('{1, NULL}', '{1, 1}', '{1, 1}');
SELECT * FROM presence_tracking.heartbeat_many('{1, 2}', '{1}', '{1, 1}');
SELECT * FROM presence_tracking.heartbeat_many('{{1}, {2}}', '{{1}, {1}}', '{{1}, {1}}');
SELECT * FROM presence_tracking.heartbeat_many('{1}', '{1}', '{1}', NULL);
SELECT * FROM presence_tracking.heartbeat_many('{1}', '{1}', '{1}', 'infinity');
SELECT count(*) AS rows_still FROM presence_tracking.presence;

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
