# Shared by the audio benchmarks (bench-mix.sh, bench-aac.sh): sourced, never run.
# Needs ROOT (the repository) set; sets BENCH, DUBBENCH_DIR, CARGO_TARGET_DIR and puts the
# benchmark's Python environment first on PATH.
BENCH="${BENCH:-$ROOT/../shared/bench}"
# (Only the audio benchmarks need it to exist.)
BENCH="$(cd "$BENCH" 2>/dev/null && pwd || echo "$BENCH")"
export DUBBENCH_DIR="${DUBBENCH_DIR:-/tmp/dubbench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"
BENCH_VENV="${BENCH_VENV:-/var/tmp/onevoice-bench-venv}"

log() { printf '\033[1;34m[bench]\033[0m %s\n' "$*" >&2; }

# The Debian tools the fixtures and baselines use, and a venv with the baselines' and checkers'
# packages (numpy, scipy, pydub, librosa, soundfile; pesq for the AAC quality check).
bench_setup() {
  local missing=() pkg
  for pkg in ffmpeg sox espeak-ng time; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -x "$BENCH_VENV/bin/python" ]; then
    log "creating $BENCH_VENV"
    python3 -m venv "$BENCH_VENV"
  fi
  if ! "$BENCH_VENV/bin/python" -c 'import numpy, scipy, pydub, librosa, soundfile, pesq' 2>/dev/null; then
    log "installing the benchmark's Python packages"
    "$BENCH_VENV/bin/pip" install -q numpy scipy pydub librosa soundfile pesq
  fi
  export PATH="$BENCH_VENV/bin:$PATH"
}

# The bench's fixtures for each duration (minutes), made once.
bench_fixtures() {
  local d
  for d in "$@"; do
    if [ ! -f "$DUBBENCH_DIR/segments_$d.json" ]; then
      log "fixtures for D=$d"
      "$BENCH/make_fixtures.sh" "$d"
    fi
  done
}

# The engine's `mixjob` (release); prints its path.
bench_mixjob() {
  log "building mixjob (release)"
  (cd "$ROOT" && cargo build -q --release -p onevoice-engine --bin mixjob)
  echo "$CARGO_TARGET_DIR/release/mixjob"
}

# The local stack up and its environment exported, as the tests have it (for the benchmarks that
# drive the real API).
bench_stack() {
  (cd "$ROOT" && scripts/stack.sh up)
  eval "$(cd "$ROOT" && scripts/stack.sh env)"
  export RUST_LOG="${RUST_LOG:-warn}"
}
