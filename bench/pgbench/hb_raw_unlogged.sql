-- heartbeat floor: the bare prepared upsert into an unlogged table (no streak, no join detection).
\set u random(1, 50000)
\set a :u % 2000 + 1
\set v :a * 10
INSERT INTO handwritten.presence_unlogged VALUES (:u, :a, :v, now())
  ON CONFLICT (artifact_id, version_id, user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at;
