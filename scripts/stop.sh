#!/usr/bin/env bash
# make stop: stop the server started by make run (PT_DATA: the one in that
# data directory, as make run was given it), and the web server of make demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/server.sh
datadir=${PT_DATA:-/var/tmp/presence_tracking/data}
pidfile=$(dirname "$datadir")/face-pile.pid
if [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null && echo "stopped the face pile web server"
  rm -f "$pidfile"
fi
if server_running "$datadir"; then
  server_stop "$datadir"
  echo "stopped the server in $datadir"
else
  echo "no server runs in $datadir"
fi
