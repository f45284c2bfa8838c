//! A socket's connection status: which peers are usable, which went away and why, and which
//! failed their handshake, derived from the socket's [monitor](crate::Monitor).
//!
//! Every socket type, and every [handle](crate::handle) type, has a `status()` method that
//! starts one. The stream reports what matters to an application and leaves out the rest of
//! the monitor's events (listening, accepted, connect retried, ...):
//!
//! - [`Status::Connected`] when a peer completes its handshake: only then can it take or give
//!   messages;
//! - [`Status::Disconnected`] when such a peer goes, with the [`DisconnectReason`];
//! - [`Status::HandshakeFailed`] when a peer never got that far: it broke the protocol, failed
//!   authentication (with the ZAP status code), or the socket's pattern refused it;
//! - [`Status::Closed`] once, when the socket is gone; the stream ends after it.
//!
//! `Connected` and `Disconnected` carry how many peers are connected after the event. Each
//! status displays as one readable line, for logs. This is what a libzmq application builds by
//! hand from a monitor socket (`zmq_socket_monitor` and an `inproc://` PAIR to read it).
//!
//! Start the stream before `bind` or `connect`: it knows about the connections whose handshake
//! completes after it starts, and only reports those (a peer connected earlier is neither
//! reported nor counted, and nor is its disconnection).
//!
//! ```
//! use monocoque::status::Status;
//! use monocoque::{DisconnectReason, PubSocket, SubSocket};
//!
//! # fn main() -> Result<(), monocoque::Error> {
//! compio::runtime::Runtime::new()?.block_on(async {
//!     let subscriber = SubSocket::new();
//!     let mut status = subscriber.status(); // before connecting: nothing is missed
//!     let publisher = PubSocket::new();
//!     let endpoint = publisher.bind("tcp://127.0.0.1:0").await?.to_string();
//!     subscriber.connect(&endpoint)?;
//!
//!     let Some(connected) = status.recv().await else {
//!         panic!("the stream ended");
//!     };
//!     assert!(matches!(connected, Status::Connected { connected_peers: 1, .. }));
//!     // The connecting side's peer is the server: the endpoint's own address.
//!     let server = endpoint.trim_start_matches("tcp://");
//!     let line = format!("connected: {endpoint}, peer {server} (1 peer connected)");
//!     assert_eq!(connected.to_string(), line);
//!
//!     drop(publisher);
//!     let Some(Status::Disconnected { reason, connected_peers, .. }) = status.recv().await else {
//!         panic!("the publisher's disconnection");
//!     };
//!     assert_eq!(reason, DisconnectReason::PeerClosed);
//!     assert_eq!(connected_peers, 0);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! From a [handle](crate::handle), the stream is read from any thread, blocking or not:
//!
//! ```
//! use std::time::Duration;
//! use monocoque::handle::{PubSocket, SubSocket};
//! use monocoque::status::Status;
//!
//! let subscriber = SubSocket::new()?;
//! let mut status = subscriber.status()?;
//! let publisher = PubSocket::new()?;
//! let endpoint = publisher.bind("tcp://127.0.0.1:0")?;
//! subscriber.connect(&endpoint.to_string())?;
//! let watcher = std::thread::spawn(move || status.recv_timeout(Duration::from_secs(5)));
//! let connected = watcher.join().expect("the watcher thread")?;
//! assert!(matches!(connected, Status::Connected { connected_peers: 1, .. }));
//! # Ok::<(), monocoque::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use monocoque_zmtp::driver::{Error, Monitor, MonitorEvent, MonitorEventKind, MonitorMask};
use monocoque_zmtp::proto::{DisconnectReason, Metadata, ProtocolError, RecvError};

