#!/usr/bin/env bash
# Where the time goes: CPU profiles (perf, cpu-clock sampling with DWARF call
# chains) of one server backend while a single pgbench client calls one
# contender in a loop.  Own throwaway server (port 54401), same data as
# bench/run.sh.  Writes bench/results/profile.md (+ raw reports beside it).
#
#   bash bench/profile.sh            # PROFILE_SECONDS=10 per contender
#
# Writes bench/results/profile.md and its committed copy bench/PROFILE.md.
#
# Needs perf (Debian: apt-get install linux-perf); software cpu-clock events
# are enough, hardware counters are not needed.
set -euo pipefail
BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${PROFILE_PORT:-54401}
BENCH_DIR=${PROFILE_DIR:-/tmp/presence_tracking_profile}
# shellcheck source=lib.sh
source "$BENCH_HERE/lib.sh"
SECS=${PROFILE_SECONDS:-10}
RESULTS=$BENCH_HERE/results
OUT=$RESULTS/profile.md

command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 || die "perf cannot sample here (perf_event_paranoid? containers?)"
bench_preflight
mkdir -p "$RESULTS"
trap 'bench_server_stop; rm -rf "$DATADIR"' EXIT
log "server on port $BENCH_PORT"
bench_server_start
log "loading"
bench_load

# Functions whose inclusive share (time spent in them and their callees) is
# worth a line in the summary.
KEY='PortalRun|standard_ExecutorRun|pq_getbyte|WaitEventSetWait|PortalStart|presence_tracking_heartbeat|presence_tracking_heartbeat_many|presence_tracking_record_view|write_beats|beat_locked_row|insert_run|continue_session|touch_access|pt_rows_open|pt_rows_probe|pt_rows_lock_probed|pt_rows_update|pt_rows_close|ExecSimpleRelationUpdate|index_getnext_slot|heap_page_prune_opt|table_tuple_lock|plpgsql_call_handler|exec_stmt_block|exec_eval_simple_expr|SPI_connect|SPI_finish|SPI_execute_plan|_SPI_execute_plan|GetCachedPlan|CheckCachedPlan|RevalidateCachedQuery|ExecutorStart|standard_ExecutorStart|ExecutorEnd|standard_ExecutorEnd|ExecInsert|ExecOnConflictUpdate|ExecUpdate|ExecInitNode|ExecConstraints|stringToNode|ExecInitIndexScan|ExecutorFinish|standard_ExecutorFinish|CreateExecutorState|FreeExecutorState|AfterTriggerEndQuery|exec_bind_message|exec_execute_message|CommitTransactionCommand|CommitTransaction|RecordTransactionCommit|XLogFlush|XLogInsert|heap_update|heap_insert|heap_hot_search_buffer|_bt_doinsert|_bt_check_unique|index_fetch_heap|ExecCheckIndexConstraints|GetSnapshotData|CreateQueryDesc|pgstat_report_stat|palloc|AllocSetAlloc|MemoryContextDelete|AllocSetDelete|MemoryContextCreate|AllocSetContextCreateInternal|ResourceOwnerCreate|get_fn_expr_argtype|pt_check_time|GetCurrentTimestamp|pq_getmessage|secure_read|secure_write|__libc_recv|__libc_send'

{
  lib=$(pg_config --pkglibdir)/presence_tracking.so
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$ROOT" status --porcelain -- src sql 2>/dev/null | grep -q . && echo " (src/ or sql/ modified)" || true)
  echo "# Where the time goes"
  echo
  echo "**Generated output, do not edit by hand.** Written by \`bash bench/profile.sh\` (about 3 minutes; needs perf; PROFILE_SECONDS=$SECS s per contender), which writes bench/results/profile.md and copies it to bench/PROFILE.md. For each contender it profiles one server backend while a single pgbench client calls the contender in a loop, and gives the backend CPU per call and the functions it goes to. The figures hold only for the build and date stated below: after a change to src/, run \`make install\` and the script again. bench/README.md describes the method."
  echo
  echo "Generated on $(date -u '+%Y-%m-%d %H:%M UTC'); repository at commit $commit$dirty, installed library built $(date -u -r "$lib" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '(unknown)'), md5 $(md5sum "$lib" 2>/dev/null | cut -c1-12)."
  echo
  echo "perf (cpu-clock, $(perf --version 2>/dev/null)), DWARF call chains, one backend sampled for ${SECS} s while a single pgbench client (-M prepared, unix socket) calls the contender in a loop; PostgreSQL $(q -c 'SHOW server_version'), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'). The Debian postgres binary is stripped: functions it exports resolve, static ones show as addresses inside postgres (they are counted under the nearest caller that resolves in the inclusive view). tps is with perf attached."
} >"$OUT"

