#!/usr/bin/env bash
# Throwaway PostgreSQL + PostGIS cluster for the test suite.
#   scripts/pgtest.sh install        install Debian PostgreSQL + PostGIS when missing (root)
#   scripts/pgtest.sh start DIR      init + start a cluster in DIR on a free port; prints the URL
#   scripts/pgtest.sh stop DIR       stop it and remove DIR
#   scripts/pgtest.sh pause DIR [M]  stop the server (mode fast, or immediate = crash), keep data + port
#   scripts/pgtest.sh resume DIR     start a paused server again on the same port
#   scripts/pgtest.sh restart DIR    pause + resume
set -euo pipefail
cmd=${1:-}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  install)
    if [ -n "$PGBIN" ] && ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
      exit 0
    fi
    if [ "$(id -u)" != "0" ]; then
      echo "PostgreSQL + PostGIS are missing; install postgresql and postgresql-postgis (needs root)" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql postgresql-15-postgis-3 >/dev/null
    ;;
  start)
    dir=${2:?usage: pgtest.sh start DIR}
    [ -n "$PGBIN" ] || { echo "no PostgreSQL server installed" >&2; exit 1; }
    rm -rf "$dir"; mkdir -p "$dir"
    if [ "$(id -u)" = "0" ]; then chown postgres "$dir"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres twin_test
    as_pg "$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d twin_test -c "CREATE EXTENSION postgis" >/dev/null
    echo "$port" > "$dir/port"
    echo "postgresql://postgres@127.0.0.1:$port/twin_test"
    ;;
  pause)
    dir=${2:?usage: pgtest.sh pause DIR [fast|immediate]}
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
    ;;
  resume)
    dir=${2:?usage: pgtest.sh resume DIR}
    port=$(cat "$dir/port")
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    ;;
  restart)
    "$0" pause "${2:?usage: pgtest.sh restart DIR}"
    "$0" resume "$2"
    ;;
  stop)
    dir=${2:?usage: pgtest.sh stop DIR}
    if [ -d "$dir/data" ]; then as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pgtest.sh install | start DIR | stop DIR | pause DIR | resume DIR | restart DIR" >&2; exit 2 ;;
esac
