# Helpers to run a private PostgreSQL 15 server with pg_cron preloaded.
# Sourced by run.sh, test.sh and the benchmark.  initdb refuses root, so as
# root the server runs as the "postgres" user.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# Run a command as the server's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- env PATH="$PG_BIN:$PATH" "$@"
  else
    env PATH="$PG_BIN:$PATH" "$@"
  fi
}

# server_start DATADIR PORT [extra postgresql.conf lines...]
# Creates the cluster when absent, then starts it on PORT.  An existing
# cluster gets PORT too (its postgresql.conf is changed); one already running
# on another port is restarted on PORT.  The extra lines count only when the
# cluster is created.
server_start() {
  local datadir=$1 port=$2; shift 2
  local parent; parent=$(dirname "$datadir")
  mkdir -p "$parent"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$parent"
  if [ ! -f "$datadir/PG_VERSION" ]; then
    as_owner initdb -D "$datadir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    {
      echo "port = $port"
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$parent'"
      echo "shared_preload_libraries = 'pg_cron'"
      echo "cron.use_background_workers = on"
      echo "max_worker_processes = 16"
      for line in "$@"; do echo "$line"; done
    } | as_owner tee -a "$datadir/postgresql.conf" >/dev/null
  fi
  if as_owner grep -q '^port = ' "$datadir/postgresql.conf"; then
    as_owner sed -i "s/^port = .*/port = $port/" "$datadir/postgresql.conf"
  else
    echo "port = $port" | as_owner tee -a "$datadir/postgresql.conf" >/dev/null
  fi
  if server_running "$datadir"; then
    local running; running=$(as_owner sed -n 4p "$datadir/postmaster.pid")
    [ "$running" = "$port" ] && return 0
    echo "the server in $datadir runs on port $running: restarting it on port $port" >&2
    server_stop "$datadir"
  fi
  as_owner pg_ctl -D "$datadir" -l "$parent/server.log" -w start >/dev/null
}

# server_running DATADIR: whether a server runs in DATADIR.
server_running() {
  [ -f "$1/PG_VERSION" ] && as_owner pg_ctl -D "$1" status >/dev/null 2>&1
}

# server_stop DATADIR: stops the server when it runs.
server_stop() {
  local datadir=$1
  if server_running "$datadir"; then
    as_owner pg_ctl -D "$datadir" -m fast -w stop >/dev/null
  fi
}

# Build with PGXS and install into PostgreSQL 15 (root, or sudo).
build_and_install() {
  local make_pg=(make -s PG_CONFIG="$PG_BIN/pg_config")
  "${make_pg[@]}"
  if [ "$(id -u)" -eq 0 ]; then "${make_pg[@]}" install; else sudo "${make_pg[@]}" install; fi
}
