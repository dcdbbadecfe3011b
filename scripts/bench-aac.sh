#!/usr/bin/env bash
# The AAC encoders side by side on the audio bench's mix job (../shared/bench): for each bitrate
# and encoder, the engine's `mixjob` (release) runs RUNS times and the median of its mux stage
# (the parallel encode plus the MP4 mux) is printed beside the encode's objective quality
# against the mix it encoded (scripts/aac-quality.py: segmental SNR, log-spectral distance,
# wideband PESQ) and the bitrate the encoder really spent.
#
#   scripts/bench-aac.sh [D]      the fixture's duration in minutes (default 10)
#   env: RUNS=3  BITRATES="96k 128k"  ENCODERS="fdk ffmpeg ffmpeg-fast"  JOBS (default: per core)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bench-lib.sh"
D="${1:-10}"
RUNS="${RUNS:-3}"
BITRATES="${BITRATES:-96k 128k}"
ENCODERS="${ENCODERS:-fdk ffmpeg ffmpeg-fast}"

bench_setup
bench_fixtures "$D"
MIXJOB="$(bench_mixjob)"
OUT="$DUBBENCH_DIR/aac"
mkdir -p "$OUT"
jobs_arg=()
[ -n "${JOBS:-}" ] && jobs_arg=(--jobs "$JOBS")

printf '| D | bitrate | encoder | mux s (median of %s) | runs | kbit/s spent | seg. SNR dB | LSD dB | PESQ-WB |\n' "$RUNS"
printf '|---|---|---|---|---|---|---|---|---|\n'
for bitrate in $BITRATES; do
  for encoder in $ENCODERS; do
    dir="$OUT/$encoder-$bitrate"
    times=()
    for _ in $(seq "$RUNS"); do
      times+=("$("$MIXJOB" "$DUBBENCH_DIR/segments_$D.json" "$dir" --encoder "$encoder" \
        --bitrate "$bitrate" "${jobs_arg[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings_s"]["mux"])')")
    done
    median="$(printf '%s\n' "${times[@]}" | python3 -c 'import sys,statistics; print(f"{statistics.median(float(x) for x in sys.stdin):.2f}")')"
    all="$(printf '%s\n' "${times[@]}" | python3 -c 'import sys; print(", ".join(f"{float(x):.2f}" for x in sys.stdin))')"
    ffmpeg -nostdin -v error -y -i "$dir/out.mp4" -vn -c:a pcm_s16le "$dir/decoded.wav"
    kbps="$(ffprobe -v error -select_streams a -show_entries stream=bit_rate -of csv=p=0 "$dir/out.mp4" | awk '{printf "%.1f", $1/1000}')"
    quality="$(python3 "$ROOT/scripts/aac-quality.py" "$dir/mix.wav" "$dir/decoded.wav")"
    python3 - "$D" "$bitrate" "$encoder" "$median" "$all" "$kbps" "$quality" <<'PY'
import json, sys
d, bitrate, encoder, median, runs, kbps, q = sys.argv[1:]
q = json.loads(q)
assert q["lag"] == 0, f"{encoder}: decoded audio shifted by {q['lag']} samples"
print(f"| {d} | {bitrate} | {encoder} | {median} | {runs} | {kbps} | {q['seg_snr_db']} | {q['lsd_db']} | {q['pesq_wb']} |")
PY
    rm -f "$dir/decoded.wav"
  done
done
