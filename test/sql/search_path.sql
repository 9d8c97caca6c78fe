-- search_path safety: hostile objects with the extension's names, in a schema
-- ahead of pg_catalog on the search_path, change nothing.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hostile = called'; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.trap_eq);
CREATE FUNCTION evil.trap_plus(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hostile + called'; END $$;
CREATE OPERATOR evil.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.trap_plus);
CREATE OPERATOR evil.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.trap_plus);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hostile now() called'; END $$;
CREATE TABLE evil.presence (artifact_id bigint, user_id bigint, version_id bigint, last_seen_at timestamptz);
CREATE TABLE evil.artifact_version_stats (user_id bigint, version_id bigint);
CREATE TABLE evil.artifact_views (user_id bigint);
CREATE TABLE evil.artifact_access (user_id bigint);
SET search_path = evil, pg_catalog, presence_tracking;

-- The traps work: an unqualified query falls into them.
SELECT 1::bigint = 1::bigint;

-- The extension's functions do not: the writers, then (committed first,
-- as a cluster needs: README) the read side and the purge.
BEGIN;
SELECT presence_tracking.heartbeat(1, 10, 100, pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 min') AS joined;
SELECT presence_tracking.heartbeat(1, 10, 100) AS joined_again;
SELECT * FROM presence_tracking.heartbeat_many('{2, 2}', '{10, 10}', '{100, 101}');
SELECT presence_tracking.record_view(1, 10, 100, '2026-03-02 09:00+00') AS new_session,
       presence_tracking.record_view(1, 10, 100, '2026-03-02 09:30+00') AS same_session;
COMMIT;
BEGIN;
SELECT user_id, version_id FROM presence_tracking.active_viewers(10);
SELECT presence_tracking.has_viewed(1, 100);
SELECT user_id, view_count FROM presence_tracking.version_viewers(100);
SELECT version_id FROM presence_tracking.user_history(1);
SELECT user_id, view_count FROM presence_tracking.artifact_matrix(10);
SELECT views, unique_viewers FROM presence_tracking.artifact_stats(10);
SELECT presence_tracking.purge();
COMMIT;
-- The hostile tables were not written.
SELECT (SELECT count(*) FROM evil.presence) + (SELECT count(*) FROM evil.artifact_version_stats)
     + (SELECT count(*) FROM evil.artifact_views) + (SELECT count(*) FROM evil.artifact_access) AS hostile_rows;

RESET search_path;
DROP SCHEMA evil CASCADE;
DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
