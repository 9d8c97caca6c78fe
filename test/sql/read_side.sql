-- The read side: answers, and plans that use an index with a cost that
-- does not grow with unrelated data.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
SET timezone = 'UTC';

SELECT presence_tracking.record_view(u, 1, v, '2026-03-02 09:00'::timestamptz + (u * 10 + v) * interval '1 min')
  FROM generate_series(1, 3) u, generate_series(1, 2) v \g /dev/null
SELECT presence_tracking.record_view(1, 1, 1, '2026-03-02 12:00');
SELECT presence_tracking.record_view(1, 2, 20, '2026-03-02 13:00');

SELECT presence_tracking.has_viewed(1, 1) AS "1 saw v1",
       presence_tracking.has_viewed(1, 20) AS "1 saw v20",
       presence_tracking.has_viewed(2, 20) AS "2 saw v20",
       presence_tracking.has_viewed(2, NULL) AS "null version",
       presence_tracking.has_viewed(NULL, 20) AS "null user";
-- The NULL rule of the read side: NULL or no rows, never an error.
SELECT count(*) AS null_rows FROM (
  SELECT user_id::text FROM presence_tracking.version_viewers(NULL)
  UNION ALL SELECT artifact_id::text FROM presence_tracking.user_history(NULL)
  UNION ALL SELECT user_id::text FROM presence_tracking.artifact_matrix(NULL)
  UNION ALL SELECT version_id::text FROM presence_tracking.artifact_stats(NULL)
  UNION ALL SELECT user_id::text FROM presence_tracking.active_viewers(NULL)) n;
SELECT * FROM presence_tracking.version_viewers(1);
SELECT * FROM presence_tracking.user_history(1);
SELECT * FROM presence_tracking.user_history(1, since => '2026-03-02 09:12', until => '2026-03-02 13:00');
SELECT * FROM presence_tracking.artifact_matrix(1);
SELECT * FROM presence_tracking.artifact_stats(1);
SELECT * FROM presence_tracking.artifact_stats(999);

-- Unrelated data: 20k more users on other artifacts.
INSERT INTO presence_tracking.artifact_version_stats
SELECT u, 1000 + u % 500, 100 + u % 50, 1, '2026-01-01', '2026-01-01', 1 FROM generate_series(10, 20009) u;
INSERT INTO presence_tracking.artifact_views
SELECT u % 1000 + 10, 100 + u % 50, 1000 + u % 500, '2026-01-01'::timestamptz + u * interval '1 s'
  FROM generate_series(1, 20000) u;
ANALYZE presence_tracking.artifact_version_stats, presence_tracking.artifact_views;

-- cluster: differs (the plan is Citus's)
-- has_viewed() holds a subquery, which keeps PostgreSQL from inlining it:
-- the plan of its body.
EXPLAIN (COSTS OFF) SELECT EXISTS (SELECT FROM presence_tracking.artifact_version_stats s
                                    WHERE s.user_id = 1 AND s.version_id = 1);
-- The set-returning ones are inlined, so EXPLAIN shows the plan of the call.
CREATE FUNCTION pg_temp.explain(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query;
END $$;
EXPLAIN (COSTS OFF) SELECT * FROM presence_tracking.version_viewers(1);
-- user_history() reads every partition of the ledger (named by month).
SELECT regexp_replace(l, 'artifact_views_\d{4}_\d{2}', 'artifact_views_<month>', 'g') AS "QUERY PLAN"
  FROM pg_temp.explain('SELECT * FROM presence_tracking.user_history(1)') l;
EXPLAIN (COSTS OFF) SELECT * FROM presence_tracking.user_history(1, '2026-03-02', '2026-03-03');
EXPLAIN (COSTS OFF) SELECT * FROM presence_tracking.artifact_matrix(1);
EXPLAIN (COSTS OFF) SELECT * FROM presence_tracking.artifact_stats(1);
-- cluster: end

-- A recipe from the README: a user's unread artifacts, given the app's own
-- table of artifacts and their latest version.
CREATE TEMP TABLE app_artifacts (id bigint PRIMARY KEY, latest_version_id bigint, updated_at timestamptz);
INSERT INTO app_artifacts VALUES (1, 2, '2026-03-02 10:00'), (2, 20, '2026-03-02 14:00'), (3, 30, '2026-03-01');
SELECT a.id AS unread_artifact
  FROM app_artifacts a
 WHERE NOT presence_tracking.has_viewed(2, a.latest_version_id)
 ORDER BY 1;
-- "Changed since you last viewed": updated after the user's last view.
SELECT a.id AS changed_since_viewed
  FROM app_artifacts a
  JOIN presence_tracking.artifact_access x ON x.artifact_id = a.id AND x.user_id = 1
 WHERE a.updated_at > x.last_viewed_at
 ORDER BY 1;

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
