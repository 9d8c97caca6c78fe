-- Consistency of the view tables after the record_view runs.  Prints, for the
-- extension and for the hand-written version:
--   mismatch: (user, version) pairs whose stats view_count differs from their
--             number of ledger rows (stats without ledger rows and ledger rows
--             without stats count too);
--   dup:      ledger rows that follow the previous session of the same
--             (user, version) by less than the 1 hour debounce (duplicate
--             sessions).
WITH l AS (SELECT user_id, version_id, count(*) AS n FROM presence_tracking.artifact_views GROUP BY 1, 2)
SELECT 'ext_mismatch', count(*) FROM presence_tracking.artifact_version_stats s
  FULL JOIN l USING (user_id, version_id) WHERE s.view_count IS DISTINCT FROM l.n;
SELECT 'ext_dup', count(*) FROM (
  SELECT viewed_at - lag(viewed_at) OVER (PARTITION BY user_id, version_id ORDER BY viewed_at) AS gap
    FROM presence_tracking.artifact_views) x WHERE gap < interval '1 hour';
SELECT 'ext_ledger_rows', count(*) FROM presence_tracking.artifact_views;
WITH l AS (SELECT user_id, version_id, count(*) AS n FROM handwritten.views GROUP BY 1, 2)
SELECT 'hw_mismatch', count(*) FROM handwritten.stats s
  FULL JOIN l USING (user_id, version_id) WHERE s.view_count IS DISTINCT FROM l.n;
SELECT 'hw_dup', count(*) FROM (
  SELECT viewed_at - lag(viewed_at) OVER (PARTITION BY user_id, version_id ORDER BY viewed_at) AS gap
    FROM handwritten.views) x WHERE gap < interval '1 hour';
SELECT 'hw_ledger_rows', count(*) FROM handwritten.views;
