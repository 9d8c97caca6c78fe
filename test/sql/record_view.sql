-- record_view(): three tiers, rolling-window debounce, times only forward.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;

-- PL/pgSQL, not SQL: the same helper serves the run on a Citus cluster
-- (test/t/010_citus_regress.pl), which cannot plan SQL functions with parameters.
CREATE FUNCTION tiers(u bigint, v bigint) RETURNS TABLE (
    view_count bigint, ledger_rows bigint, first_viewed_at timestamptz,
    last_viewed_at timestamptz, session_hits bigint, access_last_viewed_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  SELECT s.view_count,
         (SELECT count(*) FROM presence_tracking.artifact_views l WHERE l.user_id = u AND l.version_id = v),
         s.first_viewed_at, s.last_viewed_at, s.session_hits,
         (SELECT a.last_viewed_at FROM presence_tracking.artifact_access a
           WHERE a.user_id = u AND a.artifact_id = s.artifact_id)
    FROM presence_tracking.artifact_version_stats s WHERE s.user_id = u AND s.version_id = v;
END
$$;
SET timezone = 'UTC';

-- The seed's scenario: 9:00, 9:45, 10:30 with a 1 h debounce make 1 view:
-- each visit extends the session.
SELECT presence_tracking.record_view(1, 10, 100, '2026-03-02 09:00') AS "9:00",
       presence_tracking.record_view(1, 10, 100, '2026-03-02 09:45') AS "9:45",
       presence_tracking.record_view(1, 10, 100, '2026-03-02 10:30') AS "10:30";
SELECT * FROM tiers(1, 100);

-- 9:00 then 10:00: a gap of exactly the debounce opens a second session.
SELECT presence_tracking.record_view(2, 10, 100, '2026-03-02 09:00') AS "9:00",
       presence_tracking.record_view(2, 10, 100, '2026-03-02 10:00') AS "10:00";
SELECT * FROM tiers(2, 100);

-- Just under the debounce: the same session.
SELECT presence_tracking.record_view(3, 10, 100, '2026-03-02 09:00') AS "9:00",
       presence_tracking.record_view(3, 10, 100, '2026-03-02 09:59:59.999999') AS "9:59:59.999999";
SELECT * FROM tiers(3, 100);

-- The same time twice: one session, and the second call says so.
SELECT presence_tracking.record_view(4, 10, 100, '2026-03-02 09:00') AS first,
       presence_tracking.record_view(4, 10, 100, '2026-03-02 09:00') AS same_time;
SELECT * FROM tiers(4, 100);

-- An older event never moves anything back and never opens a session.
SELECT presence_tracking.record_view(5, 10, 100, '2026-03-02 12:00') AS noon,
       presence_tracking.record_view(5, 10, 100, '2026-03-02 08:00') AS older,
       presence_tracking.record_view(5, 10, 100, '2026-03-01 08:00') AS a_day_older;
SELECT * FROM tiers(5, 100);

-- A debounce changed through the setting is honoured by the next call.
SELECT presence_tracking.record_view(6, 10, 100, '2026-03-02 09:00');
SET presence_tracking.view_debounce = '10min';
SELECT presence_tracking.record_view(6, 10, 100, '2026-03-02 09:10') AS after_10_min;
SET presence_tracking.view_debounce = '1d';
SELECT presence_tracking.record_view(6, 10, 100, '2026-03-02 20:00') AS after_10_h;
RESET presence_tracking.view_debounce;
SELECT presence_tracking.record_view(6, 10, 100, '2026-03-02 21:00') AS after_1_h;
SELECT * FROM tiers(6, 100);

-- The access row follows the latest view of any version of the artifact.
SELECT presence_tracking.record_view(7, 20, 200, '2026-03-02 09:00'),
       presence_tracking.record_view(7, 20, 201, '2026-03-02 11:00'),
       presence_tracking.record_view(7, 20, 200, '2026-03-02 10:00');
SELECT user_id, artifact_id, last_viewed_at FROM presence_tracking.artifact_access WHERE user_id = 7;
SELECT * FROM tiers(7, 200);
SELECT * FROM tiers(7, 201);

-- All tiers or none: a rolled-back call leaves no trace.
BEGIN;
SELECT presence_tracking.record_view(8, 30, 300, '2026-03-02 09:00');
ROLLBACK;
SELECT count(*) FROM tiers(8, 300);
SELECT count(*) FROM presence_tracking.artifact_access WHERE user_id = 8;

-- Defaults to now().
BEGIN;
SELECT presence_tracking.record_view(9, 40, 400);
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT last_viewed_at = now() AS at_now FROM presence_tracking.artifact_version_stats WHERE user_id = 9;
-- cluster: end
ROLLBACK;

-- The invariant, over everything above: view_count equals the ledger rows,
-- first_viewed_at is the first session, and the access row is the latest view.
SELECT count(*) AS violations
  FROM presence_tracking.artifact_version_stats s
  LEFT JOIN LATERAL (SELECT count(*) AS n, min(viewed_at) AS first, max(viewed_at) AS last
                       FROM presence_tracking.artifact_views l
                      WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
 WHERE s.view_count <> l.n OR s.first_viewed_at <> l.first OR s.last_viewed_at < l.last
    OR NOT EXISTS (SELECT FROM presence_tracking.artifact_access a
                    WHERE a.user_id = s.user_id AND a.artifact_id = s.artifact_id
                      AND a.last_viewed_at >= s.last_viewed_at);

DROP FUNCTION tiers(bigint, bigint);
DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
