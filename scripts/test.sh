#!/usr/bin/env bash
# The test command: installs and starts the local stack (idempotent), then checks formatting and
# lints and runs every test against the real services. Extra arguments go to `cargo test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Builds are shared across clones of this repository on the machine (CI reuses it; an empty
# directory works too, it only takes longer).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/onevoice-target}"

scripts/stack.sh up
eval "$(scripts/stack.sh env)"

echo "[test] docker-compose.yml: static validation" >&2
docker-compose -f docker-compose.yml config -q
echo "[test] cargo fmt --check" >&2
cargo fmt --all -- --check
echo "[test] cargo clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "[test] cargo test" >&2
# Every test is a unit or integration test (there are no doctests): compile no rustdoc crates.
cargo test --workspace --lib --bins --tests "$@"
