-- Privileges: presence_tracking_writer records, presence_tracking_reader
-- reads, PUBLIC gets nothing, purge and scheduling stay with the owner.
CREATE EXTENSION presence_tracking;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
\set VERBOSITY terse
CREATE ROLE regress_pt_writer LOGIN IN ROLE presence_tracking_writer;
CREATE ROLE regress_pt_reader LOGIN IN ROLE presence_tracking_reader;
CREATE ROLE regress_pt_nobody LOGIN;
SELECT presence_tracking.record_view(1, 10, 100, '2026-03-02 09:00+00');

-- No grant: permission denied, never data.
SET ROLE regress_pt_nobody;
SELECT presence_tracking.heartbeat(1, 10, 100);
SELECT presence_tracking.record_view(1, 10, 100);
SELECT * FROM presence_tracking.active_viewers(10);
SELECT presence_tracking.has_viewed(1, 100);
SELECT * FROM presence_tracking.version_viewers(100);
SELECT * FROM presence_tracking.artifact_views;
SELECT * FROM presence_tracking.artifact_version_stats;
SELECT presence_tracking.purge();
SELECT presence_tracking.schedule_purge();
SELECT presence_tracking.unschedule_purge();
INSERT INTO presence_tracking.presence VALUES (1, 1, 1, now(), now(), 1);
RESET ROLE;

-- The writer records through the functions, and only through them.
SET ROLE regress_pt_writer;
SELECT presence_tracking.heartbeat(2, 10, 100) AS joined;
SELECT * FROM presence_tracking.heartbeat_many('{5}', '{10}', '{100}');
SELECT presence_tracking.record_view(2, 10, 100, '2026-03-02 09:00+00') AS new_session;
UPDATE presence_tracking.artifact_version_stats SET view_count = 1000;
INSERT INTO presence_tracking.artifact_views VALUES (2, 10, 100, now());
DELETE FROM presence_tracking.presence;
SELECT * FROM presence_tracking.artifact_views;
SELECT presence_tracking.purge();
RESET ROLE;

-- The reader reads, and cannot write.
SET ROLE regress_pt_reader;
SELECT user_id, version_id FROM presence_tracking.active_viewers(10);
SELECT presence_tracking.has_viewed(2, 100);
SELECT user_id, view_count FROM presence_tracking.version_viewers(100);
SELECT count(*) FROM presence_tracking.user_history(2);
SELECT user_id, view_count FROM presence_tracking.artifact_matrix(10);
SELECT views, unique_viewers FROM presence_tracking.artifact_stats(10);
SELECT user_id, view_count FROM presence_tracking.artifact_version_stats ORDER BY 1;
SELECT presence_tracking.heartbeat(3, 10, 100);
SELECT * FROM presence_tracking.heartbeat_many('{3}', '{10}', '{100}');
SELECT presence_tracking.record_view(3, 10, 100);
UPDATE presence_tracking.artifact_access SET last_viewed_at = now();
RESET ROLE;

-- Nothing but the functions wrote.
SELECT user_id, view_count FROM presence_tracking.artifact_version_stats ORDER BY 1;
SELECT count(*) AS ledger_rows FROM presence_tracking.artifact_views;

-- The roles are cluster-wide: a second database installs and drops the
-- extension without touching this one.
-- cluster: differs (a new database has no Citus until its DBA adds it)
CREATE DATABASE regress_pt_second;
\c regress_pt_second
SET client_min_messages = error;
SET presence_tracking.max_backdate = -1;
CREATE EXTENSION presence_tracking;
SET ROLE regress_pt_writer;
SELECT presence_tracking.record_view(9, 90, 900, '2026-03-02 09:00+00') AS second_db_view;
RESET ROLE;
DROP EXTENSION presence_tracking;
\c contrib_regression
SET client_min_messages = error;
SET presence_tracking.max_backdate = -1;
DROP DATABASE regress_pt_second;
RESET client_min_messages;
-- cluster: end
SET ROLE regress_pt_writer;
SELECT presence_tracking.record_view(2, 10, 100, '2026-03-02 11:00+00') AS still_works;
RESET ROLE;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'presence_tracking_%' ORDER BY 1;

DROP ROLE regress_pt_writer, regress_pt_reader, regress_pt_nobody;
DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
