#!/usr/bin/env bash
# make test: install what is missing, build, install, then run every suite
# (pg_regress, pg_isolation_regress, TAP) against a throwaway server, and
# report each.  Exits non-zero when any suite fails.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

bash scripts/install-deps.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh
build_and_install

# The suites write results next to the tests, and the server and TAP nodes
# must not run as root: work on a copy owned by the server's user.  All of it
# (copy, server, TAP clusters) is deleted when every suite passes, and kept
# for a look when one fails.
work=$(mktemp -d /tmp/presence_tracking_test.XXXXXX)
cp -a "$src/." "$work/src"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
datadir=$work/pg/data
port=${PT_TEST_PORT:-54329}
trap 'server_stop "$datadir"' EXIT
server_start "$datadir" "$port" "cron.database_name = 'postgres'"

# PT_SUITES chooses suites and PROVE_TESTS the TAP files (make soak uses both).
suites=${PT_SUITES:-regression isolation tap}
passed=0; failed=0; failed_suites=()
run_suite() {
  local name=$1 target=$2
  case " $suites " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name ==="
  if as_owner env PGHOST="$work/pg" PGPORT="$port" PGUSER=postgres PT_BASELINE="$work/src/bench/handwritten.sql" \
       PT_SOAK_SECONDS="${PT_SOAK_SECONDS:-30}" \
       make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" ${PROVE_TESTS:+PROVE_TESTS="$PROVE_TESTS"} "$target"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_suites+=("$name")
    for f in "$work"/src/regression.diffs "$work"/src/output_iso/regression.diffs; do
      [ -f "$f" ] && { echo "--- $f"; cat "$f"; }
    done
  fi
}
run_suite regression installcheck-regress
run_suite isolation installcheck-isolation
run_suite tap installcheck-tap

server_stop "$datadir"
if [ $failed -ne 0 ]; then
  echo "failed suites: ${failed_suites[*]} (work tree and server data kept in $work)"
  for f in "$work"/src/tmp_check/log/regress_log_*; do
    [ -f "$f" ] && grep -q -E 'not ok|FAIL|died' "$f" && { echo "--- tail of $f"; tail -40 "$f"; }
  done
else
  rm -rf "$work"
fi
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
