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

-- Tables: presence is unlogged, the view tables are durable.
SELECT c.relname, c.relpersistence, c.reloptions
  FROM pg_class c WHERE c.relnamespace = 'presence_tracking'::regnamespace AND c.relkind = 'r'
 ORDER BY 1;

-- Indexes.  No index covers a column that a heartbeat or a repeat view
-- changes (last_seen_at, last_viewed_at, view_count), so those updates are HOT.
SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'presence_tracking'::regnamespace
 ORDER BY 1;

-- All four tables are dumped by pg_dump.
SELECT unnest(extconfig)::regclass::text AS dumped_table
  FROM pg_extension WHERE extname = 'presence_tracking' ORDER BY 1;

-- Settings and their defaults (the developer setting that forces the SQL
-- write path is on in the suites' second pass, so only its context shows).
SELECT name, CASE WHEN name = 'presence_tracking.force_sql_path' THEN '' ELSE setting END AS setting,
       unit, context FROM pg_settings
 WHERE name LIKE 'presence_tracking.%' ORDER BY name;

DROP EXTENSION presence_tracking;
SELECT count(*) AS functions_left FROM pg_proc WHERE pronamespace = 'presence_tracking'::regnamespace;
DROP SCHEMA presence_tracking;
