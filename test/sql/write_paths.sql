-- The two write paths.  A row that exists is written in place (rows.c); a
-- new row, a new session, or a table with triggers, CHECK constraints or row
-- security goes through SQL.  Both give the same results.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
SET timezone = 'UTC';

-- One row written again and again in one statement: every call sees the
-- previous one.  One join, ten beats, the latest time.
SELECT count(*) FILTER (WHERE joined) AS joins, count(*) AS calls
  FROM (SELECT presence_tracking.heartbeat(1, 10, 100, '2026-01-01 09:00+00'::timestamptz + g * interval '10 s') AS joined
          FROM generate_series(0, 9) g) s;
SELECT beats, joined_at, last_seen_at FROM presence_tracking.presence;

-- The same for views: sessions at 09:00 and 13:00 (after a gap of more than
-- the debounce), the other calls continue them.
SELECT g, presence_tracking.record_view(1, 10, 100, t) AS new_session
  FROM generate_series(0, 5) g,
       LATERAL (SELECT '2026-01-01 09:00+00'::timestamptz
                       + CASE WHEN g < 3 THEN g * interval '40 min' ELSE (g + 3) * interval '40 min' END) x(t)
 ORDER BY g;
SELECT view_count, session_hits, first_viewed_at, last_viewed_at FROM presence_tracking.artifact_version_stats;
SELECT viewed_at FROM presence_tracking.artifact_views ORDER BY 1;
SELECT last_viewed_at FROM presence_tracking.artifact_access;

-- A view older than the latest continues the session and moves nothing back.
SELECT presence_tracking.record_view(1, 10, 100, '2026-01-01 12:00+00') AS new_session;
SELECT view_count, session_hits, last_viewed_at FROM presence_tracking.artifact_version_stats;
SELECT last_viewed_at FROM presence_tracking.artifact_access;

-- A CHECK constraint the DBA adds: the table is left to SQL, which enforces it.
\set VERBOSITY terse
ALTER TABLE presence_tracking.presence ADD CONSTRAINT at_most_eleven CHECK (beats <= 11);
SELECT presence_tracking.heartbeat(1, 10, 100, '2026-01-01 09:01:40+00') AS joined;
SELECT presence_tracking.heartbeat(1, 10, 100, '2026-01-01 09:01:50+00') AS joined;
SELECT * FROM presence_tracking.heartbeat_many('{1}', '{10}', '{100}', '2026-01-01 09:02+00');
\set VERBOSITY default
SELECT beats FROM presence_tracking.presence;
ALTER TABLE presence_tracking.presence DROP CONSTRAINT at_most_eleven;

-- A trigger the DBA adds fires: its table is written through SQL.
-- cluster: differs (Citus refuses triggers on distributed tables)
CREATE FUNCTION public.note_access() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'access of user % on artifact %: % -> %', NEW.user_id, NEW.artifact_id,
    to_char(OLD.last_viewed_at, 'HH24:MI'), to_char(NEW.last_viewed_at, 'HH24:MI');
  RETURN NEW;
END $$;
CREATE TRIGGER note_access BEFORE UPDATE ON presence_tracking.artifact_access
  FOR EACH ROW EXECUTE FUNCTION public.note_access();
SELECT presence_tracking.record_view(1, 10, 100, '2026-01-01 12:30+00') AS new_session;
SELECT presence_tracking.record_view(1, 10, 101, '2026-01-01 12:40+00') AS new_session;
DROP TRIGGER note_access ON presence_tracking.artifact_access;
DROP FUNCTION public.note_access();
SELECT presence_tracking.record_view(1, 10, 100, '2026-01-01 12:50+00') AS new_session;
SELECT version_id, view_count, session_hits, last_viewed_at FROM presence_tracking.artifact_version_stats ORDER BY 1;
SELECT last_viewed_at FROM presence_tracking.artifact_access;
-- cluster: end

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
