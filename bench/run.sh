#!/usr/bin/env bash
# make bench: presence_tracking against the hand-written SQL baseline
# (bench/handwritten.sql) on a throwaway PostgreSQL 15 server.
# See bench/README.md.  Writes bench/results/latest.md, bench/results/ratios.svg
# and their committed copies bench/RESULTS.md and bench/ratios.svg.
#
# Knobs (environment):
#   BENCH_SECONDS   length of one pgbench run in the throughput rounds (20;
#                   half of it in the heartbeat, events and batch groups)
#   BENCH_ROUNDS    rounds; each runs every contender once, in rotated order (3;
#                   twice as many in the heartbeat, events and batch groups)
#   BENCH_WARMUP    seconds of warm-up per contender before the rounds (5; 0: none)
#   BENCH_NEW_PCT   share of record_view calls that are a brand-new user (10)
#   BENCH_BEATS     heartbeats of the table-size check (1000000)
#   BENCH_AV_SECONDS     each face-pile latency run (15)
#   BENCH_PURGE_SECONDS  each heartbeat run of the purge phase (20)
#   BENCH_PURGE_RATE     heartbeat rate during the purge phase (default: a quarter of
#                        the measured heartbeat tps)
#   BENCH_RACE_SECONDS   each record_view contention run (5)
#   BENCH_TIMEOUTS       sessions timing out at once in the timeout phase (100000)
#   BENCH_LEDGER_ROWS    ledger rows of the ledger-size check (10000000), which
#                        bench/ledger_scale.sh runs at the end on its own server
#   BENCH_CLIENTS, BENCH_THREADS (8, 2), BENCH_PORT (54400), BENCH_DIR
#   (/tmp/presence_tracking_bench), BENCH_BASELINE (another baseline
#   than bench/handwritten.sql)
set -euo pipefail
BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$BENCH_HERE/lib.sh"

SECS=${BENCH_SECONDS:-20}
# The release record_view is compared with (same library, older SQL objects).
PREV_VERSION=${BENCH_PREV_VERSION:-1.3}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-5}
NEW_PCT=${BENCH_NEW_PCT:-10}
BEATS=${BENCH_BEATS:-1000000}
AV_SECS=${BENCH_AV_SECONDS:-15}
PURGE_SECS=${BENCH_PURGE_SECONDS:-20}
RACE_SECS=${BENCH_RACE_SECONDS:-5}
TIMEOUTS=${BENCH_TIMEOUTS:-100000}
RESULTS=$BENCH_HERE/results
COMMON=(-c "$CLIENTS" -j "$THREADS")

bench_preflight
mkdir -p "$RESULTS"
lib=$(pg_config --pkglibdir)/presence_tracking.so
lib_md5_start=$(md5sum "$lib" | cut -c1-12)
started=$(date +%s)
trap 'bench_server_stop; rm -rf "$DATADIR"' EXIT

log "server on port $BENCH_PORT, data in $DATADIR"
bench_server_start
log "loading: extension, baseline, 1M-row ledgers, 50k present users"
t0=$(date +%s.%N)
bench_load
log "loaded in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"

declare -A TPS LAT
# Median over the rounds of the ratio of two contenders' tps in the same round.
paired() { median $(paste -d ' ' <(printf '%s\n' ${TPS[$1]}) <(printf '%s\n' ${TPS[$2]}) | awk '{printf "%.3f\n", $1 / $2}') | awk '{printf "%.2f", $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
met() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t) ? "yes" : "no"}'; }

# contender id -> pgbench script, PGOPTIONS and database (default bench)
declare -A SCRIPT OPTS DBS
SCRIPT[hb_ext]=hb_ext.sql
SCRIPT[hb_raw_unlogged]=hb_raw_unlogged.sql
SCRIPT[hb_hw_logged]=hb_hw_logged.sql
# Events on and off (presence_tracking.notify): a plain beat must cost the
# same.  Their own group, so that the two alternate run after run.
SCRIPT[hb_notify_on]=hb_ext.sql
SCRIPT[hb_notify_off]=hb_ext.sql;     OPTS[hb_notify_off]="-c presence_tracking.notify=off"
SCRIPT[hb_many_ext]=hb_many_ext.sql
SCRIPT[hb_many_raw_unlogged]=hb_many_raw_unlogged.sql
for s in on off; do
  for c in ext hw floor; do
    SCRIPT[rv_${c}_$s]=rv_$c.sql
    OPTS[rv_${c}_$s]="-c synchronous_commit=$s"
  done
done
# The in-place write path against the SQL path alone (the developer setting
# presence_tracking.force_sql_path), per workload; record_view on open
# sessions only, synchronous_commit off, so that the write path dominates.
SQL_PATH="-c presence_tracking.force_sql_path=on"
SCRIPT[hb_inplace]=hb_ext.sql
SCRIPT[hb_sql]=hb_ext.sql;            OPTS[hb_sql]=$SQL_PATH
SCRIPT[hb_many_inplace]=hb_many_ext.sql
SCRIPT[hb_many_sql]=hb_many_ext.sql;  OPTS[hb_many_sql]=$SQL_PATH
SCRIPT[rv_same]=rv_same_ext.sql;      OPTS[rv_same]="-c synchronous_commit=off"
SCRIPT[rv_same_sql]=rv_same_ext.sql;  OPTS[rv_same_sql]="-c synchronous_commit=off $SQL_PATH"
# Release 1.4 against the previous one (the same library serves a database
# whose extension is at 1.3, with its three-tier record_view), and with
# opted-out artifacts elsewhere (artifact_tracking not empty).
SCRIPT[rv_prev_off]=rv_ext.sql;       OPTS[rv_prev_off]="-c synchronous_commit=off"; DBS[rv_prev_off]=bench_prev
SCRIPT[rv_optout_off]=rv_ext.sql;     OPTS[rv_optout_off]="-c synchronous_commit=off"; DBS[rv_optout_off]=bench_optout

