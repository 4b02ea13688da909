#!/usr/bin/env bash
# Start a throw-away one-node Slurm cluster (Debian's `slurm-wlm` and `munge`) for modelhub's
# compute endpoint tests, wait until its node is idle, and print `SLURM_CONF=...` on stdout
# (everything else goes to stderr), so callers can
#   eval "export $(scripts/slurm/start.sh)"
# Everything lives in a temporary folder (MODELHUB_SLURM_ROOT, default /tmp/modelhub-slurm): the
# slurm.conf (SlurmUser=root, private ports, proctrack/linuxproc, task/none, select/cons_tres, one
# node with CPUs=2 in a default partition `debug`), state, spool, pid and log files. munged is
# started if none answers (its key is made when the package installs). Run as root.
set -euo pipefail

root="${MODELHUB_SLURM_ROOT:-/tmp/modelhub-slurm}"
timeout_s="${MODELHUB_SLURM_START_TIMEOUT:-60}"
conf="$root/slurm.conf"

for tool in slurmctld slurmd munged sinfo; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "slurm/start: $tool not found (apt-get install -y slurm-wlm munge)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "slurm/start: run as root (SlurmUser=root)" >&2; exit 1; }

# Already running from this folder: reuse it.
if [ -f "$conf" ] && SLURM_CONF="$conf" timeout 5 sinfo -h -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; then
  echo "slurm/start: reusing the cluster of $conf" >&2
  echo "SLURM_CONF=$conf"
  exit 0
fi

# munge: Slurm's authentication. One daemon serves every cluster on the machine.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  runuser -u munge -- /usr/sbin/munged >&2 || /usr/sbin/munged --force >&2
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "slurm/start: munged does not answer" >&2; exit 1; }
fi

# A fresh cluster each start (stop what this folder ran before).
for daemon in slurmd slurmctld; do
  if [ -f "$root/$daemon.pid" ]; then kill "$(cat "$root/$daemon.pid")" 2>/dev/null || true; fi
done
sleep 0.5
rm -rf "$root"
mkdir -p "$root/state" "$root/spool"

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
host="$(hostname -s)"
cat >"$conf" <<CONF
ClusterName=modelhub
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/slurmctld.pid
SlurmdPidFile=$root/slurmd.pid
SlurmctldLogFile=$root/slurmctld.log
SlurmdLogFile=$root/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
KillWait=5
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$conf"
/usr/sbin/slurmctld -f "$conf" >&2
/usr/sbin/slurmd -f "$conf" >&2
for _ in $(seq 1 $((timeout_s * 5))); do
  if sinfo -h -o %t 2>/dev/null | grep -Eq '^idle'; then
    echo "slurm/start: one-node cluster up ($conf)" >&2
    echo "SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
echo "slurm/start: the node did not become idle in ${timeout_s}s:" >&2
sinfo >&2 || true
tail -n 20 "$root/slurmctld.log" "$root/slurmd.log" >&2 || true
exit 1
