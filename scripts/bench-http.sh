#!/usr/bin/env bash
# The HTTP benchmark of the read routes (issue 25): a fixed rate of requests from an open-loop load
# generator against the API built in release mode, on the local stack (tests/src/bin/bench-http.rs).
# Not part of the test command. Prints p50/p90/p99/max latency per route.
#
#   scripts/bench-http.sh
#   env: RATE=500  SECONDS=20  VIDEOS=20
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
export RUST_LOG="${RUST_LOG:-warn}"
cargo build -q --release -p onevoice-tests --bin bench-http
"$CARGO_TARGET_DIR/release/bench-http"
