#!/usr/bin/env bash
# Installs the Debian packages a single-node Ceph radosgw needs (run as root). start.sh only checks
# that they are there, so CI pays for the install once and the tests never run apt themselves.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/radosgw/install.sh: run as root (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common; then
  apt-get update
  apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common
fi