# The heartbeat groups compare contenders whose ratios have goals close to
# 1.0 (events on / off run the same code): twice the rounds of half the
# length, so that the load of a shared machine, which comes and goes, falls
# on both sides of each ratio alike.
declare -A ROUNDS_OF SECS_OF
for g in heartbeat events batch; do
  ROUNDS_OF[$g]=$((ROUNDS * 2)); SECS_OF[$g]=$(((SECS + 1) / 2))
done

# rounds GROUP_NAME CONTENDER...: warm-up, then BENCH_ROUNDS rounds (or the
# group's ROUNDS_OF), each running every contender once for SECS (or the
# group's SECS_OF); the order rotates from round to round.
rounds() {
  local group=$1; shift
  local ids=("$@") n=$# r i id res
  local nrounds=${ROUNDS_OF[$group]:-$ROUNDS} secs=${SECS_OF[$group]:-$SECS}
  if [ "$WARMUP" -gt 0 ]; then
    for id in "${ids[@]}"; do
      BENCH_DB="${DBS[$id]:-bench}" PGOPTIONS="${OPTS[$id]:-}" pgb "warmup_$id" "${SCRIPT[$id]}" "${COMMON[@]}" -T "$WARMUP" -D new_pct="$NEW_PCT" >/dev/null
    done
  fi
  for ((r = 0; r < nrounds; r++)); do
    for ((i = 0; i < n; i++)); do
      id=${ids[$(((i + r) % n))]}
      res=$(BENCH_DB="${DBS[$id]:-bench}" PGOPTIONS="${OPTS[$id]:-}" pgb "${id}_r$r" "${SCRIPT[$id]}" "${COMMON[@]}" -T "$secs" -D new_pct="$NEW_PCT")
      TPS[$id]="${TPS[$id]:-} ${res% *}"
      LAT[$id]="${LAT[$id]:-} ${res#* }"
      log "$group round $((r + 1))/$nrounds  $id: ${res% *} tps, ${res#* } ms"
    done
  done
}

# Latency percentiles (ms) from pgbench per-transaction logs: prints
# "n avg p50 p99 max" over the transactions that ended between FROM and TO
# seconds (TO empty: the end) after the first transaction of the run ended.
lat_stats() {
  local from=$1 to=$2; shift 2
  cat "$@" | awk '{printf "%d.%06d %d\n", $5, $6, $3}' | sort -n |
    awk -v from="$from" -v to="$to" 'NR == 1 {t0 = $1} {r = $1 - t0; if (r >= from + 0 && (to == "" || r <= to + 0)) print $2}' |
    sort -n | awk '{a[NR] = $1; s += $1}
      END {if (NR == 0) {print 0, 0, 0, 0, 0; exit}
           i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
           i50 = int(NR * 0.5); if (i50 < NR * 0.5) i50++
           printf "%d %.3f %.3f %.3f %.3f\n", NR, s / NR / 1000, a[i50] / 1000, a[i99] / 1000, a[NR] / 1000}'
}
# Epoch of the first transaction end in pgbench logs.
log_start() { cat "$@" | awk 'NR == 1 || $5 + $6 / 1e6 < m {m = $5 + $6 / 1e6} END {printf "%.6f\n", m}'; }

stat_row() { q -F ' ' -c "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '$1'::regclass"; }
sizes() { q -F ' ' -c "SELECT pg_relation_size('$1'), pg_indexes_size('$1'), pg_total_relation_size('$1')"; }

### 1. Heartbeat throughput
rounds heartbeat hb_ext hb_raw_unlogged hb_hw_logged
rounds events hb_notify_on hb_notify_off
sleep 1   # the pgbench backends flush their table statistics as they exit
read -r upd hot < <(stat_row presence_tracking.presence)
read -r upd_raw hot_raw < <(stat_row handwritten.presence_unlogged)
log "presence: $hot of $upd updates HOT"

### 2. Table size over BENCH_BEATS heartbeats on the same 50k users
read -r heap0 idx0 total0 < <(sizes presence_tracking.presence)
res=$(pgb size_beats hb_ext.sql "${COMMON[@]}" -t $((BEATS / CLIENTS)))
sleep 1
read -r upd2 hot2 < <(stat_row presence_tracking.presence)
read -r heap1 idx1 total1 < <(sizes presence_tracking.presence)
beats_done=$((BEATS / CLIENTS * CLIENTS))
log "size over $beats_done beats: heap $heap0 -> $heap1, indexes $idx0 -> $idx1 (${res% *} tps)"

### 2b. Batches: 1000 beats per call, against the hand-written set-based upsert
rounds batch hb_many_ext hb_many_raw_unlogged

### 3. record_view throughput, synchronous_commit on and off; against the
### previous release and with opted-out artifacts (sync off)
log "loading the previous release (${PREV_VERSION}) into bench_prev, and bench_optout"
q -d postgres -c 'CREATE DATABASE bench_prev'
BENCH_DB=bench_prev bench_load "$PREV_VERSION"
q -d postgres -c 'CREATE DATABASE bench_optout TEMPLATE bench'
BENCH_DB=bench_optout q -c "INSERT INTO presence_tracking.artifact_tracking (artifact_id, mode)
  SELECT a, CASE WHEN a % 2 = 0 THEN 'off' ELSE 'unread_only' END FROM generate_series(1000001, 1001000) a"