/// A change in a socket's connections, from a [`StatusStream`] or a [`HandleStatusStream`].
///
/// `endpoint` is the socket's endpoint the connection belongs to (as bound, with the real
/// port, or as connected); `peer_address` is the peer's address where the transport has one
/// (`ip:port` for TCP: the client's on a bound endpoint, the server's on a connected one).
///
/// ```
/// use monocoque::status::{HandshakeFailure, Status};
/// use monocoque::proto::ProtocolError;
///
/// # fn main() -> Result<(), monocoque::Error> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let pull = monocoque::PullSocket::new();
///     let mut status = pull.status();
///     let endpoint = pull.bind("tcp://127.0.0.1:0").await?;
///     // Not a ZMTP peer: an HTTP request instead of a greeting.
///     let address = endpoint.to_string().replace("tcp://", "");
///     let mut web = std::net::TcpStream::connect(&address)?;
///     std::io::Write::write_all(&mut web, b"GET / HTTP/1.1\r\n\r\n")?;
///     let Some(Status::HandshakeFailed { reason, peer_address, .. }) = status.recv().await else {
///         panic!("a handshake failure");
///     };
///     assert_eq!(reason, HandshakeFailure::Protocol(ProtocolError::BadSignature));
///     assert_eq!(peer_address, Some(web.local_addr()?.to_string()));
///     assert_eq!(status.connected_peers(), 0);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// A peer completed its handshake (libzmq's `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`): it is usable
    /// from now on.
    #[non_exhaustive]
    Connected {
        /// The socket's endpoint the connection belongs to.
        endpoint: String,
        /// The peer's address, where the transport has one.
        peer_address: Option<String>,
        /// The peer's routing id (a ROUTER's id for it, or the identity it announced).
        routing_id: Option<Bytes>,
        /// The metadata the peer announced (`Socket-Type`, `Identity`, `X-` properties), and
        /// the `User-Id` a PLAIN or CURVE server's authenticator gave the client; `None` where
        /// the transport carries no handshake (`inproc://`).
        peer_metadata: Option<Metadata>,
        /// How many peers are connected, this one included.
        connected_peers: usize,
    },
    /// A connected peer went away (libzmq's `ZMQ_EVENT_DISCONNECTED`, for a peer that had
    /// been [`Connected`](Self::Connected)). A connecting socket reconnects on its own unless
    /// the reason forbids it ([`DisconnectReason::allows_reconnect`]).
    #[non_exhaustive]
    Disconnected {
        /// The socket's endpoint the connection belonged to.
        endpoint: String,
        /// The peer's address, where the transport has one.
        peer_address: Option<String>,
        /// The peer's routing id, as it was connected with.
        routing_id: Option<Bytes>,
        /// Why the connection ended.
        reason: DisconnectReason,
        /// How many peers are still connected.
        connected_peers: usize,
    },
    /// A peer did not become usable: it broke the protocol during the handshake, failed
    /// authentication, or the socket's pattern refused it (libzmq's
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_*`). Its connection is closed; nothing it sent is delivered.
    #[non_exhaustive]
    HandshakeFailed {
        /// The socket's endpoint the connection belonged to.
        endpoint: String,
        /// The peer's address, where the transport has one.
        peer_address: Option<String>,
        /// What went wrong.
        reason: HandshakeFailure,
    },
    /// The socket is gone, and every connection with it (libzmq's
    /// `ZMQ_EVENT_MONITOR_STOPPED`). It comes once, last; the stream ends after it.
    Closed,
}

impl Status {
    /// The socket's endpoint the event happened on; `None` for [`Closed`](Self::Closed).
    ///
    /// ```
    /// assert_eq!(monocoque::status::Status::Closed.endpoint(), None);
    /// ```
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Self::Connected { endpoint, .. }
            | Self::Disconnected { endpoint, .. }
            | Self::HandshakeFailed { endpoint, .. } => Some(endpoint),
            Self::Closed => None,
        }
    }

    /// The peer's address, where there is a peer and the transport has an address.
    ///
    /// ```
    /// assert_eq!(monocoque::status::Status::Closed.peer_address(), None);
    /// ```
    pub fn peer_address(&self) -> Option<&str> {
        match self {
            Self::Connected { peer_address, .. }
            | Self::Disconnected { peer_address, .. }
            | Self::HandshakeFailed { peer_address, .. } => peer_address.as_deref(),
            Self::Closed => None,
        }
    }
}

