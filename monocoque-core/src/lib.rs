//! Runtime-free building blocks of monocoque, a pure-Rust ZeroMQ (ZMTP 3.1) implementation.
//!
//! **An implementation detail of [`monocoque`](https://docs.rs/monocoque), with no stability
//! promise of its own**: it is published because `monocoque` depends on it, and it changes with
//! `monocoque` as that needs. Depend on `monocoque`, which re-exports what users need.
//!
//! Nothing here does I/O or reads a clock, so every type is deterministic and tested without
//! sockets or sleeps. The protocol crate and the driver build on these:
//!
//! - [`Endpoint`]: `tcp://` and `ipc://` addresses, parsed once with typed [`EndpointError`]s.
//! - [`Message`]: a multipart message whose frames are cheaply cloned [`bytes::Bytes`].
//! - [`Backoff`]: reconnect delays as an iterator, following `ZMQ_RECONNECT_IVL(_MAX)`.
//! - [`HighWaterMark`]: per-queue message limits and the low-water mark that wakes a writer.
//! - [`PeerTable`]: peers addressed by [`PeerId`]s that go stale when the peer leaves.
//!
//! ```rust
//! use monocoque_core::{Backoff, Endpoint, HighWaterMark, Message, PeerTable};
//! use std::time::Duration;
//!
//! let endpoint: Endpoint = "tcp://127.0.0.1:5555".parse()?;
//! let mut peers = PeerTable::new();
//! let peer = peers.insert((endpoint, HighWaterMark::default(), Backoff::default()));
//!
//! let (_, hwm, backoff) = peers.get_mut(peer).unwrap();
//! let msg = Message::from("topic").with("payload");
//! assert!(hwm.try_acquire());
//! assert_eq!(msg.len(), 2);
//! assert_eq!(backoff.next(), Some(Duration::from_millis(100)));
//! # Ok::<(), monocoque_core::EndpointError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backoff;
mod endpoint;
mod hwm;
mod message;
mod peer_table;

pub use backoff::Backoff;
pub use endpoint::{
    Endpoint, EndpointError, Host, IpcAddr, Port, TcpEndpoint, TcpSource, Transport,
};
pub use hwm::HighWaterMark;
pub use message::{IntoFrames, Message};
pub use peer_table::{PeerId, PeerTable};
