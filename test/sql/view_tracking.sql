-- View tracking, complete (release 1.4): engagement per day, tracking modes,
-- unread, erasure, the self-check and its repair, the partitioned ledger and
-- its retention, imports.
SET client_min_messages = error;
CREATE EXTENSION presence_tracking;
RESET client_min_messages;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
SET TimeZone = 'UTC';
CREATE ROLE regress_app LOGIN IN ROLE presence_tracking_writer, presence_tracking_reader;
CREATE ROLE regress_analyst LOGIN IN ROLE presence_tracking_reader;

-- What artifact_engagement() must answer, straight from the ledger.
-- (PL/pgSQL: the run on a Citus cluster cannot plan SQL functions with parameters.)
CREATE FUNCTION pg_temp.ledger_engagement(a bigint, from_day date, to_day date)
RETURNS TABLE (day date, version_id bigint, views bigint, unique_viewers bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT presence_tracking.view_day(v.viewed_at), v.version_id, count(*), count(DISTINCT v.user_id)
      FROM presence_tracking.artifact_views v
     WHERE v.artifact_id = a AND presence_tracking.view_day(v.viewed_at) BETWEEN from_day AND to_day
     GROUP BY 1, 2 ORDER BY 1, 2;
END
$$;

--
-- 1. Engagement per day.
--
-- Artifact 1, versions 10 and 11.  User 1: two sessions on 10 on Jan 5
-- (the second more than the debounce after the first), a call inside the
-- second; user 2: one session on 10 on Jan 5 and one on 11 on Jan 6.
SELECT presence_tracking.record_view(1, 1, 10, '2026-01-05 08:00+00') AS s1,
       presence_tracking.record_view(1, 1, 10, '2026-01-05 08:30+00') AS inside,
       presence_tracking.record_view(1, 1, 10, '2026-01-05 10:00+00') AS s2,
       presence_tracking.record_view(2, 1, 10, '2026-01-05 09:00+00') AS s3,
       presence_tracking.record_view(2, 1, 11, '2026-01-06 23:30+00') AS s4;
-- Nothing folded yet: answered from the day rows.
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31');
SELECT presence_tracking.fold_engagement() AS day_rows_folded;
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31');
-- A new session of a folded day row: partly folded, still exact.
SELECT presence_tracking.record_view(1, 1, 10, '2026-01-05 20:00+00') AS s5,
       presence_tracking.record_view(3, 1, 10, '2026-01-05 21:00+00') AS s6;
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-05', '2026-01-05');
SELECT (SELECT array_agg(e) FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31') e)
     = (SELECT array_agg(l) FROM pg_temp.ledger_engagement(1, '2026-01-01', '2026-01-31') l) AS equals_ledger;
SELECT presence_tracking.fold_engagement() AS day_rows_folded;
SELECT (SELECT array_agg(e) FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31') e)
     = (SELECT array_agg(l) FROM pg_temp.ledger_engagement(1, '2026-01-01', '2026-01-31') l) AS equals_ledger;
SELECT artifact_id, day, version_id, views, unique_viewers FROM presence_tracking.artifact_engagement ORDER BY 1, 2, 3;
-- The fold of a Citus cluster (1.5: maintain_views() runs it where the tables
-- are distributed; it is plain SQL and gives the same rollup here), on new
-- sessions of folded and of new day rows; rolled back.
BEGIN;
SELECT presence_tracking.record_view(1, 1, 10, '2026-01-05 23:30+00') AS s7,
       presence_tracking.record_view(4, 1, 11, '2026-01-06 08:00+00') AS s8;
-- cluster: differs (in a writer's transaction, a read of what it wrote: Citus refuses it)
SELECT presence_tracking.fold_engagement_in_cluster() AS day_rows_folded;
SELECT (SELECT array_agg(e) FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31') e)
     = (SELECT array_agg(l) FROM pg_temp.ledger_engagement(1, '2026-01-01', '2026-01-31') l) AS equals_ledger;
SELECT artifact_id, day, version_id, views, unique_viewers FROM presence_tracking.artifact_engagement ORDER BY 1, 2, 3;
SELECT presence_tracking.fold_engagement_in_cluster() AS nothing_left,
       (SELECT count(*) FROM presence_tracking.check_consistency()) AS violations;
-- cluster: end
ROLLBACK;
-- The day is the date in presence_tracking.engagement_timezone: 23:30 UTC on
-- Jan 6 is Jan 7 in Tokyo.
SET presence_tracking.engagement_timezone = 'Asia/Tokyo';
SELECT presence_tracking.view_day('2026-01-06 23:30+00'), presence_tracking.day_start('2026-01-07');
RESET presence_tracking.engagement_timezone;
SET presence_tracking.engagement_timezone = 'Mars/Olympus_Mons';
-- Bad input: a clear error, or no rows for a NULL (the read side's rule).
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-02-01', '2026-01-01');
SELECT count(*) FROM presence_tracking.artifact_engagement(NULL, '2026-01-01', '2026-01-31');
SELECT count(*) FROM presence_tracking.artifact_engagement(1, NULL, '2026-01-31');

--
-- 2. Unread, for a list of badges at once.
--
SELECT * FROM presence_tracking.unread(1, ARRAY[12, 10, 11, 12, 13]);
SELECT * FROM presence_tracking.unread(2, ARRAY[11, 10]);
SELECT count(*) FROM presence_tracking.unread(NULL, ARRAY[10]);
SELECT count(*) FROM presence_tracking.unread(1, NULL);

--
-- 3. Tracking modes.
--
SET ROLE regress_app;
SELECT presence_tracking.set_tracking(2, 'unread_only') AS previous;
SELECT presence_tracking.set_tracking(3, 'off') AS previous;
SELECT presence_tracking.tracking(2), presence_tracking.tracking(3), presence_tracking.tracking(4);
-- unread_only: has_viewed and unread work; no session, no ledger or day row.
SELECT presence_tracking.record_view(5, 2, 20, '2026-01-05 08:00+00') AS opened,
       presence_tracking.record_view(5, 2, 20, '2026-01-05 12:00+00') AS opened_later;
SELECT presence_tracking.has_viewed(5, 20), presence_tracking.has_viewed(5, 21);
SELECT * FROM presence_tracking.unread(5, ARRAY[20, 21]);
SELECT user_id, version_id, view_count, first_viewed_at, last_viewed_at
  FROM presence_tracking.artifact_version_stats WHERE artifact_id = 2;
SELECT last_viewed_at FROM presence_tracking.artifact_access WHERE artifact_id = 2;
SELECT (SELECT count(*) FROM presence_tracking.artifact_views WHERE artifact_id = 2) AS ledger_rows,
       (SELECT count(*) FROM presence_tracking.artifact_view_days WHERE artifact_id = 2) AS day_rows;
-- What is withheld says so.
-- cluster: differs (the error's CONTEXT names the read functions' PL/pgSQL form)
SELECT * FROM presence_tracking.version_viewers(20);
SELECT * FROM presence_tracking.artifact_matrix(2);
-- cluster: end
SELECT * FROM presence_tracking.artifact_engagement(2, '2026-01-01', '2026-01-31');
-- off: nothing at all.
SELECT presence_tracking.record_view(5, 3, 30, '2026-01-05 08:00+00') AS opened;
SELECT (SELECT count(*) FROM presence_tracking.artifact_version_stats WHERE artifact_id = 3)
     + (SELECT count(*) FROM presence_tracking.artifact_access WHERE artifact_id = 3)
     + (SELECT count(*) FROM presence_tracking.artifact_versions WHERE artifact_id = 3) AS rows_written;
-- Back to full: recorded again.
SELECT presence_tracking.set_tracking(3, 'full') AS previous;
SELECT presence_tracking.tracking(3);
SELECT presence_tracking.record_view(5, 3, 30, '2026-01-05 09:00+00') AS opened;
SELECT presence_tracking.set_tracking(3, 'full') AS previous;
-- Bad input.
SELECT presence_tracking.set_tracking(3, 'partial');
SELECT presence_tracking.set_tracking(3, NULL);
SELECT presence_tracking.set_tracking(NULL, 'off');
-- The application sets modes; it cannot write the table, nor can a reader.
INSERT INTO presence_tracking.artifact_tracking VALUES (4, 'off');
RESET ROLE;
SET ROLE regress_analyst;
SELECT presence_tracking.set_tracking(4, 'off');
SELECT presence_tracking.tracking(2);
RESET ROLE;
-- A role with the writer role alone reads modes too.
CREATE ROLE regress_writer_only LOGIN IN ROLE presence_tracking_writer;
SET ROLE regress_writer_only;
SELECT presence_tracking.tracking(2), presence_tracking.set_tracking(4, 'off'), presence_tracking.set_tracking(4, 'full');
RESET ROLE;
DROP ROLE regress_writer_only;
SELECT artifact_id, mode FROM presence_tracking.artifact_tracking ORDER BY 1;

--
-- 4. The self-check and the repair.
--
SELECT * FROM presence_tracking.check_consistency();
-- Planted violations, one of each kind.
UPDATE presence_tracking.artifact_version_stats SET view_count = view_count + 5 WHERE user_id = 1 AND version_id = 10;
UPDATE presence_tracking.artifact_engagement SET views = views + 3 WHERE day = '2026-01-06';
DELETE FROM presence_tracking.artifact_access WHERE user_id = 2;
UPDATE presence_tracking.artifact_view_days SET views = views + 1, folded = folded + 1 WHERE user_id = 3;
INSERT INTO presence_tracking.artifact_version_stats VALUES (9, 10, 99, 1, '2026-01-01', '2026-01-01', 1);
-- cluster: differs (check_consistency() writes times as text on the workers, where they are in ISO style)
SELECT * FROM presence_tracking.check_consistency() ORDER BY 1, 2, 3, 4, 5;
-- cluster: end
-- One user, then everyone.
SELECT * FROM presence_tracking.rebuild_stats(2);
SELECT violation, user_id FROM presence_tracking.check_consistency() ORDER BY 1, 2;
SELECT * FROM presence_tracking.rebuild_stats();
-- What rebuild cannot decide is left for the DBA: a version under two artifacts.
SELECT * FROM presence_tracking.check_consistency();
DELETE FROM presence_tracking.artifact_version_stats WHERE user_id = 9;
DELETE FROM presence_tracking.artifact_access WHERE user_id = 9;
SELECT * FROM presence_tracking.check_consistency();
SELECT (SELECT array_agg(e) FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31') e)
     = (SELECT array_agg(l) FROM pg_temp.ledger_engagement(1, '2026-01-01', '2026-01-31') l) AS equals_ledger;
-- Owner only.
SET ROLE regress_app;
SELECT * FROM presence_tracking.check_consistency();
SELECT * FROM presence_tracking.rebuild_stats();
RESET ROLE;

--
-- 5. Erasure.
--
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31');
SET ROLE regress_app;
SELECT * FROM presence_tracking.forget_user(2);
RESET ROLE;
SELECT * FROM presence_tracking.forget_user(2);
-- No table of the extension holds the id in a key column any more.
CREATE FUNCTION pg_temp.rows_naming(id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c record;
    n bigint;
    total bigint := 0;
BEGIN
    FOR c IN SELECT a.attrelid::regclass AS tab, a.attname
               FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
              WHERE r.relnamespace = 'presence_tracking'::regnamespace AND r.relkind = 'r'
                AND a.attname = 'user_id' AND NOT a.attisdropped
    LOOP
        EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', c.tab, c.attname) INTO n USING id;
        total := total + n;
    END LOOP;
    RETURN total;
END $$;
SELECT pg_temp.rows_naming(2) AS rows_naming_user_2, pg_temp.rows_naming(1) AS rows_naming_user_1;
-- The days' totals are recomputed without the user; the others' are unchanged.
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-01-31');
SELECT * FROM presence_tracking.check_consistency();
SELECT * FROM presence_tracking.forget_user(2);
SELECT * FROM presence_tracking.forget_user(NULL);
-- A user present now leaves first (face piles hear it), then is forgotten.
SELECT presence_tracking.heartbeat(42, 1, 10, now());
SELECT * FROM presence_tracking.forget_user(42);
SELECT pg_temp.rows_naming(42) AS rows_naming_user_42;

--
-- 6. The ledger, partitioned by month.
--
-- Rows of months without a partition wait in the default partition; the
-- scheduled job (purge() runs maintain_views()) gives them one.
SELECT count(*) AS rows_in_default FROM presence_tracking.artifact_views_default;
SELECT presence_tracking.maintain_views();
SELECT count(*) AS rows_in_default FROM presence_tracking.artifact_views_default;
SELECT partition, from_at, to_at FROM presence_tracking.ledger_partitions() WHERE from_at < '2026-06-01';
-- cluster: differs (tableoid names a shard there)
SELECT tableoid::regclass AS partition, count(*) FROM presence_tracking.artifact_views GROUP BY 1 ORDER BY 1;
-- cluster: end
-- The bounds do not depend on how the session prints times: a run under
-- another date style, time zone and abbreviations finds the same months.
BEGIN;
SET LOCAL datestyle = 'SQL, MDY';
SET LOCAL timezone = 'America/New_York';
SET LOCAL timezone_abbreviations = 'Australia';
SELECT presence_tracking.maintain_views();
SELECT count(*) AS partitions, min(from_at) AT TIME ZONE 'UTC' AS first_from FROM presence_tracking.ledger_partitions();
COMMIT;
-- Retention drops whole months; the counts keep their sessions.
SELECT presence_tracking.record_view(1, 1, 10, '2026-02-10 08:00+00') AS february;
SELECT presence_tracking.maintain_views();
SELECT view_count FROM presence_tracking.artifact_version_stats WHERE user_id = 1 AND version_id = 10;
SET presence_tracking.ledger_retention = '3650d';
SELECT presence_tracking.maintain_views();
SELECT count(*) AS january_partitions FROM presence_tracking.ledger_partitions() WHERE from_at = '2026-01-01';
SET presence_tracking.ledger_retention = '1d';
SELECT now() - interval '1 day' > '2026-02-01' AS january_is_past_retention;
SELECT presence_tracking.maintain_views();
SELECT count(*) AS january_partitions FROM presence_tracking.ledger_partitions() WHERE from_at = '2026-01-01';
SELECT presence_tracking.ledger_horizon() >= '2026-02-01' AS horizon_moved;
SELECT count(*) AS ledger_rows_of_january FROM presence_tracking.artifact_views WHERE viewed_at < '2026-02-01';
SELECT view_count FROM presence_tracking.artifact_version_stats WHERE user_id = 1 AND version_id = 10;
SELECT * FROM presence_tracking.artifact_engagement(1, '2026-01-01', '2026-02-28');
SELECT * FROM presence_tracking.check_consistency();
SELECT * FROM presence_tracking.rebuild_stats() WHERE rows_repaired > 0;
RESET presence_tracking.ledger_retention;

--
-- 7. Imports: shuffled events, recorded as record_view() would have in order.
--
-- The same 60 events for users 101..103 (imported, shuffled) and 201..203
-- (recorded in time order).  Gaps of 20 to 80 minutes around the 1 h window.
CREATE TABLE events AS
SELECT 100 + u AS user_id, 7 AS artifact_id, 70 + (i % 2) AS version_id,
       timestamptz '2026-03-01 08:00+00' + (i * 20 + (i * i % 7) * 10) * interval '1 minute' AS at
  FROM generate_series(1, 3) u, generate_series(1, 20) i;
-- The import first, in a new session: it needs the library's settings
-- before anything else of the extension has run there.
\c -
SET TimeZone = 'UTC';
SELECT * FROM presence_tracking.import_views(
    ARRAY(SELECT user_id FROM events ORDER BY md5(at::text || user_id)),
    ARRAY(SELECT artifact_id FROM events ORDER BY md5(at::text || user_id)),
    ARRAY(SELECT version_id FROM events ORDER BY md5(at::text || user_id)),
    ARRAY(SELECT at FROM events ORDER BY md5(at::text || user_id)));
SET presence_tracking.max_backdate = -1;
SELECT count(*) FROM (SELECT presence_tracking.record_view(e.user_id + 100, e.artifact_id, e.version_id, e.at)
                        FROM (SELECT * FROM events ORDER BY at, user_id, version_id) e) r;
-- cluster: differs (Citus cannot send row() values between nodes)
SELECT (SELECT array_agg(row(user_id + 100, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits) ORDER BY user_id, version_id)
          FROM presence_tracking.artifact_version_stats WHERE user_id BETWEEN 101 AND 103)
     = (SELECT array_agg(row(user_id, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits) ORDER BY user_id, version_id)
          FROM presence_tracking.artifact_version_stats WHERE user_id BETWEEN 201 AND 203) AS aggregate_equal,
       (SELECT array_agg(row(user_id + 100, version_id, viewed_at) ORDER BY user_id, viewed_at, version_id)
          FROM presence_tracking.artifact_views WHERE user_id BETWEEN 101 AND 103)
     = (SELECT array_agg(row(user_id, version_id, viewed_at) ORDER BY user_id, viewed_at, version_id)
          FROM presence_tracking.artifact_views WHERE user_id BETWEEN 201 AND 203) AS ledger_equal,
       (SELECT array_agg(row(user_id + 100, version_id, day, views) ORDER BY user_id, version_id, day)
          FROM presence_tracking.artifact_view_days WHERE user_id BETWEEN 101 AND 103)
     = (SELECT array_agg(row(user_id, version_id, day, views) ORDER BY user_id, version_id, day)
          FROM presence_tracking.artifact_view_days WHERE user_id BETWEEN 201 AND 203) AS days_equal,
       (SELECT array_agg(row(user_id + 100, last_viewed_at) ORDER BY user_id)
          FROM presence_tracking.artifact_access WHERE user_id BETWEEN 101 AND 103)
     = (SELECT array_agg(row(user_id, last_viewed_at) ORDER BY user_id)
          FROM presence_tracking.artifact_access WHERE user_id BETWEEN 201 AND 203) AS access_equal;
-- cluster: end
-- Events that continue the stored session of their pair add to its calls,
-- as record_view does.
-- cluster: differs (a writer called in a statement that reads a distributed table runs on the node of the shard: README)
SELECT * FROM presence_tracking.import_views(ARRAY[101, 101], ARRAY[7, 7], ARRAY[70, 70],
    ARRAY[(SELECT last_viewed_at + interval '10 min' FROM presence_tracking.artifact_version_stats WHERE user_id = 101 AND version_id = 70),
          (SELECT last_viewed_at + interval '20 min' FROM presence_tracking.artifact_version_stats WHERE user_id = 101 AND version_id = 70)]);
SELECT presence_tracking.record_view(201, 7, 70, last_viewed_at + interval '10 min') AS opened FROM presence_tracking.artifact_version_stats WHERE user_id = 201 AND version_id = 70;
SELECT presence_tracking.record_view(201, 7, 70, last_viewed_at + interval '10 min') AS opened FROM presence_tracking.artifact_version_stats WHERE user_id = 201 AND version_id = 70;
SELECT user_id, view_count, session_hits, last_viewed_at FROM presence_tracking.artifact_version_stats
 WHERE user_id IN (101, 201) AND version_id = 70 ORDER BY 1;
-- cluster: end
-- Again: every event is older than its pair's last view, or equal to it
-- (inside that session).  Events of an artifact tracked 'off' are skipped.
SELECT presence_tracking.set_tracking(3, 'off');
SELECT * FROM presence_tracking.import_views(
    ARRAY[101, 101, 102, 5], ARRAY[7, 7, 7, 3], ARRAY[70, 71, 70, 30],
    ARRAY['2026-03-01 08:00+00', '2026-03-01 14:53+00', '2026-03-01 08:00+00', '2026-03-01 08:00+00']::timestamptz[]);
SELECT presence_tracking.set_tracking(3, 'full');
SELECT * FROM presence_tracking.check_consistency();
-- Bad input changes nothing.
SELECT * FROM presence_tracking.import_views(ARRAY[1], ARRAY[7, 7], ARRAY[70], ARRAY[now()]);
SELECT * FROM presence_tracking.import_views(ARRAY[1], ARRAY[7], ARRAY[NULL::bigint], ARRAY[now()]);
SELECT * FROM presence_tracking.import_views(ARRAY[1], ARRAY[7], ARRAY[70], ARRAY['2999-01-01 00:00+00'::timestamptz]);
SELECT * FROM presence_tracking.import_views(ARRAY[300, 301], ARRAY[7, 8], ARRAY[70, 70],
                                             ARRAY['2026-03-01', '2026-03-02']::timestamptz[]);
SELECT count(*) AS rows_of_user_300 FROM presence_tracking.artifact_version_stats WHERE user_id = 300;
SET ROLE regress_app;
SELECT * FROM presence_tracking.import_views(ARRAY[1], ARRAY[7], ARRAY[70], ARRAY[now()]);
RESET ROLE;

DROP TABLE events;
DROP EXTENSION presence_tracking;
DROP ROLE regress_app, regress_analyst;
