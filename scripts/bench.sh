#!/usr/bin/env bash
# monocoque against libzmq 4.3.4 (through the zmq crate), in the same run: PUSH/PULL throughput
# at 64 B, 1 KiB and 64 KiB and REQ/REP round-trip latency at 64 B, over TCP and IPC, two
# processes per measurement, median of 3 rounds, printed as a table with the ratio
# monocoque/libzmq for each row. Method and the first baseline: docs/PERFORMANCE.md.
#
#   scripts/bench.sh                       # the table: a few minutes on two cores, build included
#   PIN=1 scripts/bench.sh                 # latency rows with both processes on CPU 0 (taskset)
#   scripts/bench.sh rounds=5 filter=ipc   # more rounds, only the rows whose label has "ipc"
#   scripts/bench.sh scale=0.5             # half the message counts
#   CRITERION=1 scripts/bench.sh           # then also the criterion suite of monocoque alone
#
# Needs a Rust toolchain and a C++ compiler (the zmq crate builds libzmq from source), and a
# kernel with io_uring. The table also goes to target/bench/compare.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${PIN:-}" = "1" ] && ! command -v taskset >/dev/null; then
  echo "error: PIN=1 needs taskset (util-linux)" >&2
  exit 1
fi

echo "building the comparison (release)..." >&2
cargo bench -p monocoque --bench compare --no-run
mkdir -p target/bench
# The binary starts itself for each side of each measurement; progress goes to stderr.
cargo bench -p monocoque --bench compare -- table "$@" | tee target/bench/compare.txt

if [ "${CRITERION:-}" = "1" ]; then
  cargo bench -p monocoque --bench throughput
fi
