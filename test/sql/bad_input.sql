-- Bad input gets a clear error with a SQLSTATE and changes nothing.
CREATE EXTENSION presence_tracking;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- NULL in every argument of every writer.
SELECT presence_tracking.heartbeat(NULL, 1, 1);
SELECT presence_tracking.heartbeat(1, NULL, 1);
SELECT presence_tracking.heartbeat(1, 1, NULL);
SELECT presence_tracking.heartbeat(1, 1, 1, NULL);
SELECT presence_tracking.record_view(NULL, 1, 1);
SELECT presence_tracking.record_view(1, NULL, 1);
SELECT presence_tracking.record_view(1, 1, NULL);
SELECT presence_tracking.record_view(1, 1, 1, NULL);
SELECT count(*) FROM presence_tracking.active_viewers(NULL);

-- Infinite and future times.
SELECT presence_tracking.heartbeat(1, 1, 1, 'infinity');
SELECT presence_tracking.heartbeat(1, 1, 1, '-infinity');
SELECT presence_tracking.record_view(1, 1, 1, 'infinity');
-- (terse: the detail shows the clock)
\set VERBOSITY terse
SELECT presence_tracking.heartbeat(1, 1, 1, clock_timestamp() + interval '2 min');
SELECT presence_tracking.record_view(1, 1, 1, clock_timestamp() + interval '1 day');
\set VERBOSITY default
-- Up to a minute of client clock skew is accepted.
BEGIN;
SELECT presence_tracking.heartbeat(1, 1, 1, clock_timestamp() + interval '50 s');
SELECT presence_tracking.record_view(1, 1, 1, clock_timestamp() + interval '50 s');
ROLLBACK;

-- Keys of the wrong type.
SELECT presence_tracking.heartbeat('alice', 1, 1);
SELECT presence_tracking.heartbeat('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 1, 1);
SELECT presence_tracking.record_view(1.5, 1, 1);

-- Error codes, for applications that branch on them.
DO $$
DECLARE
  calls text[] := ARRAY[
    'SELECT presence_tracking.heartbeat(NULL, 1, 1)',
    'SELECT presence_tracking.record_view(1, 1, 1, ''infinity'')',
    'SELECT presence_tracking.record_view(1, 1, 1, now() + interval ''1 h'')'];
  c text;
BEGIN
  FOREACH c IN ARRAY calls LOOP
    BEGIN
      EXECUTE c;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '% -> %', c, SQLSTATE;
    END;
  END LOOP;
END $$;

-- Nothing was written by any of the above.
SELECT (SELECT count(*) FROM presence_tracking.presence) AS presence,
       (SELECT count(*) FROM presence_tracking.artifact_views) AS ledger,
       (SELECT count(*) FROM presence_tracking.artifact_version_stats) AS stats,
       (SELECT count(*) FROM presence_tracking.artifact_access) AS access;

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
