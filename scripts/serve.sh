#!/bin/sh
# How the hub runs in production (`npm start`, bench/footprint.ts): the compiled JavaScript in dist/,
# with memory settings measured in bench/README.md ("Footprint"). A hub idles most of its life, and
# with Node's and glibc's defaults it keeps what a burst of requests made it grow to:
# - V8's young generation grows to 2 x 16 MB and stays; 4 MB semi-spaces cost the request path no
#   measurable throughput (short-lived request garbage dies in any size of nursery);
# - glibc gives each thread that allocates (onnxruntime's, libuv's) an arena of its own and keeps
#   freed memory below 32 MB per arena; two arenas and a lower trim threshold return it.
# Each can be overridden from the environment (NODE_OPTIONS flags come before these, so a flag
# given here wins: edit this file to change it).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-131072}"
exec node --enable-source-maps --max-semi-space-size=4 "$(dirname "$0")/../dist/hub-server/server.js" "$@"
