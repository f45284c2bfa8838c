//! Interoperability tests of monocoque against a real libzmq peer.
//!
//! This crate is not published. It links libzmq through the `zmq` crate, which builds libzmq from
//! the sources it bundles, so no system package is needed (the first build takes a few minutes).
//!
//! It holds two things:
//!
//! - the `record-testdata` binary (`src/bin/record_testdata.rs`), a raw ZMTP 3.1 peer written by
//!   hand from RFC 37 that records the exact bytes libzmq puts on the wire and saves them under
//!   `monocoque-zmtp/testdata/` (re-record with `scripts/record_testdata.sh`);
//! - later, helpers shared by the interop tests that run monocoque sockets against libzmq sockets.
