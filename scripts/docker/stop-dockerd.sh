#!/usr/bin/env bash
# Stop the daemon that start-dockerd.sh started (found by its pid file); leaves any other engine
# alone. MODELHUB_DOCKER_PURGE=true also removes its data (including the cached base images).
set -euo pipefail

root="${MODELHUB_DOCKER_ROOT:-/tmp/modelhub-docker}"
pidfile="$root/dockerd.pid"
pid=""
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
else
  echo "stop-dockerd: no daemon started by start-dockerd.sh is running ($pidfile absent)" >&2
fi
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop-dockerd: dockerd $pid did not stop in 20s; killing it" >&2
    kill -KILL "$pid" || true
  fi
fi
rm -f "$pidfile" "$root/docker.sock"
if [ "${MODELHUB_DOCKER_PURGE:-false}" = true ]; then
  rm -rf "$root/data" "$root/exec"
fi
echo "stop-dockerd: done" >&2
