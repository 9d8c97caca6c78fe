-- Purge phase: drop the face-pile rows, then 1,000,000 expired rows (last
-- beat one hour ago, past the 600 s retention) on 20,000 other artifacts
-- (200001..220000) x 50 users, ended as the timeout sweeper leaves them.
DELETE FROM presence_tracking.presence WHERE artifact_id > 100000;
DELETE FROM handwritten.presence WHERE artifact_id > 100000;
INSERT INTO presence_tracking.presence
  (artifact_id, user_id, version_id, last_seen_at, joined_at, beats, changed_at, ended_at, end_reason)
SELECT a, u, a * 10, now() - interval '1 hour', now() - interval '2 hours', 60, now() - interval '2 hours',
       now() - interval '1 hour' + interval '150 s', 'timed_out'
  FROM generate_series(200001, 220000) a, generate_series(1, 50) u;
VACUUM ANALYZE presence_tracking.presence, handwritten.presence;
