-- Bulk data for the benchmark (set-based; now() is one instant per transaction).
--
-- View tracking, in presence_tracking and in handwritten alike:
--   users 1..100000, each on one (artifact u % 2000 + 1, version artifact * 10),
--   10 viewing sessions two hours apart: 1,000,000 ledger rows, 100,000 stats
--   and access rows, consistent (view_count = ledger rows).  Users 1..50000
--   (the ones the record_view scripts touch) had their latest session at load
--   time, so their calls are same-session touches; users 50001..100000 last
--   viewed two hours ago.
-- Presence: the same 50,000 users present on 2,000 artifacts (25 each), in
--   presence_tracking.presence, handwritten.presence and
--   handwritten.presence_unlogged.

CREATE SCHEMA bench;
-- The record_view floor: a single-row insert into a logged table, no index.
CREATE TABLE bench.floor_insert (
    user_id bigint NOT NULL, artifact_id bigint NOT NULL, version_id bigint NOT NULL,
    viewed_at timestamptz NOT NULL);

BEGIN;
CREATE TEMP TABLE sessions ON COMMIT DROP AS
SELECT u AS user_id, u % 2000 + 1 AS artifact_id, (u % 2000 + 1) * 10 AS version_id,
       now() - (k + CASE WHEN u > 50000 THEN 1 ELSE 0 END) * interval '2 hours' AS viewed_at, k
  FROM generate_series(1, 100000) u, generate_series(0, 9) k;

INSERT INTO presence_tracking.artifact_views (user_id, artifact_id, version_id, viewed_at)
SELECT user_id, artifact_id, version_id, viewed_at FROM sessions ORDER BY user_id, viewed_at;
INSERT INTO presence_tracking.artifact_version_stats
       (user_id, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits)
SELECT user_id, version_id, artifact_id, count(*), min(viewed_at), max(viewed_at), 1
  FROM sessions GROUP BY user_id, version_id, artifact_id ORDER BY user_id, version_id;
INSERT INTO presence_tracking.artifact_access (user_id, artifact_id, last_viewed_at)
SELECT user_id, artifact_id, max(viewed_at) FROM sessions GROUP BY user_id, artifact_id ORDER BY 1, 2;
-- Release 1.4: the day rows of the same sessions, folded into the rollup as
-- the scheduled job leaves them (an earlier release has neither).
DO $days$
BEGIN
    IF to_regclass('presence_tracking.artifact_view_days') IS NOT NULL THEN
        INSERT INTO presence_tracking.artifact_view_days (user_id, version_id, day, artifact_id, views, folded)
        SELECT user_id, version_id, presence_tracking.view_day(viewed_at), artifact_id, count(*), count(*)
          FROM sessions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;
        INSERT INTO presence_tracking.artifact_engagement (artifact_id, day, version_id, views, unique_viewers)
        SELECT artifact_id, day, version_id, sum(views), count(*)
          FROM presence_tracking.artifact_view_days GROUP BY 1, 2, 3;
    END IF;
END
$days$;

INSERT INTO handwritten.views (user_id, artifact_id, version_id, viewed_at)
SELECT user_id, artifact_id, version_id, viewed_at FROM sessions ORDER BY user_id, viewed_at;
INSERT INTO handwritten.stats (user_id, version_id, artifact_id, view_count, last_viewed_at, session_started_at)
SELECT user_id, version_id, artifact_id, count(*), max(viewed_at), max(viewed_at)
  FROM sessions GROUP BY user_id, version_id, artifact_id ORDER BY user_id, version_id;
INSERT INTO handwritten.access (user_id, artifact_id, last_viewed_at)
SELECT user_id, artifact_id, max(viewed_at) FROM sessions GROUP BY user_id, artifact_id ORDER BY 1, 2;
COMMIT;

VACUUM ANALYZE presence_tracking.artifact_views, presence_tracking.artifact_version_stats,
               presence_tracking.artifact_access, handwritten.views, handwritten.stats,
               handwritten.access, bench.floor_insert;

-- Presence last, so that the rows are fresh (within the 150 s TTL) when the
-- heartbeat rounds start.
BEGIN;
INSERT INTO presence_tracking.presence (artifact_id, user_id, version_id, last_seen_at, joined_at, beats, changed_at)
SELECT u % 2000 + 1, u, (u % 2000 + 1) * 10, now(), now(), 1, now()
  FROM generate_series(1, 50000) u ORDER BY 1, 2;
INSERT INTO handwritten.presence (user_id, artifact_id, version_id, last_seen_at)
SELECT u, u % 2000 + 1, (u % 2000 + 1) * 10, now() FROM generate_series(1, 50000) u ORDER BY 2, 1;
INSERT INTO handwritten.presence_unlogged (user_id, artifact_id, version_id, last_seen_at)
SELECT u, u % 2000 + 1, (u % 2000 + 1) * 10, now() FROM generate_series(1, 50000) u ORDER BY 2, 1;
-- Batches of 1000 beats for heartbeat_many and its hand-written twin: batch b
-- holds users b*1000+1 .. b*1000+1000, keyed as above.
CREATE TABLE public.beat_batches AS
SELECT b, array_agg(g ORDER BY g) AS users, array_agg(g % 2000 + 1 ORDER BY g) AS artifacts,
       array_agg((g % 2000 + 1) * 10 ORDER BY g) AS versions
  FROM generate_series(0, 49) b, generate_series(b * 1000 + 1, b * 1000 + 1000) g GROUP BY b;
ALTER TABLE public.beat_batches ADD PRIMARY KEY (b);
COMMIT;
VACUUM ANALYZE public.beat_batches;
VACUUM ANALYZE presence_tracking.presence, handwritten.presence, handwritten.presence_unlogged;