for db in bench_prev bench_optout; do BENCH_DB=$db q -c 'VACUUM ANALYZE'; done
rounds record_view rv_ext_on rv_hw_on rv_floor_on rv_ext_off rv_hw_off rv_floor_off rv_prev_off rv_optout_off
calls_ext=$(q -c "SELECT count(*) FROM presence_tracking.artifact_views WHERE user_id > 100000")
calls_hw=$(q -c "SELECT count(*) FROM handwritten.views WHERE user_id > 100000")

### 3b. The in-place path against the SQL path alone
rounds write_path hb_inplace hb_sql hb_many_inplace hb_many_sql rv_same rv_same_sql

### 4. Contention: concurrent calls opening the same sessions
# Its times are fixed, in the past: an import, which a superuser allows for
# its session (presence_tracking.max_backdate).
PGOPTIONS='-c presence_tracking.max_backdate=-1' pgb race_ext race_ext.sql "${COMMON[@]}" -T "$RACE_SECS" >/dev/null
pgb race_hw race_hw.sql "${COMMON[@]}" -T "$RACE_SECS" >/dev/null
race_calls_ext=$(awk '/number of transactions actually processed/ {print $NF}' "$LOGS/race_ext.out")
race_calls_hw=$(awk '/number of transactions actually processed/ {print $NF}' "$LOGS/race_hw.out")
declare -A CHECK
while read -r k v; do CHECK[$k]=$v; done < <(q -F ' ' -f "$BENCH_HERE/sql/check_sessions.sql")
log "sessions: ext mismatch ${CHECK[ext_mismatch]} dup ${CHECK[ext_dup]}; hw mismatch ${CHECK[hw_mismatch]} dup ${CHECK[hw_dup]}"

### 5. Face pile latency with 1M more present rows
log "loading 1M present rows on 20k artifacts"
q -f "$BENCH_HERE/sql/load_face_pile.sql"
presence_rows=$(q -c "SELECT count(*) FROM presence_tracking.presence")
declare -A AV AVOK
for spec in "ext 1" "hw 1" "ext $CLIENTS" "hw $CLIENTS"; do
  read -r who c <<<"$spec"
  rm -f "$LOGS"/txlog_av_"${who}_$c".*
  pgb "av_${who}_c${c}_warmup" "av_$who.sql" -c "$c" -j 1 -T 2 >/dev/null
  pgb "av_${who}_c$c" "av_$who.sql" -c "$c" -j "$([ "$c" -ge "$THREADS" ] && echo "$THREADS" || echo 1)" \
    -T "$AV_SECS" --log --log-prefix="$LOGS/txlog_av_${who}_$c" >/dev/null
  AV[$who,$c]=$(lat_stats 1 "" "$LOGS"/txlog_av_"${who}_$c".*)
  if [ "$who" = ext ]; then
    AVOK[$who,$c]=$(q -c "SELECT count(*) FROM presence_tracking.active_viewers(119999)")
  else
    AVOK[$who,$c]=$(q -c "SELECT count(*) FROM handwritten.active_viewers(119999)")
  fi
  log "face pile $who, $c clients: n avg p50 p99 max = ${AV[$who,$c]} (viewers after run: ${AVOK[$who,$c]})"
done

# active_count on the same artifacts: one index range, no rows returned.
rm -f "$LOGS"/txlog_count.*
pgb count_warmup av_count.sql -c 1 -j 1 -T 2 >/dev/null
pgb count av_count.sql -c 1 -j 1 -T "$AV_SECS" --log --log-prefix="$LOGS/txlog_count" >/dev/null
AV[count,1]=$(lat_stats 1 "" "$LOGS"/txlog_count.*)
log "active_count, 1 client: n avg p50 p99 max = ${AV[count,1]}"

### 5b. Engagement per day: a year of a busy artifact
# 300 viewers a day for a year (109,500 sessions, imported and folded), and
# today's 300 more, not folded yet: artifact_engagement() reads both.
log "importing a year of a busy artifact's views"
q -f "$BENCH_HERE/sql/load_engagement.sql" >/dev/null
rm -f "$LOGS"/txlog_engagement.*
pgb engagement_warmup engagement.sql -c 1 -j 1 -T 2 >/dev/null
pgb engagement engagement.sql -c 1 -j 1 -T "$AV_SECS" --log --log-prefix="$LOGS/txlog_engagement" >/dev/null
ENG=$(lat_stats 1 "" "$LOGS"/txlog_engagement.*)
ENG_ROWS=$(q -c "SELECT count(*) || ' rows, ' || sum(views) || ' sessions' FROM presence_tracking.artifact_engagement(900001, current_date - 364, current_date)")
log "artifact_engagement, a year: n avg p50 p99 max = $ENG ($ENG_ROWS)"

