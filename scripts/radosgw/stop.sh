#!/usr/bin/env bash
# Stop the test Ceph that start.sh started in DIR and remove DIR. Only the daemons whose pid files
# are in DIR/run are stopped, so gateways of other test runs on the same machine are left alone.
set -uo pipefail

DIR=${1:?usage: stop.sh DIR}
[ -d "$DIR" ] || exit 0

pids=()
for name in client.rgw.a osd.0 mon.a; do
  pidfile="$DIR/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
done

# The cluster is throwaway (memstore): a second for a clean exit, then make sure.
for _ in $(seq 1 8); do
  still=0
  # A zombie (killed, never reaped by its parent) counts as gone.
  for pid in "${pids[@]}"; do
    [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null && still=1
  done
  [ $still = 0 ] && break
  sleep 0.125
done
for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done

rm -rf "$DIR"
