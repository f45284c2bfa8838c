#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a number of seconds each and prints the
# executions libFuzzer reports.
#
#   scripts/fuzz.sh 600                 # all targets, 10 minutes each
#   scripts/fuzz.sh 60 decode handshake # two targets, one minute each
#   JOBS=2 scripts/fuzz.sh 600          # two targets at a time
#   SANITIZER=address scripts/fuzz.sh 600   # under AddressSanitizer
#
# The fuzzed crates forbid `unsafe`, so by default the targets run without a sanitizer: under
# AddressSanitizer every allocation records a stack trace, which was most of the decoder target's
# time (it allocates per frame); without it the same inputs run several times faster. Run with
# `SANITIZER=address` now and then for the unsafe code of the dependencies (bytes, smallvec).
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); the script installs
# cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz=(cargo +nightly fuzz)
dir=(--fuzz-dir monocoque-fuzz)

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(decode greeting handshake metadata socket_core plain curve_handshake curve_message)
fi
jobs=${JOBS:-1}
sanitizer=(--sanitizer "${SANITIZER:-none}")

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for target in "${targets[@]}"; do "${fuzz[@]}" build "${dir[@]}" "${sanitizer[@]}" -O "$target"; done

mkdir -p monocoque-fuzz/logs
run() {
  local target=$1
  local log="monocoque-fuzz/logs/$target.log"
  mkdir -p "monocoque-fuzz/corpus/$target"
  "${fuzz[@]}" run "${dir[@]}" "${sanitizer[@]}" -O "$target" "monocoque-fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1
  local execs
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "$target: ${execs:-?} executions in ${seconds}s (log: monocoque-fuzz/logs/$target.log)"
}

running=0
for target in "${targets[@]}"; do
  run "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
