#!/usr/bin/env bash
# One command for every test: installs what the tests need (scripts/install-test-deps.sh), checks
# types and style, then runs the unit and end-to-end suites. Suites that need Docker or S3 start
# those services themselves (scripts/docker, scripts/radosgw) and stop them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
export ONNXRUNTIME_NODE_INSTALL=skip
echo "== typecheck"; npx tsc --noEmit
echo "== lint"; npx eslint .
echo "== tests"; npx vitest run "$@"