/// One line: `connected: tcp://127.0.0.1:5555, peer 127.0.0.1:40312, routing id "w1" (1 peer
/// connected)`, `disconnected: ...: peer closed the connection (0 peers connected)`,
/// `handshake failed: ...: authentication refused (ZAP status 400)`, `closed`.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connected {
                endpoint,
                peer_address,
                routing_id,
                connected_peers,
                ..
            } => {
                write!(f, "connected: ")?;
                write_where(f, endpoint, peer_address.as_deref(), routing_id.as_deref())?;
                write!(f, " ({})", Peers(*connected_peers))
            }
            Self::Disconnected {
                endpoint,
                peer_address,
                routing_id,
                reason,
                connected_peers,
            } => {
                write!(f, "disconnected: ")?;
                write_where(f, endpoint, peer_address.as_deref(), routing_id.as_deref())?;
                write!(f, ": {reason} ({})", Peers(*connected_peers))
            }
            Self::HandshakeFailed {
                endpoint,
                peer_address,
                reason,
            } => {
                write!(f, "handshake failed: ")?;
                write_where(f, endpoint, peer_address.as_deref(), None)?;
                write!(f, ": {reason}")
            }
            Self::Closed => write!(f, "closed"),
        }
    }
}

/// Why a peer's handshake failed, in [`Status::HandshakeFailed`].
///
/// ```
/// use monocoque::proto::ProtocolError;
/// use monocoque::status::HandshakeFailure;
///
/// let denied = HandshakeFailure::Authentication { status: 400 };
/// assert_eq!(denied.to_string(), "authentication refused (ZAP status 400)");
/// let garbage = HandshakeFailure::Protocol(ProtocolError::BadSignature);
/// assert_eq!(garbage.to_string(), "protocol error: not a ZMTP peer: bad greeting signature");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The peer broke the protocol or cannot talk to this socket: a bad greeting, an
    /// incompatible socket type or security mechanism, an ERROR command refusing us, no
    /// handshake within `ZMQ_HANDSHAKE_IVL` ([`ProtocolError::HandshakeTimeout`]), ...
    Protocol(ProtocolError),
    /// Authentication refused the peer (PLAIN or CURVE): the ZAP status code, 400 for a
    /// denial, 500 for an internal error of the authenticator.
    Authentication {
        /// The ZAP status code.
        status: u16,
    },
    /// The handshake succeeded but the socket's pattern refused the peer: a second PAIR peer,
    /// or a ROUTER peer announcing an identity already in use.
    Refused,
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(error) => write!(f, "protocol error: {error}"),
            Self::Authentication { status } => {
                write!(f, "authentication refused (ZAP status {status})")
            }
            Self::Refused => write!(f, "refused by the socket's pattern"),
        }
    }
}

impl std::error::Error for HandshakeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(error) => Some(error),
            _ => None,
        }
    }
}

/// A socket's connection [`Status`] as a stream, from `status()` on a compio socket.
///
/// Read it with [`recv`](Self::recv), or as a `futures::Stream` (`StreamExt::next`,
/// combinators); it ends after [`Status::Closed`]. It can be read from any thread or runtime
/// (it is `Send`), but on the socket's own thread it must be awaited, not blocked on. Like the
/// monitor it reads, it drops events rather than queue without bound when a few thousand are
/// left unread (its peer count may then be off).
///
/// ```
/// use futures_util::StreamExt;
/// use monocoque::status::Status;
/// use monocoque::{DealerSocket, RouterSocket, SocketOptions};
///
/// # fn main() -> Result<(), monocoque::Error> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let router = RouterSocket::new();
///     let mut status = router.status();
///     let endpoint = router.bind("tcp://127.0.0.1:0").await?.to_string();
///     let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("w1"))?;
///     dealer.connect(&endpoint)?;
///     let Some(Status::Connected { routing_id, .. }) = status.next().await else {
///         panic!("the dealer's connection");
///     };
///     assert_eq!(routing_id.as_deref(), Some(&b"w1"[..]));
///     assert_eq!(status.connected_peers(), 1);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct StatusStream {
    monitor: Monitor,
    tracker: Tracker,
    ended: bool,
}

impl StatusStream {
    /// The monitor events a status stream is made from: handshakes succeeded and failed, and
    /// disconnections.
    ///
    /// ```
    /// use monocoque::MonitorMask;
    /// use monocoque::status::StatusStream;
    /// assert_eq!(StatusStream::EVENTS.bits() & MonitorMask::LISTENING.bits(), 0);
    /// ```
    pub const EVENTS: MonitorMask = MonitorMask::from_bits(
        MonitorMask::HANDSHAKE_SUCCEEDED.bits()
            | MonitorMask::HANDSHAKE_FAILED_PROTOCOL.bits()
            | MonitorMask::HANDSHAKE_FAILED_AUTH.bits()
            | MonitorMask::DISCONNECTED.bits(),
    );

