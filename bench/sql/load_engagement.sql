-- A busy artifact (900001, versions 9000010..9000014) for artifact_engagement:
-- 300 viewers a day for the last 365 days, one session each, imported as
-- import_views() loads history and folded by the job; then 300 sessions
-- today that the job has not folded yet.  Times are in the past: an import.
SET presence_tracking.max_backdate = -1;
SELECT * FROM presence_tracking.import_views(
    ARRAY(SELECT 5000000 + u FROM generate_series(1, 365) d, generate_series(1, 300) u ORDER BY d, u),
    ARRAY(SELECT 900001::bigint FROM generate_series(1, 365) d, generate_series(1, 300) u ORDER BY d, u),
    ARRAY(SELECT 9000010 + (u + d) % 5 FROM generate_series(1, 365) d, generate_series(1, 300) u ORDER BY d, u),
    ARRAY(SELECT now() - d * interval '1 day' FROM generate_series(1, 365) d, generate_series(1, 300) u ORDER BY d, u));
SELECT presence_tracking.fold_engagement();
SELECT * FROM presence_tracking.import_views(
    ARRAY(SELECT 6000000 + u FROM generate_series(1, 300) u),
    ARRAY(SELECT 900001::bigint FROM generate_series(1, 300) u),
    ARRAY(SELECT 9000010 + u % 5 FROM generate_series(1, 300) u),
    ARRAY(SELECT now() - interval '1 minute' FROM generate_series(1, 300) u));
VACUUM ANALYZE presence_tracking.artifact_engagement, presence_tracking.artifact_view_days;