FREQ=1999
profile() { # id script PGOPTIONS [function whose callees to break down]
  local id=$1 script=$2 opts=$3 target=${4:-} pid data=$BENCH_DIR/$1.perf
  PGOPTIONS="$opts" pgbench -n -M prepared -h "$SOCK" -p "$BENCH_PORT" -U postgres -c 1 -T $((SECS + 4)) \
    -D new_pct=10 -f "$BENCH_HERE/pgbench/$script" bench >"$LOGS/prof_$id.out" 2>&1 &
  local bpid=$!
  sleep 2
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = 'bench' LIMIT 1")
  [ -n "$pid" ] || die "no pgbench backend found"
  perf record -e cpu-clock -F "$FREQ" --call-graph dwarf,16384 -p "$pid" -o "$data" -- sleep "$SECS" >/dev/null 2>&1
  wait "$bpid"
  local tps samples us
  tps=$(awk '/^tps = .*without initial/ {print $3}' "$LOGS/prof_$id.out")
  samples=$(perf report -i "$data" --stdio --sort pid -F sample 2>/dev/null | awk '/^ *[0-9]+ / {s += $1} END {print s}')
  # backend CPU time per call, in microseconds
  us=$(awk -v n="$samples" -v f="$FREQ" -v t="$tps" -v d="$SECS" 'BEGIN {printf "%.1f", n / f / (t * d) * 1e6}')
  perf report -i "$data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.7 2>/dev/null \
    | grep -v '^#' | grep -v '^$' >"$RESULTS/profile_${id}_self.txt" || true
  perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' >"$RESULTS/profile_${id}_children.txt" || true
  {
    echo
    echo "## $id ($script${opts:+, PGOPTIONS='$opts'})"
    echo
    echo "$tps tps with 1 client (perf attached); $samples samples = backend CPU of **$us us per call** (kernel included)."
    echo
    echo "Inclusive share of selected functions, and the backend CPU per call it stands for:"
    echo
    echo '```'
    grep -E "\] ($KEY)( |\$)" "$RESULTS/profile_${id}_children.txt" \
      | awk -v us="$us" '{p = $1; sub(/%/, "", p); printf "%7.2f%%  %6.1f us  %s\n", p, p * us / 100, $4}' | head -45 || true
    echo '```'
    if [ -n "$target" ]; then
      perf script -i "$data" -F ip,sym 2>/dev/null | awk -v target="$target" -f "$BENCH_HERE/perf_callees.awk" \
        | sort -rn | grep -v '0x0000' >"$RESULTS/profile_${id}_callees.txt" || true
      echo
      echo "Inside $target (share of its samples; a callee counts once per sample):"
      echo
      echo '```'
      head -32 "$RESULTS/profile_${id}_callees.txt"
      echo '```'
    fi
    echo
    echo "Top self time (dso, symbol):"
    echo
    echo '```'
    head -16 "$RESULTS/profile_${id}_self.txt" | sed 's/ *- *- *$//'
    echo '```'
  } >>"$OUT"
  rm -f "$data"   # ~200 MB each with DWARF stacks
  log "$id: $tps tps, $us us backend CPU per call"
}

profile hb_ext hb_ext.sql "" presence_tracking_heartbeat
profile hb_raw_unlogged hb_raw_unlogged.sql "" PortalRun
profile hb_hw_logged hb_hw_logged.sql "" plpgsql_call_handler
profile hb_many_ext hb_many_ext.sql "" presence_tracking_heartbeat_many
profile hb_many_raw_unlogged hb_many_raw_unlogged.sql "" PortalRun
profile rv_ext_off rv_ext.sql "-c synchronous_commit=off" presence_tracking_record_view
profile rv_hw_off rv_hw.sql "-c synchronous_commit=off" plpgsql_call_handler
profile rv_ext_on rv_ext.sql "-c synchronous_commit=on" presence_tracking_record_view
profile rv_hw_on rv_hw.sql "-c synchronous_commit=on" plpgsql_call_handler
cp "$OUT" "$BENCH_HERE/PROFILE.md"
log "written $OUT (copy: bench/PROFILE.md)"
