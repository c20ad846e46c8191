#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the connector's PostgreSQL tests.
#
#   scripts/postgres.sh up      initdb (once) and start; prints the admin URL
#   scripts/postgres.sh url     print the admin URL (TDSC_TEST_POSTGRES)
#   scripts/postgres.sh down    stop it
#   scripts/postgres.sh clean   stop it and delete its directory
#
# Settings: TDSC_PG_DIR (default .cache/postgres), TDSC_PG_PORT (default 25432).
# Uses the Debian postgresql package's binaries (installed with apt-get when
# missing). Trust authentication on 127.0.0.1 only: a test server, never a
# deployment. As root, the server runs as the postgres user (PostgreSQL
# refuses root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${TDSC_PG_DIR:-$root/.cache/postgres}
port=${TDSC_PG_PORT:-25432}
url="postgres://tdsc@127.0.0.1:$port/postgres?sslmode=disable"

bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && { echo "$b"; return; }; done
  return 1
}
install() {
  bin >/dev/null && return
  echo "[postgres] installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  bin >/dev/null || { echo "[postgres] no initdb after installing postgresql" >&2; exit 1; }
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case ${1:-} in
up)
  install
  b=$(bin)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$b/initdb" -D "$dir/data" -U tdsc --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$b/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$b/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/data -c fsync=off -c max_connections=200" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
  fi
  echo "$url"
  ;;
url) echo "$url" ;;
down)
  b=$(bin) || exit 0
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$b/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  ;;
clean)
  "$0" down
  rm -rf "$dir"
  ;;
*) echo "usage: $0 up|url|down|clean" >&2; exit 2 ;;
esac
