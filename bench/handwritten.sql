-- The hand-written baseline: what a user could write in plain SQL and PL/pgSQL
-- instead of installing presence_tracking.  Schema "handwritten", bigint keys,
-- tables shaped like the extension's, the same rules hard-coded (TTL 150 s,
-- rolling view debounce 1 h).  The benchmark (bench/run.sh) runs it side by
-- side with the extension, and the storm test (test/t/004_storm.pl) runs the
-- naive record_view under concurrency to show that it double-counts.
--
--   heartbeat(user, artifact, version [, at])   PL/pgSQL upsert; true on a join
--   heartbeat_many(users[], artifacts[], versions[] [, at])
--                                               one set-based upsert (unnest)
--   active_viewers(artifact)                    the face pile (SQL, inlined)
--   record_view(user, artifact, version [, at]) the expert version: one
--                                               statement, race-free
--   record_view_naive(...)                      "select, then insert or
--                                               update": double-counts
--
-- Load it into a database of its own or beside the extension:
--   psql -v ON_ERROR_STOP=1 -f bench/handwritten.sql

CREATE SCHEMA handwritten;

-- Presence: one row per (artifact, user, version), the time of the last beat.
-- fillfactor 70 and no index on last_seen_at, so that beats are HOT updates.
CREATE TABLE handwritten.presence (
    user_id      bigint NOT NULL,
    artifact_id  bigint NOT NULL,
    version_id   bigint NOT NULL,
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (artifact_id, user_id, version_id)
) WITH (fillfactor = 70);

-- The same, unlogged (as the extension's presence table is): the floor of the
-- heartbeat benchmark writes here with a bare prepared upsert.
CREATE UNLOGGED TABLE handwritten.presence_unlogged (LIKE handwritten.presence INCLUDING ALL)
    WITH (fillfactor = 70);

-- The ledger: one row per viewing session, append only.  No unique key: a
-- session has no natural one, and the naive record_view below must be able
-- to write its duplicates without failing.
CREATE TABLE handwritten.views (
    user_id     bigint NOT NULL,
    artifact_id bigint NOT NULL,
    version_id  bigint NOT NULL,
    viewed_at   timestamptz NOT NULL
);
CREATE INDEX ON handwritten.views (user_id, version_id, viewed_at);

-- Per (user, version): sessions, the last view, and where the current
-- session started and how many calls it had (1 = the call that opened it).
CREATE TABLE handwritten.stats (
    user_id            bigint NOT NULL,
    version_id         bigint NOT NULL,
    artifact_id        bigint NOT NULL,
    view_count         bigint NOT NULL,
    last_viewed_at     timestamptz NOT NULL,
    session_started_at timestamptz NOT NULL,
    session_hits       bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id, version_id)
) WITH (fillfactor = 80);
CREATE INDEX ON handwritten.stats (version_id);

-- Per (user, artifact): the last view of any of its versions.
CREATE TABLE handwritten.access (
    user_id        bigint NOT NULL,
    artifact_id    bigint NOT NULL,
    last_viewed_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, artifact_id)
) WITH (fillfactor = 80);

-- A beat: true when the user was not present on the artifact (no beat on any
-- of its versions within the TTL) before it.  Two first beats of one user at
-- the same instant may both say "join": nothing here serialises them.
CREATE FUNCTION handwritten.heartbeat(p_user bigint, p_artifact bigint, p_version bigint,
                                      p_at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    joined boolean;
BEGIN
    joined := NOT EXISTS (
        SELECT 1 FROM handwritten.presence
         WHERE artifact_id = p_artifact AND user_id = p_user
           AND last_seen_at > p_at - interval '150 seconds');
    INSERT INTO handwritten.presence AS p (user_id, artifact_id, version_id, last_seen_at)
    VALUES (p_user, p_artifact, p_version, p_at)
    ON CONFLICT (artifact_id, user_id, version_id)
    DO UPDATE SET last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at);
    RETURN joined;
END
$$;

-- Many beats in one statement: element i of the three arrays is one beat.
-- DISTINCT, because ON CONFLICT DO UPDATE cannot change one row twice in a
-- statement; ORDER BY the key, so that concurrent batches lock rows in the
-- same order and wait instead of deadlocking.  Returns the rows written.
CREATE FUNCTION handwritten.heartbeat_many(p_users bigint[], p_artifacts bigint[], p_versions bigint[],
                                           p_at timestamptz DEFAULT now())
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO handwritten.presence AS p (user_id, artifact_id, version_id, last_seen_at)
    SELECT DISTINCT k.u, k.a, k.v, p_at
      FROM unnest(p_users, p_artifacts, p_versions) AS k(u, a, v)
     ORDER BY k.a, k.u, k.v
    ON CONFLICT (artifact_id, user_id, version_id)
    DO UPDATE SET last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The face pile: users seen on the artifact within the TTL.
