#!/usr/bin/env bash
# The re-render benchmark (issue 23): a one-line re-render of a 10-minute video against its first
# dub, through the real REST API on the local stack, server built in release mode. Not part of the
# test command. Prints each run and the medians.
#
#   scripts/bench-rerender.sh
#   env: RUNS=3  MINUTES=10
#        VOICE=<voice id>  the default voice (espeak-ng) unless set; local-jf_alpha is a neural
#                          (Kokoro) voice that speaks the benchmark's Spanish
#        PROFILE=release   or dev: the build the main job and the tests use (engine optimised)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bench-lib.sh"
bench_stack
PROFILE="${PROFILE:-release}"
case "$PROFILE" in
  release) cargo build -q --release -p onevoice-tests --bin bench-rerender ;;
  dev) cargo build -q -p onevoice-tests --bin bench-rerender; PROFILE=debug ;;
  *) echo "PROFILE is release or dev" >&2; exit 2 ;;
esac
"$CARGO_TARGET_DIR/$PROFILE/bench-rerender"
