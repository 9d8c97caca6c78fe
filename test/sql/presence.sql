-- Live presence: heartbeat(), active_viewers(), purge().
-- Times are relative to now(), which stays fixed inside a transaction, so
-- the TTL and retention edges are tested exactly.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;

-- A first beat is a join; the next beat of the same streak is not.
BEGIN;
SELECT presence_tracking.heartbeat(1, 10, 100, now() - interval '50 s') AS join_1;
SELECT presence_tracking.heartbeat(1, 10, 100, now() - interval '40 s') AS join_2;
-- A beat on another version of the same artifact is no join either.
SELECT presence_tracking.heartbeat(1, 10, 101, now() - interval '30 s') AS other_version;
-- Two versions in one statement: the second sees the first.
SELECT presence_tracking.heartbeat(3, 10, 100, now() - interval '30 s') AS join_4,
       presence_tracking.heartbeat(3, 10, 101, now() - interval '30 s') AS other_version_same_statement;
-- Another artifact: a join there.
SELECT presence_tracking.heartbeat(1, 11, 110, now() - interval '30 s') AS other_artifact;
-- The same time twice: the second beat is no join.
SELECT presence_tracking.heartbeat(2, 10, 100, now() - interval '20 s') AS join_3,
       presence_tracking.heartbeat(2, 10, 100, now() - interval '20 s') AS same_time;
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT artifact_id, user_id, version_id, now() - last_seen_at AS age,
       now() - joined_at AS joined, beats
  FROM presence_tracking.presence ORDER BY 1, 2, 3;
-- cluster: end
ROLLBACK;

-- The TTL edge: a beat exactly one TTL (150 s) old is no longer present.
BEGIN;
SELECT presence_tracking.heartbeat(1, 20, 200, now() - interval '150 s');
SELECT presence_tracking.heartbeat(2, 20, 200, now() - interval '149.999999 s');
SELECT presence_tracking.heartbeat(3, 20, 201, now());
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT user_id, version_id, now() - last_seen_at AS age FROM presence_tracking.active_viewers(20);
-- One version only.
SELECT user_id, version_id FROM presence_tracking.active_viewers(20, 201);
SELECT user_id, version_id FROM presence_tracking.active_viewers(20, 999);
-- cluster: end
ROLLBACK;

-- A gap of exactly one TTL starts a new streak: a join again.
BEGIN;
SELECT presence_tracking.heartbeat(1, 30, 300, now() - interval '400 s') AS first;
SELECT presence_tracking.heartbeat(1, 30, 300, now() - interval '250.000001 s') AS gap_just_under;
SELECT presence_tracking.heartbeat(1, 30, 300, now() - interval '100.000001 s') AS gap_exactly_ttl;
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT now() - joined_at AS joined, beats FROM presence_tracking.presence WHERE artifact_id = 30;
-- cluster: end
ROLLBACK;

-- A beat with an older time never moves last_seen_at back.
BEGIN;
SELECT presence_tracking.heartbeat(1, 40, 400, now() - interval '10 s');
SELECT presence_tracking.heartbeat(1, 40, 400, now() - interval '100 s') AS older_beat;
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT now() - last_seen_at AS age, beats FROM presence_tracking.presence WHERE artifact_id = 40;
-- cluster: end
ROLLBACK;

-- Face pile: one row per user with the most recent version, newest first.
BEGIN;
SELECT presence_tracking.heartbeat(1, 50, 500, now() - interval '30 s');
SELECT presence_tracking.heartbeat(1, 50, 501, now() - interval '10 s');
SELECT presence_tracking.heartbeat(2, 50, 500, now() - interval '20 s');
SELECT presence_tracking.heartbeat(3, 50, 502, now() - interval '5 s');
SELECT presence_tracking.heartbeat(4, 51, 510, now());
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT user_id, version_id, now() - last_seen_at AS age FROM presence_tracking.active_viewers(50);
SELECT user_id, version_id, now() - last_seen_at AS age FROM presence_tracking.active_viewers(50, 500);
-- Leaving: the user drops out once the TTL passes (settings apply at once).
SET LOCAL presence_tracking.heartbeat_interval = '5s';
SET LOCAL presence_tracking.ttl = '15s';
SELECT user_id, version_id FROM presence_tracking.active_viewers(50);
-- cluster: end
ROLLBACK;

-- Heartbeat updates are HOT: no index covers what a beat changes, and the
-- fillfactor leaves room.  50 users beat 10 times, each beat committed.
DO $$
BEGIN
  FOR r IN 1..10 LOOP
    FOR u IN 1..50 LOOP
      PERFORM presence_tracking.heartbeat(u, 60, 600, now());
      COMMIT;
    END LOOP;
  END LOOP;
END $$;
-- cluster: differs (statistics of the coordinator's empty table, not of the shards)
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT n_tup_upd AS updates, n_tup_hot_upd::float8 / n_tup_upd >= 0.95 AS at_least_95_percent_hot
  FROM pg_stat_user_tables WHERE relid = 'presence_tracking.presence'::regclass;
-- cluster: end
DELETE FROM presence_tracking.presence;

-- purge(): the retention edge (600 s).  Exactly as old as the retention stays.
BEGIN;
SELECT presence_tracking.heartbeat(1, 70, 700, now() - interval '600 s');
SELECT presence_tracking.heartbeat(2, 70, 700, now() - interval '600.000001 s');
SELECT presence_tracking.heartbeat(3, 70, 700, now() - interval '2 h');
SELECT presence_tracking.heartbeat(4, 70, 700, now());
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT presence_tracking.purge() AS purged;
SELECT user_id FROM presence_tracking.presence WHERE artifact_id = 70 ORDER BY 1;
SET LOCAL presence_tracking.retention = '150s';
SELECT presence_tracking.purge() AS purged_with_shorter_retention;
SELECT user_id FROM presence_tracking.presence WHERE artifact_id = 70 ORDER BY 1;
-- cluster: end
ROLLBACK;

-- The face pile reads one artifact's rows from the primary key: its cost
-- follows the users on that artifact, not the table.  The query it runs:
INSERT INTO presence_tracking.presence
  (artifact_id, user_id, version_id, last_seen_at, joined_at, beats, changed_at)
SELECT a, u, 1, now(), now(), 1, now() FROM generate_series(1, 1000) a, generate_series(1, 20) u;
ANALYZE presence_tracking.presence;
-- cluster: differs (the plan is Citus's)
EXPLAIN (COSTS OFF)
SELECT DISTINCT ON (p.user_id) p.user_id, p.version_id, p.data,
       max(p.last_seen_at) OVER w, count(*) OVER w
  FROM presence_tracking.presence p
 WHERE p.artifact_id = 7 AND p.ended_at IS NULL AND NOT p.last_seen_at <= now() - interval '150 s'
WINDOW w AS (PARTITION BY p.user_id)
 ORDER BY p.user_id, p.changed_at DESC, p.session_id, p.version_id;
-- cluster: end
SELECT count(*) FROM presence_tracking.active_viewers(7);

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
