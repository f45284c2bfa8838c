//! The compio driver: listeners, connectors and one read loop and one write loop per connection,
//! moving the bytes of the sans-IO [`proto`](crate::proto) state machines over TCP and Unix
//! domain sockets.

mod connection;
mod context;
mod handle;
mod inproc;
mod mailbox;
mod monitor;
mod options;
mod pending;
mod poller;
mod proxy;
mod security;
mod shared;
mod signal;
mod socket;
mod transport;
mod zap;

pub use context::Context;
pub use handle::{HANDLE_QUEUE, Handle, HandleSink};
pub use monitor::{Monitor, MonitorEvent, MonitorEventKind, MonitorMask};
pub use options::{DEFAULT_BACKLOG, OptionError, OptionName, SocketOptions, TcpKeepalive};
pub use pending::{DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS};
pub use poller::{Interest, Poller};
pub use proxy::{
    ProxyControl, ProxyStatistics, SideStatistics, proxy, proxy_handles, proxy_handles_blocking,
};
pub use socket::{Error, Follow, Peer, Socket};
pub use zap::ZAP_ENDPOINT;

pub use crate::proto::RouterNotify;
