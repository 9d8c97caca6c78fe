-- active_count, extension: one of 20k artifacts with 50 present users each (1M rows).
\set a random(100001, 120000)
SELECT presence_tracking.active_count(:a);
