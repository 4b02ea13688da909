#!/usr/bin/env bash
# Make the Docker engine at DOCKER_HOST a one-node Swarm manager if it is not in a swarm yet, for
# MODELHUB_CONTAINERS=swarm and its tests. Prints `MODELHUB_SWARM_STARTED=yes` when it initialised
# the swarm (so the caller knows to `docker swarm leave --force` at the end), `...=no` when the
# engine already was a manager. Advertises 127.0.0.1: nothing outside this machine joins it.
set -euo pipefail
state=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || { echo "start-swarm: the Docker engine at ${DOCKER_HOST:-the default socket} does not answer" >&2; exit 1; }
if [ "$state" = active ]; then
  if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
    echo "start-swarm: this Docker engine is a swarm worker, not a manager" >&2
    exit 1
  fi
  echo "MODELHUB_SWARM_STARTED=no"
  exit 0
fi
docker swarm init --advertise-addr 127.0.0.1 >&2
echo "MODELHUB_SWARM_STARTED=yes"
