#!/usr/bin/env bash
# One command for every test: installs what the tests need (scripts/install-test-deps.sh), starts
# the services the suites use (a Docker daemon, a single-node Ceph radosgw as the S3 server), checks
# types and style, runs the unit, contract and end-to-end suites, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
export ONNXRUNTIME_NODE_INSTALL=skip
# Plain logs: CI reads them as text.
export NO_COLOR=1

started_docker=""
started_postgres=""
cleanup() {
  if [ -n "$started_docker" ]; then bash scripts/docker/stop-dockerd.sh >/dev/null 2>&1 || true; fi
  if [ -n "$started_postgres" ]; then bash scripts/postgres/stop.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== services"
if ! docker version >/dev/null 2>&1; then started_docker=yes; fi
# A Docker that cannot start fails the Docker suites (with the reason), not every other test.
if docker_env=$(bash scripts/docker/start-dockerd.sh); then
  eval "export $docker_env"
  echo "Docker: $DOCKER_HOST"
else
  echo "Docker could not be started: the Docker suites will fail and say why"
fi

# PostgreSQL for the PostgreSQL adapters' contract suites and the replica e2e tests (they fail,
# rather than skip, under CI=true when MODELHUB_TEST_DATABASE_URL is missing).
if [ -z "${MODELHUB_TEST_DATABASE_URL:-}" ]; then
  if postgres_env=$(bash scripts/postgres/start.sh); then
    started_postgres=yes
    eval "export $postgres_env"
    echo "PostgreSQL: $MODELHUB_TEST_DATABASE_URL"
  else
    echo "PostgreSQL could not be started: the PostgreSQL suites will fail and say why"
  fi
fi

echo "== typecheck"; npx tsc --noEmit
echo "== lint"; npx eslint .
echo "== tests"
mkdir -p test-output
status=0
rm -f test-output/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@" || status=$?
if [ ! -f test-output/vitest.json ]; then
  # No report means the test runner itself died (a worker aborted by a native library as it
  # exited), not that a test failed: say so, and run the suite once more.
  echo "== the test runner stopped before it could report (see above); running the suite again"
  status=0
  npx vitest run --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@" || status=$?
fi
# The plain closing line CI reads: "N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit $status
