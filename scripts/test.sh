#!/usr/bin/env bash
# Runs the whole iamd test suite on a fresh machine:
#   0. gates: `cargo fmt --check` (rustfmt.toml) and `cargo clippy --workspace --all-targets -D warnings`;
#   1. unit tests (cargo test: SigV4 vectors, validation, sealing, passwords, …);
#   2. the scale benchmark's small point (1,000 users, 10,000 records) on both backends, as a check;
#   3. end-to-end tests (pytest + boto3 + the aws CLI + the JavaScript SDK v3) against the real binary, on SQLite AND PostgreSQL,
#      and the web console in headless Chromium (Debian's package) driven by Playwright;
#   4. a fuzz smoke of the pure crates' parsers (scripts/fuzz.sh, 30 s a target; installs cargo-fuzz).
# Installs what it needs when missing: Python tools from PyPI into .venv (Playwright's Python package
# brings its driver; it uses Debian's Chromium, never downloads a browser), PostgreSQL and Chromium from
# Debian's packages; starts a throwaway PostgreSQL cluster under .pgtest/ unless IAMD_TEST_PG_URL points at one.
# Extra arguments go to pytest (e.g. scripts/test.sh -k access_keys); the fuzz smoke then does not run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '\n== %s\n' "$*"; }

say "Python tools (.venv: boto3, awscli, pytest, a QR decoder, Playwright)"
PY_TOOLS="boto3 awscli pytest zxing-cpp pillow playwright botocore[crt]"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import boto3, pytest, zxingcpp, PIL, playwright, awscrt" 2>/dev/null || [ ! -x .venv/bin/aws ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check $PY_TOOLS
fi
export PATH="$ROOT/.venv/bin:$PATH"

PG_STARTED=""
cleanup() {
  if [ -n "$PG_STARTED" ]; then
    $PG_AS "$PG_BIN/pg_ctl" -D "$ROOT/.pgtest/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -z "${IAMD_TEST_PG_URL:-}" ]; then
  say "PostgreSQL (throwaway cluster)"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || ! command -v psql >/dev/null || ! command -v pg_dump >/dev/null; then
    echo "installing PostgreSQL from Debian's packages"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-client >/dev/null
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  PG_AS=""
  if [ "$(id -u)" = 0 ]; then PG_AS="runuser -u postgres --"; fi
  rm -rf .pgtest && mkdir -p .pgtest
  [ -n "$PG_AS" ] && chown postgres .pgtest
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $PG_AS "$PG_BIN/initdb" -D "$ROOT/.pgtest/data" -A trust -U postgres --no-sync >/dev/null
  $PG_AS "$PG_BIN/pg_ctl" -D "$ROOT/.pgtest/data" -l "$ROOT/.pgtest/log" -w \
    -o "-p $PG_PORT -k $ROOT/.pgtest -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  PG_STARTED=1
  export IAMD_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL on port $PG_PORT"
fi

if ! command -v openssl >/dev/null; then
  say "openssl (the audit tests verify digest signatures with it)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi

if ! pkg-config --exists openssl 2>/dev/null; then
  say "OpenSSL headers (webauthn-rs verifies security keys with OpenSSL)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

if [ ! -x /usr/bin/chromium ]; then
  say "Chromium (the console's browser tests)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export IAMD_CHROMIUM=/usr/bin/chromium

if ! command -v npm >/dev/null; then
  say "Node.js and npm (the AWS SDK for JavaScript end-to-end checks)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/e2e/js/node_modules/@aws-sdk/client-cloudtrail ]; then
  say "the AWS SDK for JavaScript v3 (npm, tests/e2e/js/package-lock.json)"
  (cd tests/e2e/js && npm ci --silent --no-audit --no-fund)
fi
# Browser screenshots of every console page land here (kept as test artifacts).
mkdir -p artifacts/console

say "gates: the formatter and clippy"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo build"
cargo build --workspace --locked 2>&1 | tail -n 3

say "unit tests (cargo test)"
cargo test --workspace --locked

say "scale benchmark, small point only (behaviour: every answer 200, true counts, a report completes)"
target/debug/iamd-bench --iamd target/debug/iamd --scale 1000:10000 --calls 100
target/debug/iamd-bench --iamd target/debug/iamd --scale 1000:10000 --calls 100 --database-url "$IAMD_TEST_PG_URL"

say "end-to-end tests (pytest, real iamd binary, boto3 + aws CLI, SQLite and PostgreSQL)"
export IAMD_BIN="$ROOT/target/debug/iamd"
(cd tests/e2e && python -m pytest -q -p no:cacheprovider "$@")

if [ $# -eq 0 ] && [ -z "${IAMD_SKIP_FUZZ:-}" ]; then
  say "fuzz smoke (cargo-fuzz on nightly: SigV4, query form, policies, seed files; 30 s each)"
  scripts/fuzz.sh 30
fi
