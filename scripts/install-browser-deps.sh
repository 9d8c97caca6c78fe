#!/usr/bin/env bash
# Install what the face pile example (examples/face-pile) and its browser
# tests need, when it is missing: Node.js and npm, Debian's chromium, and the
# example's node modules (npm ci, from the committed lock file).  Debian 12
# packages; needs root (or sudo) only when a package is missing.
#
#   bash scripts/install-browser-deps.sh               all of it (make test)
#   bash scripts/install-browser-deps.sh --no-browser  Node.js and the modules (make demo)
#
# The tests drive /usr/bin/chromium through playwright-core: no browser is
# downloaded, from npm or anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=yes
case "${1:-}" in
  "") ;;
  --no-browser) want_browser=no ;;
  *) echo "usage: $0 [--no-browser]" >&2; exit 2 ;;
esac

missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Debian's chromium package installs its launcher as /usr/bin/chromium.
[ "$want_browser" = yes ] && [ ! -x /usr/bin/chromium ] && missing+=(chromium fonts-liberation)

if [ ${#missing[@]} -ne 0 ]; then
  source scripts/apt.sh
  apt_install face-pile "${missing[@]}"
fi

# playwright-core 1.61 and pg 8 need Node.js 18 (Debian 12's own).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "face-pile: Node.js $(node --version) is too old, 18 or later is needed" >&2
  exit 1
fi

# npm ci when the modules are missing or were installed from another lock
# file (a pull changed it): the copy kept in node_modules tells which.
example=examples/face-pile
stamp=$example/node_modules/.installed-package-lock.json
if ! cmp -s "$example/package-lock.json" "$stamp"; then
  echo "face-pile: npm ci in $example"
  # playwright-core has no install step, but say it anyway: no browser download.
  (cd "$example" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$example/package-lock.json" "$stamp"
fi
