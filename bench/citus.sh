#!/usr/bin/env bash
# make bench-citus: record_view and heartbeat on a local Citus cluster (a
# coordinator and two workers on this machine) against one ordinary server
# on the same machine, same pgbench scripts as make bench (bench/pgbench),
# in alternating rounds; prints the median tps of each and their ratio.
# Needs Citus installed (scripts/install-citus.sh, or Citus's packages).
# About 4 minutes.  BENCH_SECONDS (default 15) per run, BENCH_ROUNDS (3);
# BENCH_KEEP=1 leaves the servers running (in BENCH_DIR) for a look.
set -euo pipefail
BENCH_HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/presence_tracking_citus_bench}
source "$BENCH_HERE/lib.sh"
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-3}

[ -f "$(pg_config --pkglibdir)/citus.so" ] || die "Citus is not installed (scripts/install-citus.sh builds it from a source tarball)"
bench_preflight

ports=(54410 54411 54412 54413)          # single, coordinator, worker, worker
names=(single coordinator worker1 worker2)
stop_all() { for n in "${names[@]}"; do server_stop "$BENCH_DIR/$n" 2>/dev/null || true; done; }
[ -n "${BENCH_KEEP:-}" ] || trap stop_all EXIT
stop_all
rm -rf "$BENCH_DIR"; mkdir -p "$BENCH_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$BENCH_DIR"
for i in 0 1 2 3; do
  preload="citus,pg_cron,presence_tracking"
  [ "$i" -eq 0 ] && preload="pg_cron,presence_tracking"
  server_start "$BENCH_DIR/${names[$i]}" "${ports[$i]}" \
    "shared_preload_libraries = '$preload'" "cron.database_name = 'postgres'" \
    "shared_buffers = '256MB'" "max_connections = 100" "log_min_messages = warning"
done
on() { local port=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$BENCH_DIR" -p "$port" -U postgres -d postgres "$@"; }
for i in 1 2 3; do on "${ports[$i]}" -c 'CREATE EXTENSION citus'; done
on "${ports[1]}" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${ports[1]})" >/dev/null
for i in 2 3; do on "${ports[1]}" -c "SELECT citus_add_node('127.0.0.1', ${ports[$i]})" >/dev/null; done
for i in 0 1; do on "${ports[$i]}" -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION presence_tracking'; done
on "${ports[1]}" -c 'ALTER ROLE presence_tracking_definer LOGIN' \
  -c 'SELECT count(*) FROM presence_tracking.distribute()' >/dev/null
# Every version the scripts name, known before the runs: the first view of
# a version writes the cluster's version map on every node (README).
for i in 0 1; do
  on "${ports[$i]}" -c 'SELECT count(presence_tracking.record_view(0, a, a * 10)) FROM generate_series(1, 2000) a' >/dev/null
done

run() {  # run PORT SCRIPT: tps
  pgbench -n -h "$BENCH_DIR" -p "$1" -U postgres -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_PER_RUN" \
    -D new_pct=10 -f "$BENCH_HERE/pgbench/$2" postgres 2>/dev/null | awk '/^tps/ {print $3}'
}
printf '| call | one server (tps) | cluster, via the coordinator (tps) | cluster / one server |\n|---|---|---|---|\n'
for script in rv_ext.sql hb_ext.sql; do
  single=(); cluster=()
  for _ in $(seq "$ROUNDS"); do
    single+=("$(run "${ports[0]}" "$script")")
    cluster+=("$(run "${ports[1]}" "$script")")
  done
  s=$(median "${single[@]}"); c=$(median "${cluster[@]}")
  printf '| %s | %s | %s | %sx |\n' "${script%.sql}" "$s" "$c" "$(awk -v a="$c" -v b="$s" 'BEGIN {printf "%.2f", a / b}')"
done
echo "($CLIENTS clients, $SECONDS_PER_RUN s per run, median of $ROUNDS rounds; $(nproc) cores)"
