-- face pile, hand-written: same data in handwritten.presence.
\set a random(100001, 120000)
SELECT count(*) FROM handwritten.active_viewers(:a);
