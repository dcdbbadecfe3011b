#!/usr/bin/env bash
# The system benchmark (issue 25): whole offline dubs (espeak-ng and Apertium unless VOICE names a
# neural voice) of the audio bench's 10- and 60-minute videos through the real REST API on the
# local stack (tests/src/bin/bench-dub.rs). Not part of the test command. Prints per-step times,
# the share of lines inside their slot and the server's peak memory.
#
#   scripts/bench-dub.sh [MINUTES ...]     default: 10 60
#   env: RUNS=3  VOICE=<voice id> (e.g. local-jf_alpha)  DUBBENCH_DIR=/tmp/dubbench
#        WORKERS=n: the work on n `onevoice worker` processes, one core each (PIN=0: any core)
#        FAKE_TTS_MS=t: a fake provider voice answering every line in t ms
#        PROFILE=dev (default: the build the main job and the tests use, engine optimised) or release
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bench-lib.sh"
MINUTES=("$@")
[ $# -eq 0 ] && MINUTES=(10 60)
bench_setup
bench_fixtures "${MINUTES[@]}"
bench_stack
PROFILE="${PROFILE:-dev}"
case "$PROFILE" in
  release) cargo build -q --release -p onevoice-tests --bin bench-dub -p onevoice-api --bin onevoice; dir=release ;;
  dev) cargo build -q -p onevoice-tests --bin bench-dub -p onevoice-api --bin onevoice; dir=debug ;;
  *) echo "PROFILE is dev or release" >&2; exit 2 ;;
esac
for m in "${MINUTES[@]}"; do
  # One process per duration, so each peak memory is its own.
  MINUTES="$m" "$CARGO_TARGET_DIR/$dir/bench-dub"
done
