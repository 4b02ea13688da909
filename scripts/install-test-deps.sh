#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine: Debian packages (Python runtimes,
# Docker, debootstrap, Ceph's radosgw as a real S3 server, Chromium for browser tests) and the npm
# packages of the lock file. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  python3 python3-numpy python3-sklearn python3-joblib python3-torch python3-h5py python3-onnx
  python3-pytest python3-venv python3-pip python3-setuptools
  docker.io debootstrap docker-registry docker-compose
  radosgw ceph-mon ceph-osd ceph-common
  chromium
  postgresql haproxy
  slurm-wlm munge
  libxml2-utils
  curl
  git
)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime-node's install script would fetch a CUDA add-on; the CPU build ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
