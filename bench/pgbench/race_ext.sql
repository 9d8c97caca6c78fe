-- Contention check: 8 clients on 20 (user, version) pairs with explicit times spread over
-- 200 x 61 minutes, so concurrent calls race to open the same sessions.
\set u random(3000000001, 3000000020)
\set s random(1, 200) * 3660
SELECT presence_tracking.record_view(:u, 7, 70, to_timestamp(1704067200 + :s));
