#!/usr/bin/env bash
# make stop: stop the server started by make run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/server.sh
datadir=${PT_DATA:-/var/tmp/presence_tracking/data}
server_stop "$datadir"
echo "stopped the server in $datadir"