CREATE FUNCTION handwritten.active_viewers(p_artifact bigint)
RETURNS TABLE (user_id bigint) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT p.user_id FROM handwritten.presence p
     WHERE p.artifact_id = p_artifact AND p.last_seen_at > now() - interval '150 seconds'
$$;

-- record_view, the expert version: one statement.  The stats upsert locks the
-- (user, version) row and decides on its latest version, so concurrent calls
-- serialise there and exactly one of them opens a session (rolling window:
-- a new session when at - last_viewed_at >= 1 h; every call moves
-- last_viewed_at forward, never back).  session_hits = 1 after the upsert
-- means this call opened the session; only then does the ledger get a row.
CREATE FUNCTION handwritten.record_view(p_user bigint, p_artifact bigint, p_version bigint,
                                       p_at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    new_session boolean;
BEGIN
    WITH st AS (
        INSERT INTO handwritten.stats AS s
               (user_id, version_id, artifact_id, view_count, last_viewed_at, session_started_at, session_hits)
        VALUES (p_user, p_version, p_artifact, 1, p_at, p_at, 1)
        ON CONFLICT (user_id, version_id) DO UPDATE SET
            view_count = s.view_count
                + CASE WHEN excluded.last_viewed_at - s.last_viewed_at >= interval '1 hour' THEN 1 ELSE 0 END,
            session_started_at = CASE WHEN excluded.last_viewed_at - s.last_viewed_at >= interval '1 hour'
                                      THEN excluded.last_viewed_at ELSE s.session_started_at END,
            session_hits = CASE WHEN excluded.last_viewed_at - s.last_viewed_at >= interval '1 hour'
                                THEN 1 ELSE s.session_hits + 1 END,
            last_viewed_at = greatest(s.last_viewed_at, excluded.last_viewed_at)
        RETURNING s.session_hits = 1 AS opened
    ), ledger AS (
        INSERT INTO handwritten.views (user_id, artifact_id, version_id, viewed_at)
        SELECT p_user, p_artifact, p_version, p_at FROM st WHERE st.opened
    ), acc AS (
        INSERT INTO handwritten.access AS x (user_id, artifact_id, last_viewed_at)
        VALUES (p_user, p_artifact, p_at)
        ON CONFLICT (user_id, artifact_id)
        DO UPDATE SET last_viewed_at = greatest(x.last_viewed_at, excluded.last_viewed_at)
    )
    SELECT opened INTO new_session FROM st;
    RETURN new_session;
END
$$;

-- record_view, the naive version a first attempt looks like: read the stats
-- row, decide, then write.  Upserts keep it from failing when two first views
-- meet, but the decision is made on a row read without a lock: two concurrent
-- calls that both read "no session open" both write a ledger row.  The storm
-- test shows the duplicate sessions.
CREATE FUNCTION handwritten.record_view_naive(p_user bigint, p_artifact bigint, p_version bigint,
                                             p_at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    last_view timestamptz;
    new_session boolean;
BEGIN
    SELECT last_viewed_at INTO last_view FROM handwritten.stats
     WHERE user_id = p_user AND version_id = p_version;
    new_session := NOT FOUND OR p_at - last_view >= interval '1 hour';
    IF new_session THEN
        INSERT INTO handwritten.views (user_id, artifact_id, version_id, viewed_at)
        VALUES (p_user, p_artifact, p_version, p_at);
        INSERT INTO handwritten.stats AS s
               (user_id, version_id, artifact_id, view_count, last_viewed_at, session_started_at, session_hits)
        VALUES (p_user, p_version, p_artifact, 1, p_at, p_at, 1)
        ON CONFLICT (user_id, version_id) DO UPDATE SET
            view_count = s.view_count + 1, session_started_at = excluded.session_started_at,
            session_hits = 1, last_viewed_at = greatest(s.last_viewed_at, excluded.last_viewed_at);
    ELSE
        UPDATE handwritten.stats
           SET last_viewed_at = greatest(last_viewed_at, p_at), session_hits = session_hits + 1
         WHERE user_id = p_user AND version_id = p_version;
    END IF;
    INSERT INTO handwritten.access AS x (user_id, artifact_id, last_viewed_at)
    VALUES (p_user, p_artifact, p_at)
    ON CONFLICT (user_id, artifact_id)
    DO UPDATE SET last_viewed_at = greatest(x.last_viewed_at, excluded.last_viewed_at);
    RETURN new_session;
END
$$;
