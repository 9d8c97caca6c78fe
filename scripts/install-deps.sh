#!/usr/bin/env bash
# Install what building and testing presence_tracking needs, when it is
# missing: PostgreSQL 15 (server, headers, contrib tools), pg_cron, a C
# toolchain, IPC::Run for the TAP tests, and Node.js with the node-postgres
# client the TAP tests listen with (test/listener).  Debian 12 packages and
# the npm registry; needs root (or sudo) only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-client-15
          libipc-run-perl gcc make)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js from wherever it came, Debian's packages when there is none.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

# The listener's modules, pinned by its lock file.
install_node_modules() {
  local dir=test/listener
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules)
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  install_node_modules
  exit 0
fi

source scripts/apt.sh
apt_install presence_tracking "${missing[@]}"
install_node_modules
