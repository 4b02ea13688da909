#!/usr/bin/env bash
# Start a throwaway single-node Ceph radosgw (S3) in DIR for tests: one monitor, one memstore OSD,
# radosgw on 127.0.0.1:RGW_PORT, auth off. Idempotent: if DIR already holds a running gateway that
# answers, it only prints the credentials again. Packages come from install.sh; this only checks.
#
#   scripts/radosgw/start.sh DIR            # RGW_PORT (7480), MON_PORT (RGW_PORT + 10000),
#                                           # MEMSTORE_MB (2048), RGW_READY_TIMEOUT (120)
#
# On success prints shell assignments (also written to DIR/credentials.env):
#   MODELHUB_TEST_S3_ENDPOINT=http://127.0.0.1:7480
#   MODELHUB_TEST_S3_ACCESS_KEY=...
#   MODELHUB_TEST_S3_SECRET_KEY=...
set -euo pipefail

DIR=${1:?usage: start.sh DIR}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-$((RGW_PORT + 10000))}
MEMSTORE_MB=${MEMSTORE_MB:-2048}
READY_TIMEOUT=${RGW_READY_TIMEOUT:-120}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "radosgw: $tool is not installed; run scripts/radosgw/install.sh as root" >&2
    exit 2
  fi
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF="$DIR/ceph.conf"
CREDS="$DIR/credentials.env"
if [ -f "$CREDS" ]; then
  # A cluster already lives here: its gateway keeps the port it was started with.
  RGW_PORT=$(sed -n 's#^MODELHUB_TEST_S3_ENDPOINT=http://127.0.0.1:\([0-9]*\)$#\1#p' "$CREDS")
fi
ENDPOINT="http://127.0.0.1:$RGW_PORT"

# Answers "200"/"403"/... when something speaks HTTP on the port; bash's /dev/tcp keeps curl optional.
http_status() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$RGW_PORT" || exit 0
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r -t 5 _ status _ <&3 || true
    echo "${status:-}"
  ) 2>/dev/null
}

# Running, and not a zombie: a killed daemon whose parent never reaps it still answers kill -0.
running() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
alive() { [ -f "$1" ] && running "$(cat "$1")"; }

fail() {
  echo "radosgw: $1" >&2
  for log in "$DIR"/log/*.log "$DIR"/log/daemons.err; do
    [ -f "$log" ] || continue
    echo "--- last lines of $log" >&2
    tail -n 15 "$log" >&2
  done
  exit 1
}

# radosgw runs in the foreground of its own session, so its pid is known at once (a daemonized one
# writes its pid file only after it has reached the monitor) and it outlives this script.
start_gateway() {
  rm -f "$DIR/run/client.rgw.a.pid" "$DIR/run/client.rgw.a.asok"
  setsid radosgw -f -c "$CONF" -n client.rgw.a </dev/null >>"$DIR/log/daemons.err" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/run/client.rgw.a.pid"
  local deadline=$((SECONDS + READY_TIMEOUT))
  until [ -n "$(http_status)" ]; do
    [ $SECONDS -lt $deadline ] || fail "S3 did not answer on $ENDPOINT within ${READY_TIMEOUT}s"
    running "$pid" || fail "radosgw exited"
    sleep 0.25
  done
}

if [ -f "$CREDS" ] && alive "$DIR/run/mon.a.pid" && alive "$DIR/run/osd.0.pid"; then
  # Only the gateway is down (a test stopped it): start it again on the same cluster and user.
  alive "$DIR/run/client.rgw.a.pid" || start_gateway
  cat "$CREDS"
  exit 0
fi

if [ -n "$(http_status)" ]; then
  echo "radosgw: port $RGW_PORT is already taken by another server; set RGW_PORT" >&2
  exit 3
fi

# A half-started cluster from an earlier try is not worth repairing: stop it and start over.
for pidfile in "$DIR"/run/*.pid; do
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
rm -rf "$DIR/run" "$DIR/mon" "$DIR/osd" "$DIR/log" "$DIR/rgw" "$CREDS" "$CONF"
mkdir -p "$DIR/run" "$DIR/mon/mon.a" "$DIR/osd/osd.0" "$DIR/log" "$DIR/rgw"

FSID=$(cat /proc/sys/kernel/random/uuid)
sed -e "s#@DIR@#$DIR#g" -e "s#@FSID@#$FSID#g" -e "s#@MON_PORT@#$MON_PORT#g" \
  -e "s#@RGW_PORT@#$RGW_PORT#g" -e "s#@MEMSTORE_BYTES@#$((MEMSTORE_MB * 1024 * 1024))#g" \
  "$HERE/ceph.conf.template" >"$CONF"

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }

monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >/dev/null 2>&1 || fail "ceph-mon --mkfs failed"
ceph-mon -c "$CONF" -i a 2>>"$DIR/log/daemons.err" || fail "ceph-mon did not start"

OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph_cli osd new "$OSD_UUID") || fail "the monitor did not answer 'osd new'"
[ "$OSD_ID" = 0 ] || fail "expected osd id 0, got $OSD_ID"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >/dev/null 2>&1 || fail "ceph-osd --mkfs failed"
ceph-osd -c "$CONF" -i 0 2>>"$DIR/log/daemons.err" || fail "ceph-osd did not start"

start_gateway

ACCESS_KEY="MH$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
SECRET_KEY=$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n')
timeout 60 radosgw-admin -c "$CONF" -n client.rgw.a user create --uid=modelhub-test \
  --display-name="modelhub tests" --admin-socket="$DIR/run/radosgw-admin.asok" --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >/dev/null \
  || fail "radosgw-admin user create failed"

cat >"$CREDS.tmp" <<EOF
MODELHUB_TEST_S3_ENDPOINT=$ENDPOINT
MODELHUB_TEST_S3_ACCESS_KEY=$ACCESS_KEY
MODELHUB_TEST_S3_SECRET_KEY=$SECRET_KEY
EOF
mv "$CREDS.tmp" "$CREDS"
cat "$CREDS"
