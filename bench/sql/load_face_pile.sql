-- 1,000,000 present rows for the face-pile latency: 20,000 artifacts
-- (100001..120000) x 50 users, all seen now (within the TTL), in
-- presence_tracking.presence and handwritten.presence.
BEGIN;
INSERT INTO presence_tracking.presence
  (artifact_id, user_id, version_id, last_seen_at, joined_at, beats, changed_at, session_id)
SELECT a, u, a * 10, now(), now(), 1, now(), 'tab-' || u
  FROM generate_series(100001, 120000) a, generate_series(1, 50) u;
INSERT INTO handwritten.presence (user_id, artifact_id, version_id, last_seen_at)
SELECT u, a, a * 10, now()
  FROM generate_series(100001, 120000) a, generate_series(1, 50) u;
COMMIT;
VACUUM ANALYZE presence_tracking.presence, handwritten.presence;
