-- Scheduling when pg_cron serves another database (here: "postgres").
-- The job itself, run by pg_cron, is tested in test/t/001_pg_cron.pl.
SHOW cron.database_name;
CREATE EXTENSION presence_tracking;
-- Called by hand, it is an error that gives the exact call to run there,
-- with the schedule in force.
SELECT presence_tracking.schedule_purge();
SET presence_tracking.cleanup_schedule = '*/10 * * * *';
SELECT presence_tracking.schedule_purge();
SELECT presence_tracking.unschedule_purge();
-- The purge works without pg_cron.
SELECT presence_tracking.purge();
DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