    /// A status stream read from `monitor`: what the sockets' `status()` does with
    /// `monitor_events(StatusStream::EVENTS)`. Events outside [`EVENTS`](Self::EVENTS) are
    /// skipped, so a monitor of every event serves too.
    ///
    /// ```
    /// use monocoque::status::{Status, StatusStream};
    ///
    /// # fn main() -> Result<(), monocoque::Error> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pair = monocoque::PairSocket::new();
    ///     let mut status = StatusStream::new(pair.monitor());
    ///     pair.bind("tcp://127.0.0.1:0").await?; // Listening: not a status
    ///     drop(pair);
    ///     assert_eq!(status.recv().await, Some(Status::Closed));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            tracker: Tracker::default(),
            ended: false,
        }
    }

    /// The next status, waiting for one; `None` after [`Status::Closed`].
    ///
    /// Cancel-safe: dropped before it returns `Ready`, it took no status.
    ///
    /// ```
    /// # fn main() -> Result<(), monocoque::Error> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let push = monocoque::PushSocket::new();
    ///     let mut status = push.status();
    ///     drop(push);
    ///     assert_eq!(status.recv().await, Some(monocoque::status::Status::Closed));
    ///     assert_eq!(status.recv().await, None);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Status> {
        self.next().await
    }

    /// The next status if one is waiting.
    ///
    /// ```
    /// # fn main() -> Result<(), monocoque::Error> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = monocoque::PullSocket::new();
    ///     let mut status = pull.status();
    ///     assert_eq!(status.try_recv(), None);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn try_recv(&mut self) -> Option<Status> {
        if self.ended {
            return None;
        }
        while let Some(event) = self.monitor.try_recv() {
            if let Some(status) = self.accept(event) {
                return Some(status);
            }
        }
        None
    }

    /// How many peers are connected, as of the last status read (only those connected since
    /// the stream started; zero after [`Status::Closed`]).
    ///
    /// ```
    /// # fn main() -> Result<(), monocoque::Error> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let rep = monocoque::RepSocket::new();
    ///     assert_eq!(rep.status().connected_peers(), 0);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn connected_peers(&self) -> usize {
        self.tracker.connected
    }

    /// The status an event means, if any; the end of the stream at `MonitorStopped`.
    fn accept(&mut self, event: MonitorEvent) -> Option<Status> {
        if event.kind == MonitorEventKind::MonitorStopped {
            return Some(self.close());
        }
        self.tracker.apply(event)
    }

    fn close(&mut self) -> Status {
        self.ended = true;
        self.tracker = Tracker::default();
        Status::Closed
    }
}

impl Stream for StatusStream {
    type Item = Status;

