-- One source, three extensions: bigint, uuid and text keys, native in the
-- tables and the signatures.  Only one can be installed in a database.
CREATE EXTENSION presence_tracking_uuid;
-- The fixed times below are imports: a superuser's session accepts them.
SET presence_tracking.max_backdate = -1;
SELECT format_type(atttypid, atttypmod) AS user_id_type
  FROM pg_attribute WHERE attrelid = 'presence_tracking.artifact_views'::regclass AND attname = 'user_id';
SELECT presence_tracking.heartbeat('11111111-1111-1111-1111-111111111111',
                                   'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa',
                                   'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
SELECT user_id, version_id FROM presence_tracking.active_viewers('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
SELECT presence_tracking.record_view('11111111-1111-1111-1111-111111111111',
                                     'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa',
                                     'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', '2026-01-01 09:00+00');
SELECT presence_tracking.has_viewed('11111111-1111-1111-1111-111111111111',
                                    'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
-- A key of another type is refused before anything runs.
SELECT presence_tracking.heartbeat(1, 2, 3);
SELECT presence_tracking.heartbeat('not-a-uuid', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa',
                                   'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
-- A second variant cannot join the first in the same database.
CREATE EXTENSION presence_tracking_text;
DROP EXTENSION presence_tracking_uuid;
DROP SCHEMA presence_tracking;

-- Text keys, as external auth providers issue them; a documented limit.
CREATE EXTENSION presence_tracking_text;
SELECT format_type(atttypid, atttypmod) AS user_id_type
  FROM pg_attribute WHERE attrelid = 'presence_tracking.presence'::regclass AND attname = 'user_id';
SELECT presence_tracking.heartbeat('auth0|5f7c8ec7c33c6c004bbafe82', 'doc-1', 'doc-1@v2');
SELECT user_id, version_id FROM presence_tracking.active_viewers('doc-1');
SELECT presence_tracking.record_view('auth0|5f7c8ec7c33c6c004bbafe82', 'doc-1', 'doc-1@v2', '2026-01-01 09:00+00');
SELECT user_id, view_count FROM presence_tracking.version_viewers('doc-1@v2');
SELECT presence_tracking.heartbeat(repeat('x', 512), 'doc-1', 'doc-1@v2');
SELECT presence_tracking.heartbeat(repeat('x', 513), 'doc-1', 'doc-1@v2');
SELECT presence_tracking.record_view('u', repeat('é', 300), 'v');
SELECT presence_tracking.heartbeat('u', 'doc-1', NULL);
SELECT * FROM presence_tracking.heartbeat_many(ARRAY['u', repeat('x', 513)], '{doc-1, doc-1}', '{v, v}');
SELECT * FROM presence_tracking.heartbeat_many('{u1, u2}', '{doc-2, doc-2}', '{doc-2@v1, doc-2@v1}');
-- Release 1.4 with text keys: engagement, unread, modes, imports, erasure.
SELECT * FROM presence_tracking.import_views('{auth0|a, auth0|a, auth0|b}', '{doc-1, doc-1, doc-1}',
    '{doc-1@v2, doc-1@v2, doc-1@v1}', '{2026-01-02 09:00+00, 2026-01-02 08:00+00, 2026-01-02 09:00+00}');
SELECT * FROM presence_tracking.artifact_engagement('doc-1', '2026-01-01', '2026-01-31');
SELECT * FROM presence_tracking.unread('auth0|b', '{doc-1@v2, doc-1@v1, doc-9@v1}');
SELECT presence_tracking.set_tracking('doc-1', 'unread_only'), presence_tracking.set_tracking('doc-1', 'full');
SELECT * FROM presence_tracking.forget_user('auth0|a') WHERE rows_deleted > 0;
SELECT * FROM presence_tracking.check_consistency();
DROP EXTENSION presence_tracking_text;
DROP SCHEMA presence_tracking;

-- And bigint again, in the same session: plans follow the new key type.
CREATE EXTENSION presence_tracking;
SELECT format_type(atttypid, atttypmod) AS user_id_type
  FROM pg_attribute WHERE attrelid = 'presence_tracking.presence'::regclass AND attname = 'user_id';
SELECT presence_tracking.heartbeat(1, 2, 3);
SELECT presence_tracking.record_view(1, 2, 3, '2026-01-01 09:00+00');
SELECT user_id, version_id FROM presence_tracking.active_viewers(2);
DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