### 6. Purge of 1M expired rows under heartbeat load
log "loading 1M expired presence rows"
q -f "$BENCH_HERE/sql/load_expired.sql"
hb_median=$(median ${TPS[hb_ext]})
RATE=${BENCH_PURGE_RATE:-$(awk -v t="$hb_median" 'BEGIN {printf "%d", t / 4}')}
rm -f "$LOGS"/txlog_purge_*
pgb purge_without hb_ext.sql "${COMMON[@]}" -T "$PURGE_SECS" -R "$RATE" --log --log-prefix="$LOGS/txlog_purge_without" >/dev/null
pgb purge_with hb_ext.sql "${COMMON[@]}" -T "$PURGE_SECS" -R "$RATE" --log --log-prefix="$LOGS/txlog_purge_with" >/dev/null &
pgbench_pid=$!
sleep 4
p0=$(date +%s.%N)
purged=$(q -c "SELECT presence_tracking.purge()")
p1=$(date +%s.%N)
wait "$pgbench_pid"
purge_secs=$(awk -v a="$p0" -v b="$p1" 'BEGIN {printf "%.2f", b - a}')
w_from=$(awk -v a="$p0" -v s="$(log_start "$LOGS"/txlog_purge_with.*)" 'BEGIN {printf "%.6f", a - s}')
w_to=$(awk -v a="$p1" -v s="$(log_start "$LOGS"/txlog_purge_with.*)" 'BEGIN {printf "%.6f", a - s}')
lat_without=$(lat_stats 2 "" "$LOGS"/txlog_purge_without.*)
lat_with_all=$(lat_stats 2 "" "$LOGS"/txlog_purge_with.*)
lat_during=$(lat_stats "$w_from" "$w_to" "$LOGS"/txlog_purge_with.*)
lat_same_window=$(lat_stats "$w_from" "$w_to" "$LOGS"/txlog_purge_without.*)
log "purge: $purged rows in $purge_secs s; heartbeat n avg p50 p99 max without: $lat_without; during purge: $lat_during"

# Seconds on stdin, one per line: "count p50 p99 max" ("0 - - -" for none).
delay_stats() {
  sort -g | awk '{a[NR] = $1} END {if (NR == 0) {print 0, "-", "-", "-"; exit}
    p50 = int((NR + 1) / 2); p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
    printf "%d %.2f %.2f %.2f\n", NR, a[p50], a[p99], a[NR]}'
}

### 7. Timeouts announced by the worker: single sessions, then TIMEOUTS at once
# The server restarts with the library preloaded (the background worker)
# and a 5 s TTL; a node-postgres client LISTENs.  Heartbeats of 2,000 other
# users run at a fixed rate meanwhile (each user about once a second).
# First SINGLE sessions beat once each, 10 ms apart, in transactions of
# their own, so that their TTLs pass at every point of the sweeper's
# cycle; then TIMEOUTS sessions time out at the same moment.
log "timeouts: restarting with the library preloaded, ttl 5 s"
q -c "LOAD 'presence_tracking'" -c "ALTER SYSTEM SET presence_tracking.heartbeat_interval = '1s'" -c "ALTER SYSTEM SET presence_tracking.ttl = '5s'"
echo "shared_preload_libraries = 'pg_cron,presence_tracking'" | as_owner tee -a "$DATADIR/postgresql.conf" >/dev/null
as_owner pg_ctl -D "$DATADIR" -l "$BENCH_DIR/server.log" -w restart >/dev/null
q -c "DELETE FROM presence_tracking.presence"
EVENTS=$LOGS/events.jsonl
rm -f "$EVENTS"
PGHOST=$SOCK PGPORT=$BENCH_PORT PGUSER=postgres PGDATABASE=bench node "$ROOT/test/listener/listen.js" "$EVENTS" &
listener_pid=$!
for _ in $(seq 100); do grep -q ready "$EVENTS" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$EVENTS" 2>/dev/null || die "the listener (test/listener/listen.js) did not start: run bash scripts/install-deps.sh"
TO_SECS=30
SINGLE=${BENCH_SINGLE_TIMEOUTS:-500}
TO_RATE=${BENCH_TIMEOUT_RATE:-2000}
rm -f "$LOGS"/txlog_timeouts*
pgb timeouts_hb hb_live.sql "${COMMON[@]}" -T "$TO_SECS" -R "$TO_RATE" --log --log-prefix="$LOGS/txlog_timeouts" >/dev/null &
pgbench_pid=$!
sleep 3
q -c "DO \$single\$ BEGIN FOR g IN 1..$SINGLE LOOP
  PERFORM presence_tracking.heartbeat(3000000 + g, 3000000 + g, 30000000 + g); COMMIT; PERFORM pg_sleep(0.01);
  END LOOP; END \$single\$" >/dev/null
sleep 9    # the last of them times out 5 s later; the sweeper announces it
t_insert=$(q -c "INSERT INTO presence_tracking.presence (artifact_id, user_id, session_id, version_id, last_seen_at, joined_at, beats, changed_at)
  SELECT 500000 + u / 10, 2000000 + u, 'tab', (500000 + u / 10) * 10, now(), now(), 1, now() FROM generate_series(1, $TIMEOUTS) u" \
  -c "SELECT extract(epoch FROM now())" | tail -1)
wait "$pgbench_pid"
sleep 2
kill "$listener_pid" 2>/dev/null || true
t_ttl=$(awk -v t="$t_insert" 'BEGIN {printf "%.6f", t + 5}')
# Seconds from the TTL to each leave heard (the listener's clock, same machine).
read -r to_n to_p50 to_p99 to_max < <(awk -v t="$t_ttl" '/"event":"leave"/ && /"user_id":"2[0-9][0-9][0-9][0-9][0-9][0-9]"/ {
    match($0, /"received":[0-9]+/); print substr($0, RSTART + 11, RLENGTH - 11) / 1000 - t }' "$EVENTS" |
  delay_stats)