    /// The next status; `None` after [`Status::Closed`], as [`recv`](StatusStream::recv).
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Status>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match this.monitor.poll_next_unpin(cx) {
                Poll::Ready(Some(event)) => {
                    if let Some(status) = this.accept(event) {
                        return Poll::Ready(Some(status));
                    }
                }
                // The socket went without a word (its monitor was full at the end).
                Poll::Ready(None) => return Poll::Ready(Some(this.close())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A socket's connection [`Status`] as a stream, from `status()` on a [handle](crate::handle):
/// readable from any thread, blocking ([`recv`](Self::recv),
/// [`recv_timeout`](Self::recv_timeout), [`iter`](Self::iter)) or as a future for any runtime
/// ([`recv_async`](Self::recv_async), `futures::Stream`). It ends after [`Status::Closed`].
///
/// Blocking reads must not run on one of the library's I/O threads, which produce the events.
///
/// ```
/// use std::time::Duration;
/// use monocoque::handle::PairSocket;
/// use monocoque::status::Status;
/// use monocoque::DisconnectReason;
///
/// let a = PairSocket::new()?;
/// let mut status = a.status()?;
/// let endpoint = a.bind("tcp://127.0.0.1:0")?;
/// let b = PairSocket::new()?;
/// b.connect(&endpoint.to_string())?;
/// let wait = Duration::from_secs(5);
/// assert!(matches!(status.recv_timeout(wait)?, Status::Connected { connected_peers: 1, .. }));
/// b.stop();
/// let Status::Disconnected { reason, .. } = status.recv_timeout(wait)? else {
///     panic!("b's disconnection");
/// };
/// assert_eq!(reason, DisconnectReason::PeerClosed);
/// # Ok::<(), monocoque::Error>(())
/// ```
#[derive(Debug)]
pub struct HandleStatusStream(StatusStream);

impl HandleStatusStream {
    /// A status stream read from `monitor`, as [`StatusStream::new`]: for the untyped
    /// [`Handle`](crate::handle::Handle), `HandleStatusStream::new(handle.monitor()?)`.
    ///
    /// ```
    /// use monocoque::handle::{Context, Handle};
    /// use monocoque::status::{HandleStatusStream, Status};
    /// use monocoque::{SocketOptions, SocketType};
    ///
    /// let context = Context::new(1)?;
    /// let handle = Handle::new(&context, SocketType::Pull, SocketOptions::new())?;
    /// let mut status = HandleStatusStream::new(handle.monitor()?);
    /// handle.stop();
    /// assert_eq!(status.recv(), Some(Status::Closed));
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn new(monitor: Monitor) -> Self {
        Self(StatusStream::new(monitor))
    }

    /// The next status, blocking until one comes; `None` after [`Status::Closed`].
    ///
    /// ```
    /// let push = monocoque::handle::PushSocket::new()?;
    /// let mut status = push.status()?;
    /// push.shutdown();
    /// assert_eq!(status.recv(), Some(monocoque::status::Status::Closed));
    /// assert_eq!(status.recv(), None);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn recv(&mut self) -> Option<Status> {
        block_on_next(&mut self.0, None).flatten()
    }

    /// The next status, blocking for at most `timeout`: `RecvError::TimedOut` if none came,
    /// `RecvError::Closed` after [`Status::Closed`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::RecvError;
    ///
    /// let pull = monocoque::handle::PullSocket::new()?;
    /// let mut status = pull.status()?;
    /// let nothing = status.recv_timeout(Duration::from_millis(10));
    /// assert_eq!(nothing, Err(RecvError::TimedOut));
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Status, RecvError> {
        let deadline = Instant::now().checked_add(timeout);
        match block_on_next(&mut self.0, deadline) {
            Some(Some(status)) => Ok(status),
            Some(None) => Err(RecvError::Closed),
            None => Err(RecvError::TimedOut),
        }
    }

    /// The next status, waiting for one, as a future for any runtime; `None` after
    /// [`Status::Closed`]. Cancel-safe.
    ///
    /// ```
    /// let sub = monocoque::handle::SubSocket::new()?;
    /// let mut status = sub.status()?;
    /// sub.stop();
    /// // Any runtime: compio's here.
    /// let closed = compio::runtime::Runtime::new()?.block_on(status.recv_async());
    /// assert_eq!(closed, Some(monocoque::status::Status::Closed));
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub async fn recv_async(&mut self) -> Option<Status> {
        self.0.recv().await
    }

    /// The next status if one is waiting.
    ///
    /// ```
    /// let pull = monocoque::handle::PullSocket::new()?;
    /// let mut status = pull.status()?;
    /// assert_eq!(status.try_recv(), None);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Option<Status> {
        self.0.try_recv()
    }

    /// The statuses, blocking for each, up to and including [`Status::Closed`].
    ///
    /// ```
    /// let pair = monocoque::handle::PairSocket::new()?;
    /// let mut status = pair.status()?;
    /// pair.shutdown();
    /// let lines: Vec<String> = status.iter().map(|s| s.to_string()).collect();
    /// assert_eq!(lines, ["closed"]);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn iter(&mut self) -> impl Iterator<Item = Status> + '_ {
        std::iter::from_fn(move || self.recv())
    }

    /// How many peers are connected, as of the last status read, as
    /// [`StatusStream::connected_peers`].
    ///
    /// ```
    /// let rep = monocoque::handle::RepSocket::new()?;
    /// assert_eq!(rep.status()?.connected_peers(), 0);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn connected_peers(&self) -> usize {
        self.0.connected_peers()
    }
}

impl Stream for HandleStatusStream {
    type Item = Status;

    /// The next status; `None` after [`Status::Closed`].
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Status>> {
        self.0.poll_next_unpin(cx)
    }
}

