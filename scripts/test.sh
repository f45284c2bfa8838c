#!/usr/bin/env bash
# The whole test suite: what CI runs (through .ci/run) and what a developer runs before a commit.
#
#   scripts/test.sh
#
# Needs only a Rust toolchain and a C++ compiler: the libzmq peer of the interop tests is built
# from source by the `zmq` crate, the CURVE-capable one (pyzmq) is installed in a virtual
# environment by scripts/pyzmq-env.sh, which the CURVE interop tests run themselves, and etcd and
# protoc (for the discovery tests and the `etcd` feature) by scripts/etcd-env.sh, run below. On
# CI (CI=true) it also checks formatting, lints and docs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The sans-IO line: nothing under a proto/ folder may talk to the runtime.
if grep -rn 'compio' --include='*.rs' */src/proto; then
  echo "error: the sans-IO protocol core imports compio (see docs/ARCHITECTURE.md)" >&2
  exit 1
fi

# etcd-client (monocoque's `etcd` feature) needs protoc to build; the discovery tests need etcd.
bash scripts/etcd-env.sh >/dev/null

if [ "${CI:-}" = "true" ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
  # The three library crates are published together: each must package and build on its own.
  # cargo unpacks the packages of its temporary local registry once per name and version and
  # reuses them; drop copies an earlier run left, or the check would build those instead.
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/monocoque-*
  cargo package -p monocoque-core -p monocoque-zmtp -p monocoque --locked
fi

cargo test --workspace --all-targets --locked
# Doc tests are not part of --all-targets.
cargo test --workspace --doc --locked
# The socket suite once more on compio's polling driver alone, the fallback where io_uring is
# unavailable.
cargo test -p monocoque-tests --no-default-features --features polling --locked