# Single sessions: each one's TTL passed at its ended_at (last beat + TTL).
q -A -t -F ' ' -c "SELECT user_id, extract(epoch FROM ended_at) FROM presence_tracking.presence
  WHERE user_id > 3000000 AND user_id <= 3000000 + $SINGLE AND end_reason = 'timed_out'" > "$LOGS/single_ttl.txt"
read -r single_n single_p50 single_p99 single_max < <(awk '
    NR == FNR {ttl[$1] = $2; next}
    /"event":"leave"/ && match($0, /"user_id":"3[0-9][0-9][0-9][0-9][0-9][0-9]"/) {
      u = substr($0, RSTART + 11, 7); match($0, /"received":[0-9]+/)
      if (u in ttl) print substr($0, RSTART + 11, RLENGTH - 11) / 1000 - ttl[u] }' "$LOGS/single_ttl.txt" "$EVENTS" |
  delay_stats)
log "timeouts: $single_n of $SINGLE single sessions heard leaving; seconds after the TTL p50 $single_p50 p99 $single_p99 max $single_max"
to_start=$(log_start "$LOGS"/txlog_timeouts.*)
from=$(awk -v a="$t_ttl" -v s="$to_start" 'BEGIN {printf "%.6f", a - s}')
to=$(awk -v a="$t_ttl" -v s="$to_start" -v m="$to_max" 'BEGIN {printf "%.6f", a - s + (m == "-" ? 0 : m)}')
lat_to_before=$(lat_stats "$(awk -v f="$from" 'BEGIN {printf "%.6f", f - 5}')" "$from" "$LOGS"/txlog_timeouts.*)
lat_to_during=$(lat_stats "$from" "$to" "$LOGS"/txlog_timeouts.*)
log "timeouts: $to_n of $TIMEOUTS leaves heard; seconds after the TTL p50 $to_p50 p99 $to_p99 max $to_max; heartbeat before: $lat_to_before; during: $lat_to_during"

### Results
elapsed=$(( $(date +%s) - started ))
pgver=$(q -c "SHOW server_version")
lib_md5_end=$(md5sum "$lib" | cut -c1-12)
libinfo="installed library built $(date -u -r "$lib" '+%Y-%m-%d %H:%M UTC'), md5 $lib_md5_end"
lib_warning=""
[ "$lib_md5_start" = "$lib_md5_end" ] || lib_warning="**Warning: the installed presence_tracking.so changed during this run (md5 $lib_md5_start at the start, $lib_md5_end at the end): runs after the change used the new library.**"
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain -- src sql 2>/dev/null | grep -q . && echo " (src/ or sql/ modified)" || true)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)

declare -A MED
for id in "${!TPS[@]}"; do MED[$id]=$(median ${TPS[$id]}); done
for id in "${!LAT[@]}"; do MED[lat_$id]=$(median ${LAT[$id]}); done

r_hb_raw=$(ratio "${MED[hb_ext]}" "${MED[hb_raw_unlogged]}")
r_hb_hw=$(ratio "${MED[hb_ext]}" "${MED[hb_hw_logged]}")
r_rv_on=$(ratio "${MED[rv_ext_on]}" "${MED[rv_hw_on]}")
r_rv_off=$(ratio "${MED[rv_ext_off]}" "${MED[rv_hw_off]}")
r_rv_floor_on=$(ratio "${MED[rv_ext_on]}" "${MED[rv_floor_on]}")
r_rv_floor_off=$(ratio "${MED[rv_ext_off]}" "${MED[rv_floor_off]}")
r_many_single=$(awk -v m="${MED[hb_many_ext]}" -v s="${MED[hb_ext]}" 'BEGIN {printf "%.2f", 1000 * m / s}')
r_many_raw=$(ratio "${MED[hb_many_ext]}" "${MED[hb_many_raw_unlogged]}")
p_many_raw=$(paired hb_many_ext hb_many_raw_unlogged)
p_hb_raw=$(paired hb_ext hb_raw_unlogged)
p_hb_hw=$(paired hb_ext hb_hw_logged)
p_notify=$(paired hb_notify_on hb_notify_off)
p_rv_on=$(paired rv_ext_on rv_hw_on)
p_rv_off=$(paired rv_ext_off rv_hw_off)
p_hb_path=$(paired hb_inplace hb_sql)
p_many_path=$(paired hb_many_inplace hb_many_sql)
p_rv_path=$(paired rv_same rv_same_sql)
hot_pct=$(awk -v h="$hot" -v u="$upd" 'BEGIN {printf "%.2f", u ? 100 * h / u : 0}')
hot_pct_raw=$(awk -v h="$hot_raw" -v u="$upd_raw" 'BEGIN {printf "%.2f", u ? 100 * h / u : 0}')
hot_pct_beats=$(awk -v h="$((hot2 - hot))" -v u="$((upd2 - upd))" 'BEGIN {printf "%.2f", u ? 100 * h / u : 0}')
growth=$(awk -v a="$total0" -v b="$total1" 'BEGIN {printf "%.2f", 100 * (b - a) / a}')
flat=$(awk -v g="$growth" 'BEGIN {print (g <= 5) ? "yes" : "no"}')
read -r _ _ _ av_p99 _ <<<"${AV[ext,1]}"
read -r _ _ _ eng_p99 _ <<<"$ENG"
r_rv_prev=$(ratio "${MED[rv_ext_off]}" "${MED[rv_prev_off]}")
p_rv_prev=$(paired rv_ext_off rv_prev_off)
r_rv_optout=$(ratio "${MED[rv_optout_off]}" "${MED[rv_ext_off]}")
p_rv_optout=$(paired rv_optout_off rv_ext_off)
av_met=$(awk -v p="$av_p99" 'BEGIN {print (p < 1) ? "yes" : "no"}')
dups=$((CHECK[ext_mismatch] + CHECK[ext_dup]))
pct_new() { awk -v n="$1" -v t="$2" 'BEGIN {printf "%.1f", t ? 100 * n / t : 0}'; }
rv_total() { local s=0 x; for id in "$@"; do for x in ${TPS[$id]}; do s=$(awk -v s="$s" -v x="$x" -v d="$SECS" 'BEGIN {printf "%.0f", s + x * d}'); done; done; echo "$s"; }

