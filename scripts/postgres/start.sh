#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 (Debian's `postgresql` package) for modelhub's tests, wait until
# it answers, and print `MODELHUB_TEST_DATABASE_URL=postgres://...` on stdout (everything else goes
# to stderr), so callers can
#   eval "export $(scripts/postgres/start.sh)"
# The cluster lives in a temporary folder (MODELHUB_PG_ROOT, default /tmp/modelhub-postgres), listens
# on 127.0.0.1 only (port MODELHUB_PG_PORT, default: a free one) with trust authentication, and has
# a database `modelhub`. PostgreSQL refuses to run as root, so as root the server runs as the system
# user `modelhub-pg` (created if missing). A cluster this script started before and that still
# answers is reused.
set -euo pipefail

root="${MODELHUB_PG_ROOT:-/tmp/modelhub-postgres}"
bin="${MODELHUB_PG_BIN:-/usr/lib/postgresql/15/bin}"
timeout_s="${MODELHUB_PG_START_TIMEOUT:-60}"
run_user="modelhub-pg"

[ -x "$bin/initdb" ] || { echo "postgres/start: $bin/initdb not found (apt-get install -y postgresql)" >&2; exit 1; }

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

url_for() { echo "postgres://modelhub@127.0.0.1:$1/modelhub"; }
answers() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$1" -d modelhub -U modelhub; }

# Already running from this folder: reuse it.
if [ -f "$root/port" ] && answers "$(cat "$root/port")" 2>/dev/null; then
  echo "postgres/start: reusing the server on port $(cat "$root/port") (data in $root/data)" >&2
  echo "MODELHUB_TEST_DATABASE_URL=$(url_for "$(cat "$root/port")")"
  exit 0
fi

if [ "$(id -u)" = 0 ] && ! id -u "$run_user" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$run_user"
fi

# A fresh cluster each start: tests make their own databases, nothing here is worth keeping.
if [ -f "$root/data/postmaster.pid" ]; then as_server_user "$bin/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1 || true; fi
rm -rf "$root"
mkdir -p "$root"
[ "$(id -u)" = 0 ] && chown "$run_user" "$root"

port="${MODELHUB_PG_PORT:-}"
if [ -z "$port" ]; then
  port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
fi

as_server_user "$bin/initdb" -D "$root/data" -U modelhub --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 || {
  echo "postgres/start: initdb failed:" >&2; tail -n 20 "$root/initdb.log" >&2; exit 1; }
# Many test files and hub processes connect at once; fsync off: a test cluster need not survive a power cut.
as_server_user "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t "$timeout_s" \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$root -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null || { echo "postgres/start: the server did not start; last log lines:" >&2; tail -n 20 "$root/server.log" >&2 || true; exit 1; }
as_server_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U modelhub modelhub
echo "$port" >"$root/port"
echo "postgres/start: PostgreSQL ready on 127.0.0.1:$port (data in $root/data, log $root/server.log)" >&2
echo "MODELHUB_TEST_DATABASE_URL=$(url_for "$port")"
