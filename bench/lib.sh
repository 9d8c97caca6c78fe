# Shared by bench/run.sh and bench/profile.sh: a throwaway server loaded with
# the benchmark data, and helpers to run psql and pgbench against it.
# Expects BENCH_HERE (the bench directory) to be set by the caller.

ROOT=$(git -C "$BENCH_HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$BENCH_HERE/.." && pwd))
BASELINE=${BENCH_BASELINE:-$BENCH_HERE/handwritten.sql}
BENCH_PORT=${BENCH_PORT:-54400}
BENCH_DIR=${BENCH_DIR:-/tmp/presence_tracking_bench}
DATADIR=$BENCH_DIR/data
SOCK=$BENCH_DIR            # server_start puts the socket next to the data dir
LOGS=$BENCH_DIR/pgbench    # pgbench per-transaction logs
CLIENTS=${BENCH_CLIENTS:-8}
THREADS=${BENCH_THREADS:-2}

# shellcheck source=../scripts/server.sh
source "$ROOT/scripts/server.sh"
export PATH="$PG_BIN:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

q() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$BENCH_PORT" -U postgres -d "${BENCH_DB:-bench}" "$@"; }

bench_preflight() {
  [ -f "$BASELINE" ] || die "hand-written baseline not found at $BASELINE (bench/handwritten.sql in the repository, or the path in BENCH_BASELINE)"
  command -v pgbench >/dev/null || die "pgbench not found in $PG_BIN"
  [ -f "$(pg_config --sharedir)/extension/presence_tracking.control" ] \
    || die "presence_tracking is not installed: run 'make install' first"
  [ -f "$(pg_config --pkglibdir)/pg_cron.so" ] || die "pg_cron is not installed (postgresql-15-cron)"
}

# A fresh cluster in $DATADIR: tuned so that no checkpoint lands inside a run
# (each run starts with an explicit CHECKPOINT instead).
bench_server_start() {
  bench_server_stop
  rm -rf "$BENCH_DIR"
  mkdir -p "$LOGS"
  server_start "$DATADIR" "$BENCH_PORT" \
    "cron.database_name = 'postgres'" \
    "shared_buffers = '1GB'" \
    "max_wal_size = '8GB'" \
    "checkpoint_timeout = '30min'" \
    "max_connections = 50" \
    "log_min_messages = warning"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$BENCH_DIR"
  q -d postgres -c 'CREATE DATABASE bench'
}

bench_server_stop() {
  server_stop "$DATADIR" 2>/dev/null || true
}

# The extension (bigint keys; VERSION: an earlier release), the hand-written
# baseline, the data.
bench_load() {
  q -c "CREATE EXTENSION presence_tracking${1:+ VERSION '$1'}" 2>&1 | grep -v '^$' >&2 || true
  q -c "SELECT 1 FROM pg_extension WHERE extname = 'presence_tracking'" | grep -q 1 \
    || die "CREATE EXTENSION presence_tracking failed"
  q -f "$BASELINE" >/dev/null || die "loading $BASELINE failed"
  q -f "$BENCH_HERE/sql/load.sql"
}

# pgbench NAME SCRIPT [pgbench options...]: one run, 8 clients, prepared
# statements, unix socket, after a CHECKPOINT (BENCH_CHECKPOINT=off: none).
# Prints "tps latency_avg_ms" and keeps the full output in $LOGS/NAME.out.
# PGOPTIONS in the environment reaches the server; BENCH_DB picks the
# database (bench).
pgb() {
  local name=$1 script=$2; shift 2
  local out=$LOGS/$name.out
  [ "${BENCH_CHECKPOINT:-on}" = off ] || q -c CHECKPOINT
  if ! pgbench -n -M prepared -h "$SOCK" -p "$BENCH_PORT" -U postgres \
       -f "$BENCH_HERE/pgbench/$script" "$@" "${BENCH_DB:-bench}" >"$out" 2>&1; then
    cat "$out" >&2
    die "pgbench $name failed"
  fi
  if grep -q 'number of failed transactions: [1-9]' "$out"; then
    cat "$out" >&2
    die "pgbench $name had failed transactions"
  fi
  awk '/^tps = .*without initial/ {tps=$3} /^latency average/ {lat=$4}
       END {if (tps == "") exit 1; print tps, lat}' "$out"
}