row() { # benchmark contender id
  printf '| %s | %s | %.0f | %s | %s |\n' "$1" "$2" "${MED[$3]}" "$(printf '%.0f\n' ${TPS[$3]} | paste -sd ' ' | sed 's/ /, /g')" "${MED[lat_$3]}"
}
mb() { awk -v b="$1" 'BEGIN {printf "%.2f MB", b / 1048576}'; }
latrow() { read -r n avg p50 p99 max <<<"$2"; printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$n" "$avg" "$p50" "$p99" "$max"; }

{
  echo "# presence_tracking benchmark results"
  echo
  echo "Generated by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), repository at commit $commit$dirty, $libinfo."
  echo
  [ -n "$lib_warning" ] && { echo "$lib_warning"; echo; }
  echo "Machine: $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr); PostgreSQL $pgver."
  echo "Server: shared_buffers 1GB, max_wal_size 8GB, checkpoint_timeout 30min, a CHECKPOINT before every run, other settings default (fsync on)."
  echo "pgbench: $CLIENTS clients, $THREADS threads, -M prepared, unix socket, ${SECS} s per run, $ROUNDS rounds (contenders alternate within each round, order rotated per round; the heartbeat, events and batch groups: ${ROUNDS_OF[heartbeat]} rounds of ${SECS_OF[heartbeat]} s), ${WARMUP} s warm-up each; median of the rounds. Whole run: $((elapsed / 60)) min $((elapsed % 60)) s."
  echo
  echo "## Targets"
  echo
  echo "Throughput ratios are median tps / median tps; in brackets, the median over the rounds of the ratio within one round (robust to load that comes and goes on a shared machine)."
  echo
  echo "| target | measured | goal | met |"
  echo "| --- | --- | --- | --- |"
  echo "| heartbeat / raw unlogged upsert (floor) | ${r_hb_raw}x (${p_hb_raw}x) | >= 0.9x | $(met "$r_hb_raw" 0.9) |"
  echo "| heartbeat / handwritten.heartbeat (logged, plpgsql) | ${r_hb_hw}x (${p_hb_hw}x) | >= 2.5x | $(met "$r_hb_hw" 2.5) |"
  echo "| heartbeat_many, 1000 beats per call: beats/s / single-call heartbeat beats/s | ${r_many_single}x | >= 20x | $(met "$r_many_single" 20) |"
  echo "| heartbeat_many / hand-written set-based upsert of the same 1000 rows (unlogged) | ${r_many_raw}x (${p_many_raw}x) | >= 1.0x | $(met "$r_many_raw" 1.0) |"
  echo "| record_view / handwritten.record_view, synchronous_commit on | ${r_rv_on}x (${p_rv_on}x) | >= 1.0x | $(met "$r_rv_on" 1.0) |"
  echo "| record_view / handwritten.record_view, synchronous_commit off | ${r_rv_off}x (${p_rv_off}x) | >= 1.5x | $(met "$r_rv_off" 1.5) |"
  echo "| record_view $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'presence_tracking'") (day rows, tracking modes) / record_view $PREV_VERSION, sync off | ${r_rv_prev}x (${p_rv_prev}x) | >= 0.95x | $(met "$r_rv_prev" 0.95) |"
  echo "| record_view with 1,000 other artifacts opted out / with none, sync off | ${r_rv_optout}x (${p_rv_optout}x) | >= 0.95x | $(met "$r_rv_optout" 0.95) |"
  echo "| artifact_engagement p99, a year of days of a busy artifact ($ENG_ROWS), 1 client | ${eng_p99} ms | < 5 ms | $(awk -v p="$eng_p99" 'BEGIN {print (p < 5) ? "yes" : "no"}') |"
  echo "| in-place path / SQL path alone: heartbeat | $(ratio "${MED[hb_inplace]}" "${MED[hb_sql]}")x (${p_hb_path}x) | >= 1.1x | $(met "$(ratio "${MED[hb_inplace]}" "${MED[hb_sql]}")" 1.1) |"
  echo "| in-place path / SQL path alone: heartbeat_many | $(ratio "${MED[hb_many_inplace]}" "${MED[hb_many_sql]}")x (${p_many_path}x) | >= 1.1x | $(met "$(ratio "${MED[hb_many_inplace]}" "${MED[hb_many_sql]}")" 1.1) |"
  echo "| in-place path / SQL path alone: record_view, open session, sync off | $(ratio "${MED[rv_same]}" "${MED[rv_same_sql]}")x (${p_rv_path}x) | >= 1.1x | $(met "$(ratio "${MED[rv_same]}" "${MED[rv_same_sql]}")" 1.1) |"
  echo "| duplicate sessions / count mismatches (extension) | ${CHECK[ext_dup]} / ${CHECK[ext_mismatch]} | 0 | $([ "$dups" -eq 0 ] && echo yes || echo no) |"
  echo "| active_viewers p99, $presence_rows presence rows, 1 client | ${av_p99} ms | < 1 ms | $av_met |"
  echo "| heartbeat, events on / events off (plain beats) | $(ratio "${MED[hb_notify_on]}" "${MED[hb_notify_off]}")x (${p_notify}x) | >= 0.95x | $(met "$(ratio "${MED[hb_notify_on]}" "${MED[hb_notify_off]}")" 0.95) |"
  echo "| timeout announcement p99 after the TTL (worker; $SINGLE single sessions) | ${single_p99} s | < 2 s | $(awk -v m="$single_p99" 'BEGIN {print (m != "-" && m < 2) ? "yes" : "no"}') |"
  echo "| $TIMEOUTS simultaneous timeouts: last leave heard, after the TTL | ${to_max} s | < 5 s | $(awk -v m="$to_max" 'BEGIN {print (m != "-" && m < 5) ? "yes" : "no"}') |"
  echo "| HOT updates of presence_tracking.presence (heartbeat rounds) | ${hot_pct}% | >= 95% | $(met "$hot_pct" 95) |"
  echo "| presence size over $beats_done beats | $(mb "$total0") -> $(mb "$total1") (${growth}%) | flat (<= 5%) | $flat |"
  echo
  echo "## Throughput (transactions per second)"
  echo
  echo "| benchmark | contender | median tps | tps per round | median avg latency ms |"
  echo "| --- | --- | --- | --- | --- |"
  row heartbeat "presence_tracking.heartbeat()" hb_ext
  row heartbeat "raw upsert, unlogged table (floor)" hb_raw_unlogged
  row heartbeat "handwritten.heartbeat() (logged, plpgsql)" hb_hw_logged
  row "events (plain beats)" "presence_tracking.heartbeat(), presence_tracking.notify = on" hb_notify_on
  row "events (plain beats)" "presence_tracking.heartbeat(), presence_tracking.notify = off" hb_notify_off
  row "batch (1000 beats per call)" "presence_tracking.heartbeat_many()" hb_many_ext
  row "batch (1000 beats per call)" "INSERT ... SELECT ... ON CONFLICT, unlogged (hand-written)" hb_many_raw_unlogged
  for s in on off; do
    row "record_view, sync $s" "presence_tracking.record_view()" rv_ext_$s
    row "record_view, sync $s" "handwritten.record_view() (expert)" rv_hw_$s
    row "record_view, sync $s" "single-row insert, logged table (floor)" rv_floor_$s
  done
  row "write path" "heartbeat(), in place" hb_inplace
  row "write path" "heartbeat(), SQL path alone" hb_sql
  row "write path" "heartbeat_many(), in place" hb_many_inplace
  row "write path" "heartbeat_many(), SQL path alone" hb_many_sql
  row "write path" "record_view() on an open session, sync off, in place" rv_same
  row "write path" "record_view() on an open session, sync off, SQL path alone" rv_same_sql
  echo
  echo "Ratios: heartbeat/raw unlogged ${r_hb_raw}x, heartbeat/handwritten logged ${r_hb_hw}x;"
  echo "record_view/handwritten ${r_rv_on}x (sync on), ${r_rv_off}x (sync off);"
  echo "record_view/floor insert ${r_rv_floor_on}x (sync on), ${r_rv_floor_off}x (sync off)."
  echo
  echo "Heartbeat keys: user random in 1..50000, artifact = user % 2000 + 1, one version per artifact; all 50,000 (artifact, user, version) rows exist. record_view keys: $((100 - NEW_PCT))% one of the 50,000 users with an open session on their version (same-session touch), ${NEW_PCT}% a brand-new user (first view, new session); brand-new-user sessions recorded over all record_view runs: extension $calls_ext of ~$(rv_total rv_ext_on rv_ext_off) calls ($(pct_new "$calls_ext" "$(rv_total rv_ext_on rv_ext_off)")%), handwritten $calls_hw of ~$(rv_total rv_hw_on rv_hw_off) ($(pct_new "$calls_hw" "$(rv_total rv_hw_on rv_hw_off)")%)."
  echo
  echo "## View sessions: consistency after all record_view runs"
  echo
  echo "After the throughput rounds and a ${RACE_SECS} s contention run per implementation ($CLIENTS clients on 20 (user, version) pairs with explicit times over 200 x 61 min; $race_calls_ext calls to the extension, $race_calls_hw to handwritten):"
  echo
  echo "| | ledger rows | (user, version) with view_count <> ledger rows | sessions less than the debounce apart |"
  echo "| --- | --- | --- | --- |"
  echo "| presence_tracking | ${CHECK[ext_ledger_rows]} | ${CHECK[ext_mismatch]} | ${CHECK[ext_dup]} |"
  echo "| handwritten | ${CHECK[hw_ledger_rows]} | ${CHECK[hw_mismatch]} | ${CHECK[hw_dup]} |"
  echo
  echo "## Face pile: \`SELECT count(*) FROM active_viewers(:a)\`"
  echo
  echo "$presence_rows rows in presence_tracking.presence (20,000 artifacts x 50 present users, plus the 50,000 heartbeat rows); same rows in handwritten.presence. A 2 s warm-up run, then a ${AV_SECS} s measured run per line; latency from the pgbench per-transaction logs, first second skipped, in ms (client-side, includes the round trip over the unix socket). Present users counted on one artifact after each run: ext ${AVOK[ext,1]}/${AVOK[ext,$CLIENTS]}, handwritten ${AVOK[hw,1]}/${AVOK[hw,$CLIENTS]} (expected 50)."
  echo
  echo "| contender | calls | avg | p50 | p99 | max |"
  echo "| --- | --- | --- | --- | --- | --- |"
  latrow "presence_tracking.active_viewers(), 1 client" "${AV[ext,1]}"
  latrow "handwritten.active_viewers(), 1 client" "${AV[hw,1]}"
  latrow "presence_tracking.active_viewers(), $CLIENTS clients" "${AV[ext,$CLIENTS]}"
  latrow "handwritten.active_viewers(), $CLIENTS clients" "${AV[hw,$CLIENTS]}"
  latrow "presence_tracking.active_count(), 1 client" "${AV[count,1]}"
  echo
  echo "## Purge of 1,000,000 expired rows under heartbeat load"
  echo
  echo "presence_tracking.purge() deleted $purged rows in $purge_secs s while presence_tracking.heartbeat() ran at a fixed $RATE tps (a quarter of the measured median heartbeat tps, so that one core stays free for the purge), $CLIENTS clients, ${PURGE_SECS} s runs. Heartbeat latency in ms (from the scheduled start, so queueing counts):"
  echo
  echo "| heartbeat run | beats | avg | p50 | p99 | max |"
  echo "| --- | --- | --- | --- | --- | --- |"
  latrow "without purge, whole run (first 2 s skipped)" "$lat_without"
  latrow "with purge, whole run (first 2 s skipped)" "$lat_with_all"
  latrow "without purge, same seconds of the run as the purge below" "$lat_same_window"
  latrow "with purge, beats that ended while the purge ran" "$lat_during"
  echo
  echo "## Timeouts announced by the background worker"
  echo
  echo "Single sessions: $SINGLE users, each on an artifact of its own, beat once, 10 ms apart, each in a transaction of its own, and then stop. Leaves heard: $single_n. Seconds from each one's TTL (its last beat + 5 s) to its leave heard: p50 $single_p50, p99 $single_p99, max $single_max."
  echo
  echo "At once: $TIMEOUTS sessions (10 users per artifact) inserted with one last beat at the same moment, presence_tracking.ttl = 5 s, the library preloaded (one sweeper in the database), a node-postgres client LISTENing (test/listener/listen.js). Meanwhile heartbeats of 2,000 other users at a fixed $TO_RATE tps, $CLIENTS clients. Leaves heard: $to_n. Seconds from the TTL to each leave heard: p50 $to_p50, p99 $to_p99, max $to_max. Heartbeat latency in ms:"
  echo
  echo "| heartbeat run | beats | avg | p50 | p99 | max |"
  echo "| --- | --- | --- | --- | --- | --- |"
  latrow "the 5 s before the TTL" "$lat_to_before"
  latrow "from the TTL to the last leave" "$lat_to_during"
  echo
  echo "## HOT updates and table size"
  echo
  echo "- presence_tracking.presence after the heartbeat rounds: $hot HOT of $upd updates (${hot_pct}%); handwritten.presence_unlogged (raw upsert): $hot_raw of $upd_raw (${hot_pct_raw}%)."
  echo "- $beats_done more heartbeats on the same 50,000 users ($(printf '%.0f' "${res% *}") tps): $((hot2 - hot)) HOT of $((upd2 - upd)) updates (${hot_pct_beats}%); heap $(mb "$heap0") -> $(mb "$heap1"), indexes $(mb "$idx0") -> $(mb "$idx1"), total $(mb "$total0") -> $(mb "$total1") (${growth}%)."
} >"$RESULTS/latest.md"

