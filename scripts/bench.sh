#!/usr/bin/env bash
# monocoque against libzmq 4.3.4 (the reference, through the zmq crate, its sends made as its
# perf tools make them: zmq_msg_init_size and zmq_msg_send, no copy), omq-tokio, zeromq
# (zmq.rs), monocoque-rs, a raw-socket floor, and monocoque on compio's polling driver (epoll:
# the `monocoque-epoll` column, what io_uring is worth), in the same run, two processes per
# measurement: PUSH/PULL throughput (64 B, 1 KiB, 64 KiB, 1 MiB; TCP and IPC; unpinned and
# pinned; monocoque's receiver takes batches with `recv_many`), REQ/REP round trips (p50, p99,
# p99.9), PUB/SUB fan-out to 10, 100 and 1,000 subscribers, DEALER/ROUTER with
# 1,000 peers, and the CPU time of each side; then, one process each, PUSH/PULL over inproc and
# messages through a ROUTER/DEALER proxy (libzmq's zmq_proxy beside monocoque::proxy); last, the
# `curve` rows: PUSH/PULL (64 B, 64 KiB) and REQ/REP (64 B) over TCP with CURVE, monocoque (and
# its handles) against the system's libzmq.so.5 with CURVE (Debian's libzmq5, loaded at run
# time; the zmq crate's build has no CURVE). Prints a table with each figure as a ratio to
# libzmq from the same round and monocoque's targets, and draws a chart.
# Method, caveats and the last full run: docs/PERFORMANCE.md.
#
#   scripts/bench.sh                            # everything, 5 rounds: about 25 minutes on 2 vCPUs
#   scripts/bench.sh rounds=1 filter=push/pull  # quick: one round of the rows whose label matches
#   scripts/bench.sh rounds=3 filter="64 B,x10" libs=monocoque,omq-tokio
#   scripts/bench.sh rounds=1 filter=curve libs=monocoque   # the CURVE rows only
#   scripts/bench.sh latpin=0                   # req/rep rows unpinned (default: both on CPU 0)
#   scripts/bench.sh scale=0.2 timeout=30       # a fifth of the messages; 30 s per measurement
#   CRITERION=1 scripts/bench.sh                # then also the criterion suite of monocoque alone
#   MONOCOQUE_RS_COALESCE=64 scripts/bench.sh libs=monocoque,monocoque-rs   # its PUSH coalescing, flush every 64
#
# Row labels: `monocoque-bench/target/release/monocoque-bench rows` (with filter=... : the rows a
# run would take). Output: the table on stdout and in target/bench/ (table.txt, table.md,
# summary.csv, samples.csv, chart.png); a full run (no filter=, libs= or scale=) also writes the
# chart to docs/perf/chart.png.
#
# Needs a Rust toolchain, a C++ compiler (the zmq crate builds libzmq from source), taskset
# (util-linux), a kernel with io_uring, python3 for the chart (matplotlib is installed with
# pip --user when missing) and, for the curve rows, libzmq.so.5 built with CURVE (Debian's
# libzmq5, installed with apt-get, through sudo unless root, when missing). Not part of
# scripts/test.sh or CI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v taskset >/dev/null; then
  echo "error: taskset (util-linux) is needed to pin processes" >&2
  exit 1
fi

full=1
for arg in "$@"; do
  case "$arg" in
    filter=*|libs=*|scale=*) full=0 ;;
  esac
done

echo "building monocoque-bench (release; the first build compiles libzmq and takes a few minutes)..." >&2
cargo build --release --manifest-path monocoque-bench/Cargo.toml >&2
bench="${CARGO_TARGET_DIR:-monocoque-bench/target}/release/monocoque-bench"

# The curve rows' libzmq (with CURVE) is loaded at run time: install it when a selected row needs
# it and it cannot be loaded. Without it those rows' libzmq cells fail; the rest still runs.
selected=$("$bench" rows "$@" 2>/dev/null || true)
if grep -q '^curve ' <<<"$selected" && ! "$bench" libzmq-curve >/dev/null 2>&1; then
  echo "installing libzmq5 (libzmq with CURVE, for the curve rows)..." >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo=sudo
  fi
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq >&2 || true
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq5 >&2 || true
  fi
  "$bench" libzmq-curve >&2 ||
    echo "warning: no libzmq.so.5 with CURVE; the curve rows' libzmq cells will fail" >&2
fi

out=target/bench
mkdir -p "$out"
# A failed measurement makes the table exit non-zero; the chart is still drawn.
set +e
{
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'), $(rustc --version)"
  "$bench" table out="$out" "$@"
} | tee "$out/table.txt"
status=${PIPESTATUS[0]}
set -e

chart="$out/chart.png"
if python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --user --quiet matplotlib >&2; then
  rounds=$(sed -n 's/^rounds: \([0-9]*\) per library.*/\1/p' "$out/table.txt")
  python3 scripts/bench_chart.py "$out/summary.csv" "$chart" \
    "$(date +%Y-%m-%d), $(nproc) vCPUs, median of ${rounds:-?} rounds, two processes per measurement" >&2
  if [ "$full" = 1 ]; then
    mkdir -p docs/perf
    cp "$chart" docs/perf/chart.png
    echo "chart: docs/perf/chart.png" >&2
  else
    echo "chart: $chart (a partial run does not replace docs/perf/chart.png)" >&2
  fi
else
  echo "warning: no matplotlib (pip install failed), no chart" >&2
fi

if [ "${CRITERION:-}" = "1" ]; then
  cargo bench -p monocoque --bench throughput
fi
exit "$status"
