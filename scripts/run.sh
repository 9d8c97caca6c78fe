#!/usr/bin/env bash
# make run: install what is missing, build, install, start a local server with
# pg_cron preloaded, create the extension, play a short demo, say how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh
build_and_install

datadir=${PT_DATA:-/var/tmp/presence_tracking/data}
port=${PT_PORT:-5499}
sockdir=$(dirname "$datadir")
server_start "$datadir" "$port" "cron.database_name = 'presence_demo'" \
  "shared_preload_libraries = 'pg_cron,presence_tracking'"
# shared_preload_libraries: the last line wins, so the extension's settings
# exist in every session (SHOW, ALTER SYSTEM) before its first call.

psql_demo() { as_owner psql -X -q -h "$sockdir" -p "$port" -U postgres "$@"; }
if [ "$(psql_demo -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = 'presence_demo'")" = 0 ]; then
  psql_demo -d postgres -c 'CREATE DATABASE presence_demo'
fi
psql_demo -d presence_demo <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS presence_tracking;
-- A demo database left by an older release is brought up to the installed one.
SET client_min_messages = warning;
ALTER EXTENSION presence_tracking UPDATE;
RESET client_min_messages;
\echo
\echo '== Installed version'
SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking';
\echo
\echo '== The purge job on pg_cron'
SELECT jobname, schedule, command FROM cron.job WHERE jobname = 'presence_tracking_purge';

\echo '== Three users open artifact 42: heartbeat() returns true on a join'
SELECT presence_tracking.heartbeat(1, 42, 2) AS alice_joined,
       presence_tracking.heartbeat(2, 42, 2) AS bob_joined,
       presence_tracking.heartbeat(3, 42, 1) AS carol_joined;
SELECT presence_tracking.heartbeat(1, 42, 2) AS alice_beats_again;
\echo '== The face pile of artifact 42, and of its version 2'
SELECT * FROM presence_tracking.active_viewers(42);
SELECT * FROM presence_tracking.active_viewers(42, 2);

\echo '== Carol closes her tab; with the TTL shortened to 3 s for the demo she drops out'
SET presence_tracking.heartbeat_interval = '1s';
SET presence_tracking.ttl = '3s';
SELECT pg_sleep(2);
SELECT presence_tracking.heartbeat(1, 42, 2), presence_tracking.heartbeat(2, 42, 2);
SELECT pg_sleep(1.5);
SELECT user_id, version_id FROM presence_tracking.active_viewers(42);
RESET presence_tracking.ttl;
RESET presence_tracking.heartbeat_interval;

\echo '== View tracking: 9:00, 9:45 and 10:30 make one viewing session (1 h debounce)'
SELECT presence_tracking.record_view(1, 42, 2, current_date + time '09:00') AS "9:00",
       presence_tracking.record_view(1, 42, 2, current_date + time '09:45') AS "9:45",
       presence_tracking.record_view(1, 42, 2, current_date + time '10:30') AS "10:30",
       presence_tracking.record_view(1, 42, 2, current_date + time '11:30') AS "11:30";
SELECT * FROM presence_tracking.version_viewers(2);
SELECT * FROM presence_tracking.artifact_stats(42);
SQL

cat <<EOF

presence_tracking is running: PostgreSQL 15 on port $port, database presence_demo.
  connect:  psql -h $sockdir -p $port -U postgres presence_demo
            (or: psql "host=127.0.0.1 port=$port user=postgres dbname=presence_demo")
  stop:     make stop        data directory: $datadir
EOF
