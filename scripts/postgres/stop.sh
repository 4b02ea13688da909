#!/usr/bin/env bash
# Stop the PostgreSQL that scripts/postgres/start.sh started and remove its temporary folder.
set -euo pipefail

root="${MODELHUB_PG_ROOT:-/tmp/modelhub-postgres}"
bin="${MODELHUB_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ -f "$root/data/postmaster.pid" ]; then
  if [ "$(id -u)" = 0 ]; then
    runuser -u modelhub-pg -- "$bin/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1 || true
  else
    "$bin/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
else
  echo "postgres/stop: no server started by start.sh is running ($root/data/postmaster.pid absent)" >&2
fi
rm -rf "$root"
echo "postgres/stop: done" >&2