printf '%s\t%s\t%s\n' \
  "heartbeat / raw unlogged upsert" "$r_hb_raw" 0.9 \
  "heartbeat / handwritten logged" "$r_hb_hw" 2.5 \
  "heartbeat_many / hand-written set upsert" "$r_many_raw" 1.0 \
  "record_view / handwritten, sync on" "$r_rv_on" 1.0 \
  "record_view / handwritten, sync off" "$r_rv_off" 1.5 \
  "record_view / floor insert, sync on" "$r_rv_floor_on" "" \
  "record_view / floor insert, sync off" "$r_rv_floor_off" "" >"$RESULTS/ratios.tsv"
awk -F '\t' -v title="presence_tracking vs hand-written SQL: median tps ratios ($(nproc) CPUs, PostgreSQL ${pgver%% *})" \
  -f "$BENCH_HERE/svg.awk" "$RESULTS/ratios.tsv" >"$RESULTS/ratios.svg"

# The ledger-size check runs on a server of its own, after this one stops.
bench_server_stop
log "record_view with an empty and a big ledger (bench/ledger_scale.sh)"
bash "$BENCH_HERE/ledger_scale.sh" >/dev/null
{ echo; cat "$RESULTS/ledger_scale.md"; } >>"$RESULTS/latest.md"

cp "$RESULTS/latest.md" "$BENCH_HERE/RESULTS.md"
cp "$RESULTS/ratios.svg" "$BENCH_HERE/ratios.svg"
cat "$RESULTS/latest.md"
echo
echo "Written: bench/results/latest.md, bench/results/ratios.svg (copies: bench/RESULTS.md, bench/ratios.svg)"