/// `status()` on each compio socket type and each handle type.
macro_rules! status_methods {
    ($($name:ident),* $(,)?) => {$(
        impl crate::$name {
            /// Starts a stream of this socket's connection [`Status`]: peers connected,
            /// disconnected (with why) and failing their handshake, with the number of peers
            /// connected. Start it before `bind` and `connect`: connections made earlier are
            /// not reported. See [`status`](crate::status).
            ///
            /// ```
            /// # fn main() -> Result<(), monocoque::Error> {
            /// compio::runtime::Runtime::new()?.block_on(async {
            #[doc = concat!("    let socket = monocoque::", stringify!($name), "::new();")]
            ///     let mut status = socket.status();
            ///     assert_eq!(status.try_recv(), None);
            ///     drop(socket);
            ///     assert_eq!(status.recv().await, Some(monocoque::status::Status::Closed));
            ///     assert_eq!(status.recv().await, None);
            ///     Ok(())
            /// })
            /// # }
            /// ```
            pub fn status(&self) -> StatusStream {
                StatusStream::new(self.monitor_events(StatusStream::EVENTS))
            }
        }

        impl crate::handle::$name {
            /// Starts a stream of this socket's connection [`Status`], readable from any
            /// thread: peers connected, disconnected (with why) and failing their handshake,
            /// with the number of peers connected. Start it before `bind` and `connect`:
            /// connections made earlier are not reported. See [`status`](crate::status).
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!("let socket = monocoque::handle::", stringify!($name), "::new()?;")]
            /// let mut status = socket.status()?;
            /// assert_eq!(status.try_recv(), None);
            /// socket.shutdown();
            /// let closed = status.recv_timeout(Duration::from_secs(5))?;
            /// assert_eq!(closed, monocoque::status::Status::Closed);
            /// # Ok::<(), monocoque::Error>(())
            /// ```
            pub fn status(&self) -> Result<HandleStatusStream, Error> {
                self.monitor_events(StatusStream::EVENTS)
                    .map(HandleStatusStream::new)
            }
        }
    )*};
}

status_methods!(
    PairSocket,
    PubSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PushSocket,
    PullSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket,
);

/// A connection as the monitor names it: the socket's endpoint and the peer's address.
type Key = (String, Option<String>);

/// The peers connected since the stream started, from the monitor's events: which events
/// mean a status, and how many peers there are after each.
#[derive(Debug, Default)]
struct Tracker {
    /// The routing ids of the connections under each key. A TCP peer's address names one
    /// connection; on `ipc://` and `inproc://` several may share a key.
    live: HashMap<Key, Vec<Option<Bytes>>>,
    connected: usize,
    /// The connection whose handshake failure was the previous event: its `Disconnected`,
    /// which follows at once, is not a status (it was never connected).
    failed: Option<Key>,
}

impl Tracker {
    fn apply(&mut self, event: MonitorEvent) -> Option<Status> {
        let failed = self.failed.take();
        let MonitorEvent {
            kind,
            endpoint,
            peer_address,
            routing_id,
            peer_metadata,
            ..
        } = event;
        match kind {
            MonitorEventKind::HandshakeSucceeded => {
                self.live
                    .entry((endpoint.clone(), peer_address.clone()))
                    .or_default()
                    .push(routing_id.clone());
                self.connected += 1;
                Some(Status::Connected {
                    endpoint,
                    peer_address,
                    routing_id,
                    peer_metadata,
                    connected_peers: self.connected,
                })
            }
            MonitorEventKind::HandshakeFailedProtocol { error } => {
                self.failed = Some((endpoint.clone(), peer_address.clone()));
                Some(Status::HandshakeFailed {
                    endpoint,
                    peer_address,
                    reason: HandshakeFailure::Protocol(error),
                })
            }
            MonitorEventKind::HandshakeFailedAuth { status } => {
                self.failed = Some((endpoint.clone(), peer_address.clone()));
                Some(Status::HandshakeFailed {
                    endpoint,
                    peer_address,
                    reason: HandshakeFailure::Authentication { status },
                })
            }
            MonitorEventKind::Disconnected { reason } => {
                let key = (endpoint, peer_address);
                if failed.as_ref() == Some(&key) {
                    return None;
                }
                // The pattern refuses a peer after its handshake, before it is reported
                // connected.
                if reason == DisconnectReason::Refused {
                    let (endpoint, peer_address) = key;
                    return Some(Status::HandshakeFailed {
                        endpoint,
                        peer_address,
                        reason: HandshakeFailure::Refused,
                    });
                }
                // Not connected since the stream started: a connection that ended during its
                // handshake (a port scanner, a peer gone early), or one older than the stream.
                let ids = self.live.get_mut(&key)?;
                let at = routing_id
                    .as_ref()
                    .and_then(|id| ids.iter().position(|known| known.as_ref() == Some(id)))
                    .unwrap_or(0);
                let known = (at < ids.len()).then(|| ids.remove(at)).flatten();
                if ids.is_empty() {
                    self.live.remove(&key);
                }
                self.connected = self.connected.saturating_sub(1);
                let (endpoint, peer_address) = key;
                Some(Status::Disconnected {
                    endpoint,
                    peer_address,
                    routing_id: routing_id.or(known),
                    reason,
                    connected_peers: self.connected,
                })
            }
            _ => None,
        }
    }
}

