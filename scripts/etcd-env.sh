#!/usr/bin/env bash
# etcd and protoc for service discovery (monocoque's `etcd` feature): etcd-client compiles etcd's
# protocol files with protoc when it builds (they import protobuf's own descriptor.proto and
# struct.proto, which Debian ships apart from protoc, in libprotobuf-dev), and the discovery tests
# run etcd servers of their own (tests/tests/etcd_common). All three come from Debian:
# etcd-server, protobuf-compiler and libprotobuf-dev.
#
#   scripts/etcd-env.sh        # prints the etcd binary's path as its last line
#
# Idempotent: once etcd, protoc and protobuf's own files are there, it returns without touching
# the network. Everything it prints besides that last line goes to stderr, so
# `$(scripts/etcd-env.sh)` is the path.
#
# The package's own etcd service is not wanted. The tests would not mind it (their servers listen
# on ports the kernel picks, never etcd's 2379 and 2380), but a server left running by an install
# is a surprise: when no policy-rc.d is in place, the install runs with one that forbids starting
# services, as in a container image build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lock="$root/target/etcd-env.lock"

have_etcd() {
  command -v etcd >/dev/null 2>&1
}

have_protoc() {
  command -v protoc >/dev/null 2>&1
}

# protoc itself finds the files of protobuf's well-known types (next to where it is installed);
# compiling a file that imports them is the test.
have_protoc_includes() {
  local dir status=0
  dir="$(mktemp -d)"
  printf 'syntax = "proto3";\nimport "google/protobuf/descriptor.proto";\nimport "google/protobuf/struct.proto";\n' >"$dir/probe.proto"
  protoc -I "$dir" --descriptor_set_out=/dev/null "$dir/probe.proto" >/dev/null 2>&1 || status=1
  rm -rf "$dir"
  return "$status"
}

have_all() {
  have_etcd && have_protoc && have_protoc_includes
}

if have_all; then
  command -v etcd
  exit 0
fi

# Several test binaries may run this at once: one installs, the others wait for it.
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if have_all; then
  command -v etcd
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

packages=()
have_etcd || packages+=(etcd-server)
have_protoc || packages+=(protobuf-compiler)
have_protoc && have_protoc_includes || packages+=(libprotobuf-dev)
echo "etcd-env: installing ${packages[*]}" >&2

# invoke-rc.d(8) and deb-systemd-invoke(1p) ask /usr/sbin/policy-rc.d before they start a
# service; exit status 101 means "action forbidden". One already there is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  trap 'as_root rm -f "$policy"' EXIT
fi

as_root apt-get update >&2
# Another install in progress (scripts/pyzmq-env.sh, say) holds dpkg's lock for a while: wait.
as_root env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -o DPkg::Lock::Timeout=300 "${packages[@]}" >&2

if ! have_all; then
  echo "etcd-env: etcd, protoc or protobuf's .proto files still missing after installing ${packages[*]}" >&2
  exit 1
fi
command -v etcd
