#!/usr/bin/env bash
# Re-records the libzmq wire test vectors in monocoque-zmtp/testdata/.
#
# Builds and runs interop_tests/src/bin/record_testdata.rs, a raw ZMTP peer that records the exact
# bytes a real libzmq (bundled by the `zmq` crate, built from source on first use) sends, and
# rewrites the .bin files and the generated README.md. The output is deterministic for a given
# libzmq version, so `git diff monocoque-zmtp/testdata` after a run shows only real changes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo run -p monocoque-interop-tests --bin record-testdata -- monocoque-zmtp/testdata