/// Writes `endpoint, peer ADDRESS, routing id ID`, leaving out what is unknown.
fn write_where(
    f: &mut fmt::Formatter<'_>,
    endpoint: &str,
    peer_address: Option<&str>,
    routing_id: Option<&[u8]>,
) -> fmt::Result {
    write!(f, "{endpoint}")?;
    if let Some(address) = peer_address {
        write!(f, ", peer {address}")?;
    }
    match routing_id {
        Some(id) if !id.is_empty() => write!(f, ", routing id {}", RoutingId(id)),
        _ => Ok(()),
    }
}

/// A routing id as text where it is printable (`"w1"`), in hex otherwise (`0x0080000001`, a
/// generated one).
struct RoutingId<'a>(&'a [u8]);

impl fmt::Display for RoutingId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(text) if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') => {
                write!(f, "{text:?}")
            }
            _ => {
                write!(f, "0x")?;
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

/// `1 peer connected`, `2 peers connected`.
struct Peers(usize);

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} peer{s} connected", self.0)
    }
}

/// Polls `stream` on this thread, parking between wake-ups, until it yields or `deadline`
/// passes (`None`).
fn block_on_next(stream: &mut StatusStream, deadline: Option<Instant>) -> Option<Option<Status>> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(next) = stream.poll_next_unpin(&mut cx) {
            return Some(next);
        }
        // A wake-up may come early or spuriously: the loop polls again either way.
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                std::thread::park_timeout(left);
            }
        }
    }
}

