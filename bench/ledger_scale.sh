#!/usr/bin/env bash
# Does record_view cost the same with an empty ledger and with a big one?
# Own throwaway server (port 54402) with two copies of the data of run.sh:
#   bench      the ledger emptied;
#   bench_big  BENCH_LEDGER_ROWS ledger rows (default 50M), user ids spread
#              over the range the new users are drawn from, so that new
#              sessions insert all over the primary key, and times spread
#              over the last two years: 25 monthly partitions (release 1.4),
#              the current one holding its share.
# Stats and access rows are the same in both: 90% of the calls are
# same-session touches, 10% brand-new users whose first view inserts a ledger
# row.  After one CHECKPOINT and a warm-up of each database
# (BENCH_LEDGER_WARMUP, 60 s), BENCH_ROUNDS rounds alternate the two
# (synchronous_commit off) with no checkpoint in between, and the WAL each
# run writes is counted (pg_stat_wal): after a checkpoint, the first change
# of a page writes the whole page to the WAL, and the new sessions of a big
# ledger change a different leaf page of its key almost every time.
# Writes bench/results/ledger_scale.md (run.sh appends it to its results).
set -euo pipefail
BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${LEDGER_PORT:-54402}
BENCH_DIR=${LEDGER_DIR:-/tmp/presence_tracking_ledger}
# shellcheck source=lib.sh
source "$BENCH_HERE/lib.sh"
SECS=${BENCH_SECONDS:-20}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_LEDGER_WARMUP:-60}
ROWS=${BENCH_LEDGER_ROWS:-50000000}
NEW_PCT=${BENCH_NEW_PCT:-10}
OUT=$BENCH_HERE/results/ledger_scale.md

bench_preflight
mkdir -p "$BENCH_HERE/results"
trap 'bench_server_stop; rm -rf "$DATADIR"' EXIT
log "ledger scale: server on port $BENCH_PORT"
bench_server_start
bench_load 2>/dev/null
q -c 'TRUNCATE presence_tracking.artifact_views'
q -d postgres -c 'CREATE DATABASE bench_big TEMPLATE bench'
log "adding $ROWS ledger rows to bench_big"
load0=$(date +%s)
# A partition for each month first: one row per month, moved out of the
# default partition by the scheduled job's maintenance.
BENCH_DB=bench_big q -c "INSERT INTO presence_tracking.artifact_views (user_id, artifact_id, version_id, viewed_at)
      SELECT 1, 1, 20, now() - m * interval '1 month' FROM generate_series(1, 24) m;
    SELECT presence_tracking.maintain_views();" >/dev/null
BENCH_DB=bench_big q -c "INSERT INTO presence_tracking.artifact_views (user_id, artifact_id, version_id, viewed_at)
      SELECT 100001 + g * (2000000000 / $ROWS), g % 2000 + 1, (g % 2000 + 1) * 10,
             now() - interval '730 days' + g * (interval '730 days' / $ROWS)
        FROM generate_series(1, $ROWS) g"
for db in bench bench_big; do BENCH_DB=$db q -c 'VACUUM ANALYZE'; done
LOAD_SECS=$(($(date +%s) - load0))
PARTITIONS=$(BENCH_DB=bench_big q -c "SELECT count(*) FROM presence_tracking.ledger_partitions()")
log "loaded in $LOAD_SECS s (insert and VACUUM ANALYZE), $PARTITIONS monthly partitions"
q -c CHECKPOINT

wal() { q -F ' ' -c 'SELECT wal_fpi, wal_bytes FROM pg_stat_wal'; }
run() { # database seconds label: one run of the extension's record_view, sync off
  local tps fpi0 bytes0 fpi1 bytes1
  read -r fpi0 bytes0 < <(wal)
  read -r tps _ < <(BENCH_DB=$1 BENCH_CHECKPOINT=off PGOPTIONS='-c synchronous_commit=off' \
    pgb "ledger_$3" rv_ext.sql -c "$CLIENTS" -j "$THREADS" -T "$2" -D new_pct="$NEW_PCT")
  read -r fpi1 bytes1 < <(wal)
  # tps, and full-page images and WAL bytes per call
  awk -v t="$tps" -v s="$2" -v f=$((fpi1 - fpi0)) -v b=$((bytes1 - bytes0)) \
    'BEGIN {printf "%.0f/%.3f/%.0f\n", t, f / (t * s), b / (t * s)}'
}
# Rows and size of the ledger, over its partitions (1.4 partitions it).
ledger() { BENCH_DB=$1 q -F ' ' -c "SELECT (SELECT count(*) FROM presence_tracking.artifact_views),
    (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('presence_tracking.artifact_views'))"; }

declare -A TPS FPI WAL BEFORE
for db in bench bench_big; do
  BEFORE[$db]=$(ledger $db)
  if [ "$WARMUP" -gt 0 ]; then
    log "warm-up $db: $(run $db "$WARMUP" "${db}_warmup") (tps/FPI per call/WAL bytes per call)"
  fi
done
for ((r = 1; r <= ROUNDS; r++)); do
  order="bench bench_big"; ((r % 2)) || order="bench_big bench"
  for db in $order; do
    IFS=/ read -r tps fpi walb < <(run $db "$SECS" "${db}_$r")
    TPS[$db]+="$tps "; FPI[$db]+="$fpi "; WAL[$db]+="$walb "
    log "round $r/$ROUNDS $db: $tps tps, $fpi full-page images and $walb WAL bytes per call"
  done
done

mb() { awk -v b="$1" 'BEGIN {printf "%.0f MB", b / 1048576}'; }
line() { # label database
  local rows0 rows1 bytes1
  read -r rows0 _ <<<"${BEFORE[$2]}"
  read -r rows1 bytes1 < <(ledger "$2")
  # shellcheck disable=SC2086
  echo "| $1 | $rows0 -> $rows1 | $(mb "$bytes1") | $(echo ${TPS[$2]} | sed 's/ /, /g') | $(median ${TPS[$2]}) | $(median ${FPI[$2]}) | $(median ${WAL[$2]}) |"
}
# shellcheck disable=SC2086
m_empty=$(median ${TPS[bench]})
# shellcheck disable=SC2086
m_big=$(median ${TPS[bench_big]})
{
  echo "## record_view with an empty ledger and with $(printf "%'d" "$ROWS") rows"
  echo
  echo "\`bench/ledger_scale.sh\`, $(date -u '+%Y-%m-%d %H:%M UTC'): the extension's record_view, synchronous_commit off, $CLIENTS clients, $ROUNDS rounds of ${SECS} s alternating two databases that differ only in the ledger, after one CHECKPOINT and a ${WARMUP} s warm-up of each; $NEW_PCT% brand-new users (each inserts a ledger row)."
  echo
  echo "| ledger | rows (before -> after the runs) | size after | tps per round | median tps | full-page images per call | WAL bytes per call |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  line empty bench
  line big bench_big
  echo
  echo "Median with the big ledger / median with the empty one: $(awk -v a="$m_big" -v b="$m_empty" 'BEGIN {printf "%.2fx", a / b}'). Loading the big ledger ($PARTITIONS monthly partitions) took $LOAD_SECS s (one INSERT ... SELECT and VACUUM ANALYZE on this machine)."
} >"$OUT"
cat "$OUT"
