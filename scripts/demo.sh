#!/usr/bin/env bash
# make demo: the face pile example (examples/face-pile) against the server of
# make run, started first when it is not up (PT_DATA, PT_PORT as make run
# takes them), in a fresh database face_pile_demo.  Serves the page on
# http://127.0.0.1:8080 (PT_WEB_PORT, PT_WEB_HOST to change) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh

datadir=${PT_DATA:-/var/tmp/presence_tracking/data}
port=${PT_PORT:-5499}
sockdir=$(dirname "$datadir")
web_host=${PT_WEB_HOST:-127.0.0.1}
web_port=${PT_WEB_PORT:-8080}

# make run builds, installs and starts the server, or moves it to PT_PORT.
running_port=""
server_running "$datadir" && running_port=$(as_owner sed -n 4p "$datadir/postmaster.pid")
if [ "$running_port" != "$port" ]; then
  bash scripts/run.sh
fi

bash scripts/install-browser-deps.sh --no-browser

psql_demo() { as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U postgres "$@"; }

# A fresh database on every run, so that the page starts with nobody there
# (WITH (FORCE): the extension's sweeper is connected to the old one).
# Text keys: any id in the URL works.  Linus viewed both versions before,
# so a newcomer sees v1 unread and the matrix is not empty.
psql_demo -d postgres <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS face_pile_demo WITH (FORCE);
CREATE DATABASE face_pile_demo;
SQL
# client_min_messages = error: pg_cron serves presence_demo, so CREATE
# EXTENSION warns that it schedules no purge job here; a database that lives
# for one demo needs none.
psql_demo -d face_pile_demo -o /dev/null <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION presence_tracking_text;
SELECT presence_tracking.record_view('linus', 'design-doc', 'v1');
SELECT presence_tracking.record_view('linus', 'design-doc', 'v2');
SQL

# The demo's web server connects as the postgres superuser, over the
# server's socket.  An application of yours would connect as a role granted
# presence_tracking_writer and presence_tracking_reader (README).
PGHOST=$sockdir PGPORT=$port PGUSER=postgres PGDATABASE=face_pile_demo \
  PORT=$web_port HOST=$web_host node examples/face-pile/server.js &
web_pid=$!
# Ctrl-C stops the web server; make stop stops it too (its pid file), and
# the database server.
pidfile=$sockdir/face-pile.pid
echo "$web_pid" >"$pidfile"
trap 'kill "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true; rm -f "$pidfile"' EXIT
trap 'exit 0' INT TERM

# Wait until it accepts connections, or say why it did not start.
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/$web_host/$web_port") 2>/dev/null && break
  kill -0 "$web_pid" 2>/dev/null || { echo "face-pile: the web server did not start (port $web_port taken? PT_WEB_PORT chooses another)" >&2; exit 1; }
  sleep 0.1
done

url="http://$web_host:$web_port"
cat <<EOF

The face pile is live at $url/ (database face_pile_demo on port $port).
Open these two in two browser windows, side by side, and type in one:
  $url/?user=ada&artifact=design-doc&version=v2
  $url/?user=grace&artifact=design-doc&version=v2
Ctrl-C stops the web server; make stop stops PostgreSQL.
EOF
wait "$web_pid"
