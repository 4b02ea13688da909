#!/usr/bin/env bash
# Stop the one-node Slurm cluster scripts/slurm/start.sh started from MODELHUB_SLURM_ROOT (default
# /tmp/modelhub-slurm), cancel its jobs, and remove the folder. munged is left running (other
# clusters on the machine may use it).
set -euo pipefail
root="${MODELHUB_SLURM_ROOT:-/tmp/modelhub-slurm}"
[ -d "$root" ] || exit 0
if [ -f "$root/slurm.conf" ]; then SLURM_CONF="$root/slurm.conf" timeout 10 scancel --full --quiet --user=root 2>/dev/null || true; fi
for daemon in slurmd slurmctld; do
  if [ -f "$root/$daemon.pid" ]; then
    pid="$(cat "$root/$daemon.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
done
rm -rf "$root"
