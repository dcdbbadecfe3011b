#!/usr/bin/env bash
# The main job: starts the whole local stack and OneVoice (API + worker), generates a sample
# video of natural speech with the local voices, and dubs it through the real REST API without a
# transcript (presigned upload, dub request, progress polling, presigned download): the local
# recognizer hears it, Apertium translates, a local neural voice speaks. Prints the recognized
# transcript beside the translation and where the result is.
#
# SOURCE_LANGUAGE (es | en, default es), TARGET_LANGUAGE (default en) and VOICE (default: the
# target's best local voice) choose the pair; the offline profile's best is Spanish → English.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"
SOURCE_LANGUAGE="${SOURCE_LANGUAGE:-es}"
TARGET_LANGUAGE="${TARGET_LANGUAGE:-en}"
case "$TARGET_LANGUAGE" in
  en) VOICE="${VOICE:-local-joe}" ;;
  ja) VOICE="${VOICE:-local-jf_alpha}" ;;
  es) VOICE="${VOICE:-local-jm_kumo}" ;;
  *) VOICE="${VOICE:-espeak-$TARGET_LANGUAGE-f}" ;;
esac

say() { printf '\033[1;32m[dub-sample]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[dub-sample] %s\033[0m\n' "$*" >&2; exit 1; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

scripts/stack.sh up
eval "$(scripts/stack.sh env)"

say "building onevoice"
cargo build -q -p onevoice-api -p onevoice-tests --bins
BIN="$CARGO_TARGET_DIR/debug"
API="http://$API_BIND"

# A OneVoice started by an earlier run with an older build is restarted.
if [[ -f $ONEVOICE_STACK_DIR/onevoice.pid && "$BIN/onevoice" -nt $ONEVOICE_STACK_DIR/onevoice.pid ]]; then
  say "restarting onevoice with the new build"
  kill "$(cat $ONEVOICE_STACK_DIR/onevoice.pid)" 2>/dev/null || true
  for _ in $(seq 50); do curl -fsS "$API/health" >/dev/null 2>&1 || break; sleep 0.2; done
fi
if ! curl -fsS "$API/health" >/dev/null 2>&1; then
  say "starting onevoice dev (API + worker) on $API; log: $ONEVOICE_STACK_DIR/logs/onevoice.log"
  nohup setsid "$BIN/onevoice" dev >$ONEVOICE_STACK_DIR/logs/onevoice.log 2>&1 </dev/null &
  echo $! >$ONEVOICE_STACK_DIR/onevoice.pid
fi
deadline=$((SECONDS + 60))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$API/health/detailed")" == 200 ]]; do
  ((SECONDS < deadline)) || die "OneVoice did not become healthy (see $ONEVOICE_STACK_DIR/logs/onevoice.log)"
  sleep 0.5
done

WORK="$ONEVOICE_STACK_DIR/sample"
say "generating a sample video: $SOURCE_LANGUAGE speech by a local neural voice, ffmpeg"
"$BIN/make-sample" "$WORK" "$SOURCE_LANGUAGE" >/dev/null
# Sign in as the demo user; on the first run, sign up and verify through the emailed link.
DEMO_EMAIL="${DEMO_EMAIL:-demo@onevoice.local}"
DEMO_PASSWORD="onevoice-demo-password"
login() {
  curl -sS -H 'Content-Type: application/json' \
    -d "{\"email\": \"$DEMO_EMAIL\", \"password\": \"$DEMO_PASSWORD\"}" "$API/api/auth/login"
}
TOKEN="$(login | json 'd.get("access_token", "")')"
if [[ -z "$TOKEN" ]]; then
  say "signing up $DEMO_EMAIL"
  code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Accept-Language: en' \
    -d "{\"email\": \"$DEMO_EMAIL\", \"password\": \"$DEMO_PASSWORD\", \"username\": \"${DEMO_EMAIL%%@*}\"}" \
    "$API/api/auth/signup")"
  if [[ "$code" == 202 ]]; then
    say "reading the verification email from the SMTP sink ($MAILDIR)"
    VERIFY_TOKEN="$(python3 "$ROOT/scripts/read_token.py" "$MAILDIR" "$DEMO_EMAIL" 60)"
    TOKEN="$(curl -fsS -H 'Content-Type: application/json' -d "\"$VERIFY_TOKEN\"" "$API/api/auth/verify-email" |
      json 'd["access_token"]')"
    say "email verified; signed in"
  elif [[ "$code" == 409 ]]; then
    # The account exists with another password: reset it through the emailed link.
    say "resetting the demo password through the emailed reset link"
    before="$(date +%s)"
    curl -fsS -H 'Content-Type: application/json' -d "{\"email\": \"$DEMO_EMAIL\"}" \
      "$API/api/auth/forgot-password" >/dev/null
    RESET_TOKEN="$(python3 "$ROOT/scripts/read_token.py" "$MAILDIR" "$DEMO_EMAIL" 60 "$before")"
    curl -fsS -H 'Content-Type: application/json' \
      -d "{\"token\": \"$RESET_TOKEN\", \"new_password\": \"$DEMO_PASSWORD\"}" \
      "$API/api/auth/reset-password" >/dev/null
    TOKEN="$(login | json 'd["access_token"]')"
  else
    die "signup failed with HTTP $code"
  fi
fi
auth=(-H "Authorization: Bearer $TOKEN")

