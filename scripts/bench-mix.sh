#!/usr/bin/env bash
# The audio benchmark: the "mix job" of ../shared/bench/README.md run by the Rust engine
# (`mixjob`, release build) beside the ffmpeg and pydub/librosa baselines, on fixtures made by the
# bench's make_fixtures.sh, every output checked by its verify.py, timed by its run_bench.sh
# (/usr/bin/time -v: wall time and peak RSS; medians of RUNS runs).
#
#   scripts/bench-mix.sh [D ...]            durations in minutes (default: 1 10 60)
#   env: CASES="rust ffmpeg pydub_librosa"  RUNS=3  BENCH=../shared/bench  DUBBENCH_DIR=/tmp/dubbench  BENCH_VENV
#        RUST_ARGS="--encoder ffmpeg"       extra mixjob arguments (e.g. `--encoder ffmpeg-fast`, `--jobs 1`)
#
# Prints the median table (summarize.py) at the end; raw runs in $DUBBENCH_DIR/results/raw.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bench-lib.sh"
DURATIONS=("${@:-1 10 60}")
[ $# -eq 0 ] && DURATIONS=(1 10 60)
CASES="${CASES:-rust ffmpeg pydub_librosa}"

bench_setup
# run_bench.sh warms every case up at D=1 first.
bench_fixtures 1 "${DURATIONS[@]}"
MIXJOB="$(bench_mixjob)"

# run_bench.sh knows the Rust engine as its `custom` case.
bench_cases="${CASES//rust/custom}"
CASES="$bench_cases" CUSTOM_CMD="$MIXJOB {seg} {out} ${RUST_ARGS:-}" \
  "$BENCH/run_bench.sh" "${DURATIONS[@]}"
python3 "$BENCH/summarize.py" "$DUBBENCH_DIR/results/raw.jsonl"
