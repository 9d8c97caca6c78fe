-- face pile, extension: one of 20k artifacts with 50 present users each (1M rows).
\set a random(100001, 120000)
SELECT count(*) FROM presence_tracking.active_viewers(:a);
