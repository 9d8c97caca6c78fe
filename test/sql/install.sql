-- Installing: the objects, the tables' keys and indexes, the marks for pg_dump.
-- This server's pg_cron serves database "postgres", so CREATE EXTENSION
-- warns with the exact call to run there.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;

SELECT extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'presence_tracking';

-- Every member object, by kind.
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'presence_tracking')
 ORDER BY 1;

-- Tables: presence is unlogged, the view tables are durable.  The ledger is
-- partitioned by month: its partitions are made at install (this month and
-- the next three), and they are not members of the extension (pg_dump dumps
-- them with their data); their names depend on the month.
SELECT c.relname, c.relkind, c.relpersistence, c.reloptions
  FROM pg_class c WHERE c.relnamespace = 'presence_tracking'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.relname !~ '^artifact_views_\d{4}_\d{2}$'
 ORDER BY 1;
SELECT count(*) AS monthly_partitions,
       min(from_at) = presence_tracking.day_start(date_trunc('month', presence_tracking.view_day(now()))::date) AS from_this_month,
       max(to_at) = presence_tracking.day_start((date_trunc('month', presence_tracking.view_day(now())) + interval '4 months')::date) AS to_three_months_ahead,
       bool_and(NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = partition AND d.deptype = 'e')) AS none_a_member
  FROM presence_tracking.ledger_partitions();

-- Indexes.  No index covers a column that a heartbeat or a repeat view
-- changes (last_seen_at, last_viewed_at, view_count), so those updates are HOT.
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'presence_tracking'::regnamespace
   AND c.relname !~ '^artifact_views_\d{4}_\d{2}$'
 ORDER BY 1;

-- The tables pg_dump dumps the data of (the monthly partitions are dumped
-- as tables of their own).
SELECT unnest(extconfig)::regclass::text AS dumped_table
  FROM pg_extension WHERE extname = 'presence_tracking' ORDER BY 1;

-- Settings and their defaults (the developer setting that forces the SQL
-- write path is on in the suites' second pass, so only its context shows).
SELECT name, CASE WHEN name = 'presence_tracking.force_sql_path' THEN '' ELSE setting END AS setting,
       unit, context FROM pg_settings
 WHERE name LIKE 'presence_tracking.%' ORDER BY name;

-- Citus (1.5): not here, so the tables are not distributed, and
-- distribute() refuses with feature_not_supported and a hint.
-- cluster: differs (Citus is there, and the tables are distributed)
SELECT presence_tracking.distributed(), presence_tracking.on_citus_worker();
\set VERBOSITY default
DO $$
BEGIN
    PERFORM presence_tracking.distribute();
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'distribute() refused (%): %', SQLSTATE, SQLERRM;
END $$;
SELECT presence_tracking.distribute();
-- cluster: end

DROP EXTENSION presence_tracking;
SELECT count(*) AS functions_left FROM pg_proc WHERE pronamespace = 'presence_tracking'::regnamespace;
DROP SCHEMA presence_tracking;