/// Wakes a thread parked in [`block_on_next`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: MonitorEventKind, endpoint: &str, peer: Option<&str>) -> MonitorEvent {
        MonitorEvent {
            kind,
            endpoint: endpoint.to_owned(),
            peer_address: peer.map(str::to_owned),
            routing_id: None,
            peer_metadata: None,
        }
    }

    fn succeeded(endpoint: &str, peer: Option<&str>, id: Option<&'static str>) -> MonitorEvent {
        let mut event = event(MonitorEventKind::HandshakeSucceeded, endpoint, peer);
        event.routing_id = id.map(|id| Bytes::from_static(id.as_bytes()));
        event
    }

    fn disconnected(endpoint: &str, peer: Option<&str>, reason: DisconnectReason) -> MonitorEvent {
        event(MonitorEventKind::Disconnected { reason }, endpoint, peer)
    }

    const TCP: &str = "tcp://127.0.0.1:5555";

    #[test]
    fn connected_then_disconnected_counts_peers() {
        let mut tracker = Tracker::default();
        let a = tracker
            .apply(succeeded(TCP, Some("127.0.0.1:1"), None))
            .unwrap();
        let b = tracker
            .apply(succeeded(TCP, Some("127.0.0.1:2"), Some("b")))
            .unwrap();
        assert!(matches!(
            a,
            Status::Connected {
                connected_peers: 1,
                ..
            }
        ));
        assert!(matches!(
            b,
            Status::Connected {
                connected_peers: 2,
                ..
            }
        ));
        assert_eq!(
            b.to_string(),
            "connected: tcp://127.0.0.1:5555, peer 127.0.0.1:2, routing id \"b\" (2 peers connected)"
        );
        let gone = tracker
            .apply(disconnected(
                TCP,
                Some("127.0.0.1:2"),
                DisconnectReason::PeerClosed,
            ))
            .unwrap();
        assert_eq!(
            gone,
            Status::Disconnected {
                endpoint: TCP.into(),
                peer_address: Some("127.0.0.1:2".into()),
                routing_id: Some(Bytes::from_static(b"b")),
                reason: DisconnectReason::PeerClosed,
                connected_peers: 1,
            }
        );
        assert_eq!(
            gone.to_string(),
            "disconnected: tcp://127.0.0.1:5555, peer 127.0.0.1:2, routing id \"b\": peer closed \
             the connection (1 peer connected)"
        );
        assert!(
            tracker
                .live
                .contains_key(&(TCP.into(), Some("127.0.0.1:1".into())))
        );
        assert_eq!(tracker.live.len(), 1);
    }

    #[test]
    fn a_failed_handshake_is_reported_once_and_not_counted() {
        let mut tracker = Tracker::default();
        tracker.apply(succeeded(TCP, Some("127.0.0.1:1"), None));
        let failure = MonitorEventKind::HandshakeFailedAuth { status: 400 };
        let failed = tracker
            .apply(event(failure, TCP, Some("127.0.0.1:2")))
            .unwrap();
        assert_eq!(
            failed.to_string(),
            "handshake failed: tcp://127.0.0.1:5555, peer 127.0.0.1:2: authentication refused \
             (ZAP status 400)"
        );
        let reason =
            DisconnectReason::Incompatible(ProtocolError::AuthenticationFailed { status: 400 });
        assert_eq!(
            tracker.apply(disconnected(TCP, Some("127.0.0.1:2"), reason)),
            None
        );
        assert_eq!(tracker.connected, 1);
    }

    #[test]
    fn a_connection_that_never_completed_its_handshake_is_not_a_status() {
        let mut tracker = Tracker::default();
        let gone = disconnected(TCP, Some("127.0.0.1:9"), DisconnectReason::PeerClosed);
        assert_eq!(tracker.apply(gone), None);
        let listening = event(MonitorEventKind::Listening, TCP, None);
        assert_eq!(tracker.apply(listening), None);
        assert_eq!(tracker.connected, 0);
    }

    #[test]
    fn a_refused_peer_is_a_handshake_failure() {
        let mut tracker = Tracker::default();
        tracker.apply(succeeded("inproc://x", None, None));
        let refused = tracker
            .apply(disconnected("inproc://x", None, DisconnectReason::Refused))
            .unwrap();
        assert_eq!(
            refused,
            Status::HandshakeFailed {
                endpoint: "inproc://x".into(),
                peer_address: None,
                reason: HandshakeFailure::Refused,
            }
        );
        assert_eq!(tracker.connected, 1);
    }

    #[test]
    fn peers_sharing_an_endpoint_are_told_apart_by_routing_id() {
        let mut tracker = Tracker::default();
        tracker.apply(succeeded("ipc:///tmp/s", None, Some("a")));
        tracker.apply(succeeded("ipc:///tmp/s", None, Some("b")));
        let mut gone = disconnected("ipc:///tmp/s", None, DisconnectReason::PeerClosed);
        gone.routing_id = Some(Bytes::from_static(b"b"));
        tracker.apply(gone);
        assert_eq!(
            tracker.live[&("ipc:///tmp/s".to_owned(), None)],
            [Some(Bytes::from_static(b"a"))]
        );
        // Without a routing id (inproc's disconnections), one of the endpoint's peers goes.
        let Some(Status::Disconnected {
            routing_id,
            connected_peers,
            ..
        }) = tracker.apply(disconnected(
            "ipc:///tmp/s",
            None,
            DisconnectReason::PeerClosed,
        ))
        else {
            panic!("a disconnection");
        };
        assert_eq!(routing_id, Some(Bytes::from_static(b"a")));
        assert_eq!(connected_peers, 0);
        assert!(tracker.live.is_empty());
    }

    #[test]
    fn routing_ids_print_as_text_or_hex() {
        assert_eq!(RoutingId(b"w1").to_string(), "\"w1\"");
        assert_eq!(
            RoutingId(b"\x00\x80\x00\x00\x01").to_string(),
            "0x0080000001"
        );
        assert_eq!(Status::Closed.to_string(), "closed");
    }
}
