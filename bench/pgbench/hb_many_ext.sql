-- heartbeat_many: 1000 beats per call, arrays read from a prepared batch
-- (users b*1000+1 .. b*1000+1000, as hb_ext.sql keys them).
\set b random(0, 49)
SELECT count(*) FROM public.beat_batches x, presence_tracking.heartbeat_many(x.users, x.artifacts, x.versions)
 WHERE x.b = :b;
