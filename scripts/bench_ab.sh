#!/usr/bin/env bash
# Before/after in one run: the same rows measured with two or more variants of monocoque (other
# builds of monocoque-bench, or environment settings the bench reads), alternating within each
# round so that the machine's drift hits every variant alike. Prints each row's medians and the
# ratio of each variant to the first.
#
#   scripts/bench_ab.sh before=/path/to/old/monocoque-bench after=.        # two builds
#   scripts/bench_ab.sh one=MONOCOQUE_BENCH_RECV=one many=.                # an environment setting
#   scripts/bench_ab.sh rounds=3 rows="kind=lat size=64 pinned=1;kind=thr size=64" a=. b=MONOCOQUE_BENCH_URING=coop
#   scripts/bench_ab.sh lib=monocoque-handle before=... after=.
#
# A variant is NAME=. (this checkout's build), NAME=<path to a monocoque-bench binary>, or
# NAME=<VAR>=<value> (this checkout's build with that environment variable). `rows` is a `;`
# separated list of `monocoque-bench run` arguments (default: PUSH/PULL 64 B tcp unpinned and
# pinned, 1 KiB and 64 KiB tcp, REQ/REP 64 B tcp pinned); `lib` the library measured (default
# monocoque). Variables the bench reads: MONOCOQUE_BENCH_RECV=one (one recv per message instead
# of recv_many), MONOCOQUE_BENCH_URING=coop|defer (io_uring set-up flags). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5
lib=monocoque
rows="kind=thr size=64 count=3000000;kind=thr size=64 count=3000000 pinned=1;kind=thr size=1024 count=1000000;kind=thr size=65536 count=50000;kind=lat size=64 count=20000 pinned=1"
names=()
targets=()
for arg in "$@"; do
  case "$arg" in
    rounds=*) rounds=${arg#rounds=} ;;
    rows=*) rows=${arg#rows=} ;;
    lib=*) lib=${arg#lib=} ;;
    *=*) names+=("${arg%%=*}"); targets+=("${arg#*=}") ;;
    *) echo "usage: $0 [rounds=N] [rows=\"...;...\"] [lib=NAME] NAME=VARIANT NAME=VARIANT..." >&2; exit 2 ;;
  esac
done
if [ "${#names[@]}" -lt 2 ]; then
  echo "error: give at least two variants (NAME=. NAME=/path/to/monocoque-bench NAME=VAR=value)" >&2
  exit 2
fi

echo "building monocoque-bench (release)..." >&2
cargo build --release --manifest-path monocoque-bench/Cargo.toml >&2
own="${CARGO_TARGET_DIR:-monocoque-bench/target}/release/monocoque-bench"

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
IFS=';' read -r -a row_list <<<"$rows"
for round in $(seq "$rounds"); do
  for row in "${row_list[@]}"; do
    for i in "${!names[@]}"; do
      target=${targets[$i]}
      env_setting=()
      binary=$own
      if [ "$target" != "." ]; then
        if [[ "$target" == *=* ]]; then
          env_setting=("$target")
        else
          binary=$target
        fi
      fi
      # shellcheck disable=SC2086 # a row is a list of arguments
      line=$(env "${env_setting[@]}" "$binary" run lib="$lib" $row 2>&1 || true)
      echo "round $round/$rounds ${names[$i]} $row: ${line%%$'\n'*}" >&2
      printf '%s|%s|%s\n' "$row" "${names[$i]}" "$line" | tr '\n' ' ' >>"$samples"
      echo >>"$samples"
    done
  done
done

python3 - "$samples" "${names[@]}" <<'PY'
import re, statistics, sys
path, names = sys.argv[1], sys.argv[2:]
# The figure of each kind of row, and whether more is better.
metrics = [("p50_us", False), ("p99_us", False), ("msgs_per_s", True), ("delivered_per_s", True), ("req_per_s", True)]
data, rows = {}, []
for line in open(path):
    row, name, text = line.rstrip("\n").split("|", 2)
    if row not in rows:
        rows.append(row)
    fields = dict(re.findall(r"(\w+)=([0-9.]+)", text))
    data.setdefault((row, name), []).append(fields)
for row in rows:
    print(row)
    for metric, higher in metrics:
        medians = {}
        for name in names:
            values = [float(f[metric]) for f in data.get((row, name), []) if metric in f]
            if values:
                medians[name] = statistics.median(values)
        if len(medians) < len(names):
            continue
        base = medians[names[0]]
        cells = []
        for name in names:
            ratio = medians[name] / base if base else float("nan")
            cells.append(f"{name} {medians[name]:.4g} ({ratio:.2f}x)")
        print(f"  {metric:16} " + "  ".join(cells) + ("" if higher else "  (lower is better)"))
    for side in ("cpu_send", "cpu_recv"):
        cells = []
        for name in names:
            values = [float(f[side]) for f in data.get((row, name), []) if side in f]
            if values:
                cells.append(f"{name} {statistics.median(values):.4g}")
        if len(cells) == len(names):
            print(f"  {side:16} " + "  ".join(cells) + "  (CPU s per million)")
failed = [(r, n) for (r, n), fs in data.items() if any(not f for f in fs)]
for r, n in failed:
    print(f"failed: {n} {r}", file=sys.stderr)
PY
