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
source "$ROOT/scripts/bench-lib.sh"
bench_stack
cargo build -q --release -p onevoice-tests --bin bench-http
"$CARGO_TARGET_DIR/release/bench-http"
