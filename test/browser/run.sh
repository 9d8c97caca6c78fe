#!/usr/bin/env bash
# The browser suite: the face pile example (examples/face-pile) driven in
# headless Chromium by test/browser/face_pile.test.mjs, against a throwaway
# PostgreSQL 15 server with the library preloaded (its background worker
# announces timeouts) and a short TTL, so that a tab killed without unload
# times out in seconds.  PG_BIN: the server's bin directory (default
# Debian's PostgreSQL 15).  The server and its files are deleted at the end,
# whether the test passed or not.  Exits non-zero when the test fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/install-browser-deps.sh
source scripts/server.sh

work=$(mktemp -d /tmp/presence_tracking_browser.XXXXXX)
datadir=$work/data
cleanup() {
  server_stop "$datadir" || true
  rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on now (the kernel's choice).
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
# heartbeat_interval before ttl: each is checked against the others in force.
server_start "$datadir" "$port" \
  "shared_preload_libraries = 'pg_cron,presence_tracking'" \
  "presence_tracking.heartbeat_interval = '1s'" \
  "presence_tracking.ttl = '4s'"

# The socket directory is the data directory's parent (server_start).
status=0
PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres \
  node --test test/browser/face_pile.test.mjs || status=$?
if [ $status -ne 0 ]; then
  echo "--- tail of the server log"
  tail -40 "$work/server.log" || true
fi
exit $status
