#!/usr/bin/env bash
# make valgrind: the regression and isolation suites against a server running
# under Valgrind Memcheck.  Debian's PostgreSQL is not built with
# USE_VALGRIND, so Memcheck cannot see palloc chunks and reports some noise
# in the server itself (uninitialised padding written to disk and the like);
# the verdict is about the extension: any error whose stack passes through
# presence_tracking.so fails the run.  All errors are counted and kept.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

bash scripts/install-deps.sh
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh
build_and_install

work=$(mktemp -d /tmp/presence_tracking_valgrind.XXXXXX)
cp -a "$src/." "$work/src"
mkdir -p "$work/vg"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
datadir=$work/pg/data
port=${PT_VALGRIND_PORT:-54339}
mkdir -p "$work/pg"; [ "$(id -u)" -eq 0 ] && chown postgres: "$work/pg"
as_owner initdb -D "$datadir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat <<CONF | as_owner tee -a "$datadir/postgresql.conf" >/dev/null
port = $port
listen_addresses = ''
unix_socket_directories = '$work/pg'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
autovacuum = off
CONF

as_owner valgrind --quiet --trace-children=yes --leak-check=no --track-origins=no \
  --read-var-info=no --num-callers=30 --error-limit=no \
  --log-file="$work/vg/%p.log" postgres -D "$datadir" > "$work/pg/server.log" 2>&1 &
trap 'as_owner pg_ctl -D "$datadir" -m fast -w -t 300 stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 120); do
  as_owner pg_isready -q -h "$work/pg" -p "$port" && break
  sleep 1
done

start=$(date +%s)
status=0
for target in installcheck-regress installcheck-isolation; do
  as_owner env PGHOST="$work/pg" PGPORT="$port" PGUSER=postgres \
    make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" "$target" || status=1
done
as_owner pg_ctl -D "$datadir" -m fast -w -t 300 stop >/dev/null || true
trap - EXIT
seconds=$(( $(date +%s) - start ))

# Each error block in the logs starts at a line "==PID== <description>" and
# runs to the next blank "==PID== " line.
total=$(cat "$work"/vg/*.log | grep -c -E '^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|Source and destination)' || true)
ours=$(awk '/^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|Source and destination)/ {inblock=1; hit=0; next}
            inblock && /presence_tracking\.so/ {hit=1}
            inblock && /^==[0-9]+== $/ {if (hit) n++; inblock=0}
            END {print n + 0}' "$work"/vg/*.log)
echo "valgrind: suites took ${seconds}s under Memcheck; $total error reports in all, $ours through presence_tracking.so (logs: $work/vg)"
[ "$status" -eq 0 ] || { echo "valgrind: a suite failed under Valgrind"; exit 1; }
[ "$ours" -eq 0 ]