say "requesting an upload URL"
SIZE="$(stat -c %s "$WORK/sample.mp4")"
upload="$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"filename\": \"onevoice-sample.mp4\", \"content_type\": \"video/mp4\", \"size\": $SIZE}" \
  "$API/api/videos/upload-url")"
VIDEO_ID="$(json 'd["video_id"]' <<<"$upload")"
UPLOAD_URL="$(json 'd["upload_url"]' <<<"$upload")"
curl -fsS -X PUT -H 'Content-Type: video/mp4' --upload-file "$WORK/sample.mp4" "$UPLOAD_URL" >/dev/null
curl -fsS -X POST "${auth[@]}" "$API/api/videos/$VIDEO_ID/complete" >/dev/null
say "uploaded video $VIDEO_ID straight to S3; probing it"
deadline=$((SECONDS + 120))
while :; do
  video="$(curl -fsS "${auth[@]}" "$API/api/videos/$VIDEO_ID")"
  case "$(json 'd["status"]' <<<"$video")" in
    uploaded) break ;;
    failed) die "upload rejected: $(json 'd["status_reason"]' <<<"$video")" ;;
  esac
  ((SECONDS < deadline)) || die "the upload was not processed within 2 minutes"
  sleep 0.5
done
say "  $(json '"%.2f s, %s, %s/%s" % (d["duration"], d["media"]["resolution"], d["media"]["video_codec"], d["media"]["audio_codec"])' <<<"$video")"

quote="$(curl -fsS "${auth[@]}" "$API/api/videos/$VIDEO_ID/quote")"
if [[ "$(json 'd["sufficient"]' <<<"$quote")" != True ]]; then
  # The demo account has spent its welcome credits on earlier runs: top it up as an operator would.
  "$BIN/onevoice" grant-credits --email "$DEMO_EMAIL" --amount 100 --reason "demo top-up" >&2
fi
say "quote: $(json 'd["credits"]' <<<"$quote") credits"
# No transcript: the speech is recognized (the local recognizer when no paid one is configured).
request="$(python3 -c 'import json,sys; print(json.dumps({"target_language": sys.argv[1],
  "source_language": sys.argv[2], "voice_id": sys.argv[3]}))' "$TARGET_LANGUAGE" "$SOURCE_LANGUAGE" "$VOICE")"
response="$(curl -sS -w '\n%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' -d "$request" \
  "$API/api/videos/$VIDEO_ID/dub")"
code="${response##*$'\n'}"
job="${response%$'\n'*}"
[[ "$code" == 202 ]] || die "the dub request was refused (HTTP $code): $job"
JOB_ID="$(json 'd["job_id"]' <<<"$job")"
say "dubbing job $JOB_ID started (Temporal workflow dub-$JOB_ID), $SOURCE_LANGUAGE → $TARGET_LANGUAGE with $VOICE"

deadline=$((SECONDS + 600))
last=""
while :; do
  status="$(curl -fsS "${auth[@]}" "$API/api/videos/$VIDEO_ID/status")"
  line="$(json '"%s %5.1f%%" % (d["status"], d["progress"])' <<<"$status")"
  [[ "$line" == "$last" ]] || say "  $line"
  last="$line"
  case "$(json 'd["status"]' <<<"$status")" in
    completed) break ;;
    failed | cancelled) die "job ended: $(json 'd["error_message"]' <<<"$status")" ;;
  esac
  ((SECONDS < deadline)) || die "job did not finish within 10 minutes"
  sleep 1
done

download="$(curl -fsS "${auth[@]}" "$API/api/videos/$VIDEO_ID/download?file_type=dubbed_video&language=$TARGET_LANGUAGE")"
URL="$(json 'd["download_url"]' <<<"$download")"
mkdir -p "$ONEVOICE_STACK_DIR/output"
OUT="$ONEVOICE_STACK_DIR/output/onevoice-sample.$TARGET_LANGUAGE.mp4"
curl -fsS -o "$OUT" "$URL"
subtitles() { # file type -> the SRT's text lines
  local url
  url="$(curl -fsS "${auth[@]}" "$API/api/videos/$VIDEO_ID/download?file_type=$1&language=$TARGET_LANGUAGE" |
    json 'd["download_url"]')"
  curl -fsS "$url" | grep -Ev '^[0-9]+$|-->|^\s*$' || true
}
say "what was heard and what was said:"
paste -d '|' <(subtitles source_subtitles) <(subtitles translation_subtitles) |
  awk -F'|' '{ printf "  %-45s  ->  %s\n", $1, $2 }' >&2
KEY="$(psql "$DATABASE_URL" -XtAq -c "SELECT s3_key FROM media_files WHERE job_id = '$JOB_ID' AND file_type = 'dubbed_video'")"

cat <<INFO

Dubbed video ready.
  S3 object:     s3://$S3_BUCKET/$KEY  (endpoint $S3_ENDPOINT_URL)
  local copy:    $OUT
  download URL:  $URL
  subtitles:     $API/api/videos/$VIDEO_ID/download?file_type=translation_subtitles&language=$TARGET_LANGUAGE
                 (also file_type=source_subtitles|bilingual_subtitles, &format=vtt)
  Temporal UI:   $TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows/dub-$JOB_ID
  API docs:      $API/docs
OneVoice keeps running (API + worker); stop everything with: scripts/stack.sh stop
INFO
