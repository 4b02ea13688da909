#!/usr/bin/env bash
# Runs an image registry as a service on the swarm, so that images the hub builds once can be
# pulled by every node (MODELHUB_SWARM_REGISTRY). No registry image can be pulled here, so the
# image is built from Debian's `docker-registry` package (the Distribution registry 2.8, the same
# program as the registry:2 image): its binary on top of modelhub/base:bookworm. The service
# publishes its port in host mode (the routing mesh does not answer on these machines) and keeps
# its storage in a folder of this node, placed on this node, so it survives restarts.
# Prints `MODELHUB_SWARM_REGISTRY=127.0.0.1:<port>`. Needs a swarm manager at DOCKER_HOST.
#   MODELHUB_SWARM_REGISTRY_PORT  (default 5000)
#   MODELHUB_DOCKER_ROOT          storage under <root>/registry (default /tmp/modelhub-docker)
set -euo pipefail
port="${MODELHUB_SWARM_REGISTRY_PORT:-5000}"
root="${MODELHUB_DOCKER_ROOT:-/tmp/modelhub-docker}"
name=modelhub-registry
image=modelhub/registry:bookworm

[ -x /usr/bin/docker-registry ] || { echo "start-swarm-registry: apt-get install docker-registry first" >&2; exit 1; }
docker image inspect modelhub/base:bookworm >/dev/null 2>&1 || { echo "start-swarm-registry: modelhub/base:bookworm is missing (the hub builds it on first use)" >&2; exit 1; }

if ! docker image inspect "$image" >/dev/null 2>&1; then
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  cp /usr/bin/docker-registry "$context/"
  cat >"$context/config.yml" <<'YAML'
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YAML
  cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM modelhub/base:bookworm
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
EXPOSE 5000
CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
DOCKERFILE
  docker build -q --label modelhub.role=base -t "$image" "$context" >&2
fi

if docker service inspect "$name" >/dev/null 2>&1; then
  # Already running (started by an earlier run): use its port, whatever this run asked for.
  port=$(docker service inspect --format '{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}{{end}}' "$name")
else
  mkdir -p "$root/registry"
  node=$(docker info --format '{{.Swarm.NodeID}}')
  docker service create -d --name "$name" --label modelhub.role=registry \
    --constraint "node.id==$node" \
    --mount "type=bind,source=$root/registry,target=/var/lib/registry" \
    --publish "mode=host,published=$port,target=5000" \
    "$image" >/dev/null 2>&1
fi
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
    echo "MODELHUB_SWARM_REGISTRY=127.0.0.1:$port"
    exit 0
  fi
  sleep 0.2
done
echo "start-swarm-registry: the registry did not answer on 127.0.0.1:$port within 30 s:" >&2
docker service ps --no-trunc "$name" >&2 || true
exit 1
