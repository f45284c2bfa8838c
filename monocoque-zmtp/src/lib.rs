//! The ZeroMQ Message Transport Protocol (ZMTP 3.1, RFC 37) for monocoque.
//!
//! **An implementation detail of [`monocoque`](https://docs.rs/monocoque), with no stability
//! promise of its own**: it is published because `monocoque` depends on it, and it changes with
//! `monocoque` as that needs. Depend on `monocoque`, which re-exports what users need.
//!
//! [`proto`] is the sans-IO core: greeting, framing, commands, metadata, the security handshake and
//! heartbeat timing as pure state machines, tested without sockets or sleeps. The compio driver
//! that moves their bytes over TCP and IPC sits on top of it.

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod driver;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod proto;
