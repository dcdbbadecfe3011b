#!/usr/bin/env bash
# The offline profile's benchmark: every local voice's synthesis real-time factor and
# intelligibility (the local recognizer's word or character error rate on what it said), and the
# recognizer's real-time factor, against the local speech services of the stack. Prints a table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
cargo build -q -p onevoice-api -p onevoice-tests --bins
"$CARGO_TARGET_DIR/debug/bench-local-speech"
