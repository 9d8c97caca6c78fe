#!/usr/bin/env bash
# install-citus.sh TARBALL: builds and installs Citus from a source tarball
# into the PostgreSQL of PG_CONFIG, for the cluster suite (test/t/009_citus.pl)
# on a machine without Citus's own packages.  Users install Citus from its
# packages instead (README, "Scaling out with Citus").  Does nothing when
# citus is installed already.
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:?usage: install-citus.sh CITUS_SOURCE_TARBALL}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
  exit 0
fi

deps=(liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libpam0g-dev)
missing=()
for p in "${deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  source scripts/apt.sh
  apt_install citus "${missing[@]}"
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
tar -xzf "$tarball" -C "$build" --strip-components=1
# PostgreSQL 15.20 exports have_createdb_privilege(); Citus's PG15
# compatibility header defines a static function of the same name.  The
# static copy is renamed and the name pointed at it.
compat="$build/src/include/pg_version_compat.h"
if grep -q '^have_createdb_privilege(void)' "$compat"; then
  sed -i 's/^have_createdb_privilege(void)/citus_have_createdb_privilege(void)/' "$compat"
  printf '#define have_createdb_privilege citus_have_createdb_privilege\n' >> "$compat"
fi
echo "citus: building from $(basename "$tarball") (about a minute)"
(cd "$build" && ./configure -q PG_CONFIG="$PG_CONFIG" --without-libcurl >/dev/null \
   && make -s -j2 >/dev/null 2>"$build/make.log" || { tail -30 "$build/make.log" >&2; exit 1; })
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
(cd "$build" && $sudo make -s install >/dev/null)
echo "citus: installed into $("$PG_CONFIG" --pkglibdir)"
