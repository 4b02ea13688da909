#!/usr/bin/env bash
# Start a Docker daemon for modelhub if none answers, wait until it is ready, and print
# `DOCKER_HOST=unix://...` on stdout (everything else goes to stderr), so callers can
#   eval "export $(scripts/docker/start-dockerd.sh)"
# The daemon's data lives under a temporary folder (MODELHUB_DOCKER_ROOT, default
# /tmp/modelhub-docker) so a CI machine needs no configuration; images built there (the hub's
# cached base images) survive until that folder is removed.
set -euo pipefail

root="${MODELHUB_DOCKER_ROOT:-/tmp/modelhub-docker}"
timeout_s="${MODELHUB_DOCKER_START_TIMEOUT:-60}"

answers() { DOCKER_HOST="$1" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# An engine that already answers (the caller's DOCKER_HOST, the default socket, or ours) is used.
for candidate in "${DOCKER_HOST:-}" "unix:///var/run/docker.sock" "unix://$root/docker.sock"; do
  if [ -n "$candidate" ] && answers "$candidate"; then
    echo "DOCKER_HOST=$candidate"
    exit 0
  fi
done

command -v dockerd >/dev/null || { echo "start-dockerd: dockerd is not installed (apt-get install -y docker.io)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  echo "start-dockerd: dockerd must be started as root (or start a rootless daemon and set DOCKER_HOST)" >&2
  exit 1
fi

mkdir -p "$root/data" "$root/exec"
host="unix://$root/docker.sock"
rm -f "$root/docker.sock"
# setsid: the daemon outlives this script and the test process that may have started it.
setsid dockerd \
  --data-root "$root/data" \
  --exec-root "$root/exec" \
  --pidfile "$root/dockerd.pid" \
  --host "$host" \
  --storage-driver overlay2 \
  >"$root/dockerd.log" 2>&1 </dev/null &

deadline=$((SECONDS + timeout_s))
until answers "$host"; do
  if [ $SECONDS -ge $deadline ]; then
    echo "start-dockerd: dockerd did not answer on $host within ${timeout_s}s; last log lines:" >&2
    tail -n 20 "$root/dockerd.log" >&2 || true
    exit 1
  fi
  if [ -f "$root/dockerd.pid" ] && ! kill -0 "$(cat "$root/dockerd.pid")" 2>/dev/null; then
    echo "start-dockerd: dockerd exited; last log lines:" >&2
    tail -n 20 "$root/dockerd.log" >&2 || true
    exit 1
  fi
  sleep 0.3
done
echo "start-dockerd: dockerd ready on $host (data under $root/data, log $root/dockerd.log)" >&2
echo "DOCKER_HOST=$host"
