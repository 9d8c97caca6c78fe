-- The hand-written set-based upsert of the same 1000 rows into the unlogged table.
\set b random(0, 49)
INSERT INTO handwritten.presence_unlogged (user_id, artifact_id, version_id, last_seen_at)
SELECT k.u, k.a, k.v, now() FROM public.beat_batches x, unnest(x.users, x.artifacts, x.versions) AS k(u, a, v)
 WHERE x.b = :b
ON CONFLICT (artifact_id, version_id, user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at;
