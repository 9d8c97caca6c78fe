# Inclusive time of the functions called (directly or not) by one function,
# from `perf script` output with call chains.  Prints, for each callee, the
# share of the samples under TARGET that are inside it, as "pct symbol".
# Usage: perf script -F ip,sym | awk -v target=presence_tracking_heartbeat -f perf_callees.awk
function flush(   i, t, seen, s) {
  if (n == 0) return
  t = 0
  for (i = 1; i <= n; i++) if (sym[i] == target) { t = i; break }
  if (t) {
    total++
    for (i = 1; i < t; i++) {
      s = sym[i]
      if (s ~ /^\[unknown\]$/ || s in seen) continue
      seen[s] = 1; count[s]++
    }
  }
  n = 0; delete sym
}
/^[ \t]*$/ { flush(); next }
{
  # "    ffffffff81000000 symbol+0x12 (dso)" or "ip symbol"
  line = $0; sub(/^[ \t]*[0-9a-f]+[ \t]+/, "", line); sub(/\+0x[0-9a-f]+.*$/, "", line); sub(/[ \t]+\(.*$/, "", line)
  sym[++n] = line
}
END {
  flush()
  if (!total) { print "no samples under " target; exit }
  for (s in count) printf "%6.1f%%  %s\n", 100 * count[s] / total, s
}
