#!/usr/bin/env bash
# Fuzzes the pure crates' parsers (the form and cookie decoding, SigV4, policies, seed files) with cargo-fuzz
# (libFuzzer, AddressSanitizer) on the nightly toolchain. Installs cargo-fuzz when it is missing.
#   scripts/fuzz.sh            a smoke: every target for 30 s (what scripts/test.sh runs)
#   scripts/fuzz.sh 3600       every target for an hour
# Corpora start from the SigV4 test vectors and the test files and grow under fuzz/corpus/ (not
# committed). A crash stops the run with the input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked --quiet
fi
seed() {  # target, files...
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(basename "$f")-$(sha1sum "$f" | cut -c1-8)" || true; done
}
seed sigv4 $(find ../shared/vectors/sigv4 -name '*.req' 2>/dev/null | head -n 40)
printf 'Action=GetUser&Version=2010-05-08&UserName=a%%2Bb+c' > /tmp/iamd-fuzz-q && seed forms /tmp/iamd-fuzz-q
printf 'csrf=abc%%3D&user=x+y&pw=%%E2%%82%%AC' > /tmp/iamd-fuzz-c && seed forms /tmp/iamd-fuzz-c
mkdir -p fuzz/corpus/policy && printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::*:user/${aws:username}","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}' > fuzz/corpus/policy/seed-a
seed seed_files $(find crates/otp -name '*.xml' -o -name '*.pskcxml' -o -name '*.csv' 2>/dev/null)
printf 'GAKT00000001,JBSWY3DPEHPK3PXP,6,30,sha1\n' > fuzz/corpus/seed_files/seed-csv
cd fuzz
cargo +nightly fuzz build --release 2>&1 | tail -n 2
total=0
execs=0
for t in forms sigv4 policy seed_files; do
  start=$(date +%s)
  log="/tmp/iamd-fuzz-$t.log"
  if ! cargo +nightly fuzz run --release "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz $t failed (a crash is kept under fuzz/artifacts/$t)"
    exit 1
  fi
  n=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
  took=$(( $(date +%s) - start ))
  echo "fuzz $t: ${n:-?} executions in ${took}s, no crash"
  total=$((total + took)); execs=$((execs + ${n:-0}))
done
echo "fuzzing: 4 targets, ${execs} executions, ${total}s in all, no crash"
