#!/usr/bin/env bash
# Runs moto's own IAM and STS tests (moto 5.2.5, six files, 337 tests: a conformance corpus written
# against AWS) against iamd in moto's server mode, each test in a fresh iamd account, and prints
# passed / failed per file and every failure's class from scripts/moto/classification.tsv:
#   missing   an operation iamd does not have yet (the issue that brings it is named)
#   moto      the test relies on moto's own shortcuts (fake documents, weak passwords, its markers)
#   iamd      iamd differs from AWS: a bug to fix (the target is none)
# Not part of CI. Needs network access to PyPI once (moto's source distribution and a throwaway venv
# under .moto/). Usage: scripts/moto-conformance.sh [pytest args, e.g. -k test_create_role]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MOTO_VERSION=5.2.5
WORK="$ROOT/.moto"
mkdir -p "$WORK"
if [ ! -d "$WORK/moto-$MOTO_VERSION/tests" ]; then
  echo "downloading moto $MOTO_VERSION's source distribution (its tests) from PyPI"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" pytest freezegun
  (cd "$WORK" && "$WORK/venv/bin/pip" download --quiet --no-deps --no-binary :all: "moto==$MOTO_VERSION" && tar xzf "moto-$MOTO_VERSION.tar.gz")
fi
BIN=${IAMD_BIN:-$ROOT/target/debug/iamd}
[ -x "$BIN" ] || cargo build --locked -p iamd
DATA=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
"$BIN" init --data-dir "$DATA" --email moto-root@example.com --json >/dev/null
"$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 >"$DATA/out" 2>"$DATA/log" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$DATA/out" 2>/dev/null && break; sleep 0.1; done
ENDPOINT=$(sed -n 's/^iamd: listening on //p' "$DATA/out" | head -n 1)
echo "iamd at $ENDPOINT"
FILES="tests/test_iam/test_iam.py tests/test_iam/test_iam_groups.py tests/test_iam/test_iam_policies.py tests/test_iam/test_iam_account_aliases.py tests/test_iam/test_iam_password_last_used.py tests/test_sts/test_sts.py"
cd "$WORK/moto-$MOTO_VERSION"
export PYTHONPATH="$ROOT/scripts/moto"
export TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="$ENDPOINT" MOTO_CALL_RESET_API=false
export IAMD_BIN="$BIN" IAMD_STORE_ARGS="--data-dir $DATA" AWS_DEFAULT_REGION=us-east-1
"$WORK/venv/bin/python" -m pytest -p iamd_moto_plugin -p no:cacheprovider -q -rN --color=no --junitxml="$WORK/results.xml" $FILES "$@" >"$WORK/pytest.log" 2>&1 || true
"$WORK/venv/bin/python" "$ROOT/scripts/moto/report.py" "$WORK/results.xml" "$ROOT/scripts/moto/classification.tsv"
