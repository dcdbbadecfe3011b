#!/usr/bin/env bash
# The audio benchmark: the "mix job" of ../shared/bench/README.md run by the Rust engine
# (`mixjob`, release build) beside the ffmpeg and pydub/librosa baselines, on fixtures made by the
# bench's make_fixtures.sh, every output checked by its verify.py, timed by its run_bench.sh
# (/usr/bin/time -v: wall time and peak RSS; medians of RUNS runs).
#
#   scripts/bench-mix.sh [D ...]            durations in minutes (default: 1 10 60)
#   env: CASES="rust ffmpeg pydub_librosa"  RUNS=3  BENCH=../shared/bench  DUBBENCH_DIR=/tmp/dubbench
#        RUST_ARGS="--coder twoloop"        extra mixjob arguments (e.g. `--coder fast`, `--jobs 1`)
#
# Prints the median table (summarize.py) at the end; raw runs in $DUBBENCH_DIR/results/raw.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${BENCH:-$ROOT/../shared/bench}"
BENCH="$(cd "$BENCH" && pwd)"
export DUBBENCH_DIR="${DUBBENCH_DIR:-/tmp/dubbench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"
VENV="${BENCH_VENV:-/var/tmp/onevoice-bench-venv}"
DURATIONS=("${@:-1 10 60}")
[ $# -eq 0 ] && DURATIONS=(1 10 60)
CASES="${CASES:-rust ffmpeg pydub_librosa}"

log() { printf '\033[1;34m[bench]\033[0m %s\n' "$*" >&2; }

missing=()
for pkg in ffmpeg sox espeak-ng time; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV (numpy, scipy, pydub, librosa, soundfile for the baselines and verify.py)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy scipy pydub librosa soundfile
fi
export PATH="$VENV/bin:$PATH"

for d in "${DURATIONS[@]}"; do
  if [ ! -f "$DUBBENCH_DIR/segments_$d.json" ]; then
    log "fixtures for D=$d"
    "$BENCH/make_fixtures.sh" "$d"
  fi
done

log "building mixjob (release)"
(cd "$ROOT" && cargo build -q --release -p onevoice-engine --bin mixjob)
MIXJOB="$CARGO_TARGET_DIR/release/mixjob"

# run_bench.sh knows the Rust engine as its `custom` case.
bench_cases="${CASES//rust/custom}"
CASES="$bench_cases" CUSTOM_CMD="$MIXJOB {seg} {out} ${RUST_ARGS:-}" \
  "$BENCH/run_bench.sh" "${DURATIONS[@]}"
python3 "$BENCH/summarize.py" "$DUBBENCH_DIR/results/raw.jsonl"
