#!/usr/bin/env bash
# Instructions and syscalls per message for one two-process row (default: monocoque's PUSH/PULL,
# 64 B, TCP), each side measured on its own:
#   - valgrind --tool=callgrind: instruction counts (repeatable from run to run);
#   - perf stat -e instructions,cycles,context-switches,raw_syscalls:sys_enter, if perf works;
#   - strace -f -c: syscalls, with the breakdown by syscall.
# Each tool runs the row twice, with N and N/10 messages, and reports the difference divided by
# the difference in messages, so process start-up, connection set-up and shutdown drop out.
#
#   scripts/profile.sh                              # monocoque push/pull 64 B tcp
#   scripts/profile.sh lib=libzmq                   # the same row for libzmq, for reference
#   scripts/profile.sh size=1024 transport=ipc count=400000
#
# Not part of scripts/test.sh or CI. Installs valgrind, strace and perf with apt-get when they are
# missing and this runs as root; otherwise skips that tool.
set -euo pipefail
cd "$(dirname "$0")/.."

lib=monocoque
size=64
transport=tcp
count=200000
for arg in "$@"; do
  case "$arg" in
    lib=*) lib=${arg#lib=} ;;
    size=*) size=${arg#size=} ;;
    transport=*) transport=${arg#transport=} ;;
    count=*) count=${arg#count=} ;;
    *) echo "usage: $0 [lib=monocoque] [size=64] [transport=tcp|ipc] [count=200000]" >&2; exit 2 ;;
  esac
done
small=$((count / 10))

have() { command -v "$1" >/dev/null 2>&1; }
install() { # install <command> <apt package>
  have "$1" && return 0
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing $2..." >&2
    apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null 2>&1; } || true
  fi
  have "$1"
}

echo "building monocoque-bench (release)..." >&2
cargo build --release --manifest-path monocoque-bench/Cargo.toml >&2
bench="${CARGO_TARGET_DIR:-monocoque-bench/target}/release/monocoque-bench"
out=target/profile
mkdir -p "$out"
row="lib=$lib kind=thr transport=$transport size=$size timeout=1800"

# run <tag> <count> <server wrapper> <client wrapper>
run() {
  "$bench" run $row count="$2" wrap_server="$3" wrap_client="$4" >"$out/$1.$2.log" 2>&1 ||
    { echo "run failed, see $out/$1.$2.log" >&2; return 1; }
}
# per <value at count> <value at small>: the marginal cost per message
per() { awk -v a="$1" -v b="$2" -v n="$count" -v m="$small" -v p="${3:-1}" \
  'BEGIN { printf "%." p "f", (a - b) / (n - m) }'; }

echo "row: $lib push/pull $size B $transport, $count and $small messages (per message = difference / $((count - small)))"
echo

if install valgrind valgrind; then
  for n in "$count" "$small"; do
    run callgrind "$n" "valgrind --tool=callgrind --callgrind-out-file=$out/server.$n.cg" \
                       "valgrind --tool=callgrind --callgrind-out-file=$out/client.$n.cg"
  done
  ir() { awk '/^summary:/ { print $2 }' "$out/$1.$2.cg"; }
  echo "callgrind instructions per message: sender $(per "$(ir client "$count")" "$(ir client "$small")")," \
       "receiver $(per "$(ir server "$count")" "$(ir server "$small")")"
else
  echo "callgrind: skipped (no valgrind)"
fi

if install perf linux-perf && perf stat -e instructions true >/dev/null 2>&1; then
  events=instructions,cycles,context-switches
  perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 && events=$events,raw_syscalls:sys_enter
  for n in "$count" "$small"; do
    run perf "$n" "perf stat -x , -e $events -o $out/server.$n.perf" \
                  "perf stat -x , -e $events -o $out/client.$n.perf"
  done
  ev() { awk -F, -v e="$3" '$3 == e { print $1 }' "$out/$1.$2.perf"; }
  for side in client server; do
    name=$([ $side = client ] && echo sender || echo receiver)
    line="perf stat per message, $name:"
    for e in ${events//,/ }; do
      digits=1
      case $e in context-switches|raw_syscalls:sys_enter) digits=4 ;; esac
      line="$line $e $(per "$(ev $side "$count" "$e")" "$(ev $side "$small" "$e")" $digits)"
    done
    echo "$line"
  done
else
  echo "perf stat: skipped (perf missing or not permitted here)"
fi

if install strace strace; then
  for n in "$count" "$small"; do
    run strace "$n" "strace -f -c -o $out/server.$n.strace" "strace -f -c -o $out/client.$n.strace"
  done
  calls() { awk '$NF == "total" { print $4 }' "$out/$1.$2.strace"; }
  echo "strace syscalls per message: sender $(per "$(calls client "$count")" "$(calls client "$small")" 4)," \
       "receiver $(per "$(calls server "$count")" "$(calls server "$small")" 4)" \
       "(under ptrace, which slows each syscall down)"
  for side in client server; do
    name=$([ $side = client ] && echo sender || echo receiver)
    echo "  $name, $count messages, top syscalls (calls):" \
      "$(awk 'f && $NF != "total" && $1 !~ /^-/ { print $NF "=" $4 } /^% time/ { f = 1 }' \
          "$out/$side.$count.strace" | sort -t= -k2 -nr | head -6 | tr '\n' ' ')"
  done
else
  echo "strace: skipped (no strace)"
fi
echo
echo "raw outputs in $out/"
