#!/usr/bin/env bash
# make test: install what is missing, build, install, then run every suite
# and report each: pg_regress and pg_isolation_regress in temporary
# instances, twice (the writers' two paths: in place, and SQL only), the
# TAP tests on their own clusters, and the face pile example in headless
# Chromium (test/browser).  Exits non-zero when any suite fails.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

bash scripts/install-deps.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source scripts/server.sh
build_and_install

# The suites write results next to the tests, and their servers must not
# run as root: work on a copy owned by the servers' user.  All of it (copy,
# temporary instances, TAP clusters) is deleted when every suite passes, and
# kept for a look when one fails.
work=$(mktemp -d /tmp/presence_tracking_test.XXXXXX)
cp -a "$src/." "$work/src"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"

# PT_SUITES chooses suites and PROVE_TESTS the TAP files (make soak uses both).
suites=${PT_SUITES:-regression isolation tap browser}
passed=0; failed=0; failed_suites=()
run_suite() {
  local name=$1 label=$2 target=$3 write_path=$4
  case " $suites " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $label ==="
  if as_owner env PT_BASELINE="$work/src/bench/handwritten.sql" PT_SOAK_SECONDS="${PT_SOAK_SECONDS:-30}" \
       make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" WRITE_PATH="$write_path" \
         ${PROVE_TESTS:+PROVE_TESTS="$PROVE_TESTS"} "$target"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_suites+=("$label")
    for f in "$work"/src/output_*/regression.diffs; do
      if [ -f "$f" ]; then echo "--- $f"; cat "$f"; fi
    done
  fi
  return 0   # a failed suite is counted, and the next one still runs
}
run_suite regression "regression" check-regress default
run_suite regression "regression, SQL path only" check-regress sql
run_suite isolation "isolation" check-isolation default
run_suite isolation "isolation, SQL path only" check-isolation sql
run_suite tap "tap" installcheck-tap default
# The cluster suite needs Citus, which has no Debian package: say when it is skipped.
if [[ " $suites " == *" tap "* && ${PROVE_TESTS:-009_citus} == *009_citus* ]] &&
   [ ! -f "$("$PG_BIN/pg_config" --pkglibdir)/citus.so" ]; then
  echo "cluster suite (test/t/009_citus.pl) skipped: Citus not installed"
fi
# The browser suite runs from the source tree (the example's node modules
# live there), with its own throwaway server (test/browser/run.sh).
case " $suites " in *" browser "*)
  echo "=== browser ==="
  if PG_BIN="$PG_BIN" FACE_PILE_SCREENSHOT="$work/screenshot.png" bash "$src/test/browser/run.sh"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_suites+=("browser")
  fi ;;
esac

if [ $failed -ne 0 ]; then
  echo "failed suites: ${failed_suites[*]} (work tree kept in $work)"
  for f in "$work"/src/tmp_check/log/regress_log_*; do
    [ -f "$f" ] && grep -q -E 'not ok|FAIL|died' "$f" && { echo "--- tail of $f"; tail -40 "$f"; }
  done
else
  rm -rf "$work"
fi
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
