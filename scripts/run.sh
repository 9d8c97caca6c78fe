#!/usr/bin/env bash
# make run: install what is missing, build, install, start a local server with
# pg_cron preloaded (PT_DATA: its data directory; PT_PORT: its port, also for a
# server that exists), play the demo of scripts/demo.sql in a fresh database,
# say how to connect.  Exits non-zero when any demo statement fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh
build_and_install

default_datadir=/var/tmp/presence_tracking/data
datadir=${PT_DATA:-$default_datadir}
port=${PT_PORT:-5499}
sockdir=$(dirname "$datadir")
server_start "$datadir" "$port" "cron.database_name = 'presence_demo'" \
  "shared_preload_libraries = 'pg_cron,presence_tracking'"
# shared_preload_libraries: the last line wins, so the extension's settings
# exist in every session (SHOW, ALTER SYSTEM) before its first call.

psql_demo() { as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U postgres "$@"; }

# The demo plays in a fresh database presence_demo on every run: it shows
# first joins and first views again, and nothing a previous run (or a
# visitor) left there can change the story; keep your own data in another
# database.  pg_cron serves presence_demo (cron.database_name above), so it
# is created again there, before presence_tracking, which schedules its purge
# job through it.  WITH (FORCE) ends the sessions still connected to the old
# database, pg_cron's among them (it reconnects by itself).
psql_demo -d postgres <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS presence_demo WITH (FORCE);
CREATE DATABASE presence_demo;
SQL
psql_demo -d presence_demo -c 'CREATE EXTENSION pg_cron'
# Through stdin, so that the server's user need not be able to read the clone.
psql_demo -d presence_demo < scripts/demo.sql

stop_hint="make stop"
[ "$datadir" != "$default_datadir" ] && stop_hint="PT_DATA=$datadir make stop"
cat <<EOF

presence_tracking is running: PostgreSQL 15 on port $port, database presence_demo
(created again by every make run).
  connect:  psql -h $sockdir -p $port -U postgres presence_demo
            (or: psql "host=127.0.0.1 port=$port user=postgres dbname=presence_demo")
  stop:     $stop_hint        data directory: $datadir
EOF
