#!/usr/bin/env bash
# A Python virtual environment with pyzmq, the CURVE-capable libzmq peer of the interop tests
# (interop_tests/tests/security_curve.rs). The `zmq` crate's bundled libzmq is built without
# CURVE; pyzmq's wheel bundles libzmq with libsodium.
#
#   scripts/pyzmq-env.sh        # prints the venv's python as its last line
#
# Idempotent: once the venv holds a pyzmq with CURVE, it returns without touching the network.
# Everything it prints besides that last line goes to stderr, so `$(scripts/pyzmq-env.sh)` is the
# path. Set PYZMQ_VENV to put the venv elsewhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PYZMQ_VENV:-$root/target/pyzmq-venv}"
python="$venv/bin/python"

has_curve() {
  [ -x "$python" ] && "$python" -c 'import sys, zmq; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null
}

if has_curve; then
  echo "$python"
  exit 0
fi

# Several test binaries may run this at once: one sets up, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if has_curve; then
  echo "$python"
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# A venv left half-made by an interrupted run is made again.
rm -rf "$venv"
host_python="${PYTHON:-python3}"
if ! command -v "$host_python" >/dev/null 2>&1; then
  echo "pyzmq-env: no $host_python; installing python3 and python3-venv" >&2
  as_root apt-get update >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv >&2
fi
# Debian's python3 has the venv module but not what it needs to make one (ensurepip's wheels):
# those come with python3-venv.
if ! "$host_python" -m venv "$venv" >&2; then
  echo "pyzmq-env: python3 -m venv is unavailable; installing python3-venv" >&2
  rm -rf "$venv"
  as_root apt-get update >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
  python3 -m venv "$venv" >&2
fi
"$python" -m pip install --quiet --disable-pip-version-check pyzmq >&2

if ! has_curve; then
  echo "pyzmq-env: the installed pyzmq's libzmq has no CURVE" >&2
  exit 1
fi
echo "$python"
