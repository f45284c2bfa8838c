//! Socket monitor events, after libzmq's `zmq_socket_monitor`.

use std::time::Duration;

use bytes::Bytes;

use crate::proto::{DisconnectReason, Metadata, ProtocolError};

/// How many events a monitor holds before it drops new ones: an unread monitor must not grow
/// without bound.
pub(crate) const MONITOR_CAPACITY: usize = 4096;

/// What happened.
///
/// ```
/// use monocoque::{DisconnectReason, MonitorEventKind, MonitorMask};
///
/// let closed = MonitorEventKind::Disconnected { reason: DisconnectReason::PeerClosed };
/// assert_eq!(closed.zmq_event(), 0x0200); // ZMQ_EVENT_DISCONNECTED
/// assert_eq!(closed.zmq_event(), MonitorMask::DISCONNECTED.bits());
/// assert!(!MonitorMask::CONNECTED.contains(&closed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEventKind {
    /// `ZMQ_EVENT_LISTENING`: a bind succeeded.
    Listening,
    /// `ZMQ_EVENT_BIND_FAILED`.
    BindFailed {
        /// The operating system's error.
        error: String,
    },
    /// `ZMQ_EVENT_ACCEPTED`: a peer connected to a bound endpoint.
    Accepted,
    /// `ZMQ_EVENT_ACCEPT_FAILED`.
    AcceptFailed {
        /// The operating system's error.
        error: String,
    },
    /// `ZMQ_EVENT_CONNECTED`: an outgoing connection was established.
    Connected,
    /// `ZMQ_EVENT_CONNECT_DELAYED`: a connection attempt failed and will be retried.
    ConnectDelayed {
        /// The operating system's error.
        error: String,
    },
    /// `ZMQ_EVENT_CONNECT_RETRIED`: the next attempt is scheduled after `interval`.
    ConnectRetried {
        /// The wait before the next attempt.
        interval: Duration,
    },
    /// `ZMQ_EVENT_CLOSED`: a listener was closed.
    Closed,
    /// `ZMQ_EVENT_DISCONNECTED`: a connection ended, with why; the event's `routing_id` is the
    /// peer's once its handshake had told it.
    Disconnected {
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`.
    HandshakeSucceeded,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`, with the violation.
    HandshakeFailedProtocol {
        /// What the peer did wrong.
        error: ProtocolError,
    },
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`, with the ZAP status code (for PLAIN and CURVE).
    HandshakeFailedAuth {
        /// The ZAP status code (400, 500, ...).
        status: u16,
    },
    /// `ZMQ_EVENT_MONITOR_STOPPED`: no more events will come.
    MonitorStopped,
    /// Service discovery (monocoque's own, in [`MonitorMask::DISCOVERY`]): an instance of
    /// `service` appeared, and the socket connects to it (the event's endpoint).
    EndpointDiscovered {
        /// The service's name.
        service: String,
        /// The instance's id in the registry.
        instance: String,
    },
    /// Service discovery: an instance of `service` went away (revoked, or its lease expired),
    /// and the socket stops connecting to it (the event's endpoint).
    EndpointLost {
        /// The service's name.
        service: String,
        /// The instance's id in the registry.
        instance: String,
    },
    /// Service discovery: this socket's endpoint (the event's) is registered as an instance of
    /// `service`, under a live lease; again after a lease was lost.
    Registered {
        /// The service's name.
        service: String,
        /// The instance's id in the registry.
        instance: String,
    },
    /// Service discovery: the lease of this socket's registration was lost (the registry was
    /// restarted or wiped, or could not be reached within the lease's time to live). The
    /// registration is made again as soon as the registry answers; `Registered` follows.
    LeaseLost {
        /// The service's name.
        service: String,
        /// The instance's id in the registry.
        instance: String,
        /// What the registry said, or why it could not be reached.
        error: String,
    },
    /// Service discovery: the registry cannot be reached; it is retried. Connections already
    /// made keep working meanwhile.
    RegistryUnavailable {
        /// The service's name.
        service: String,
        /// Why.
        error: String,
    },
}

impl MonitorEventKind {
    /// libzmq's `ZMQ_EVENT_*` value of the event.
    pub fn zmq_event(&self) -> u16 {
        match self {
            Self::Connected => MonitorMask::CONNECTED.0,
            Self::ConnectDelayed { .. } => MonitorMask::CONNECT_DELAYED.0,
            Self::ConnectRetried { .. } => MonitorMask::CONNECT_RETRIED.0,
            Self::Listening => MonitorMask::LISTENING.0,
            Self::BindFailed { .. } => MonitorMask::BIND_FAILED.0,
            Self::Accepted => MonitorMask::ACCEPTED.0,
            Self::AcceptFailed { .. } => MonitorMask::ACCEPT_FAILED.0,
            Self::Closed => MonitorMask::CLOSED.0,
            Self::Disconnected { .. } => MonitorMask::DISCONNECTED.0,
            Self::MonitorStopped => MonitorMask::MONITOR_STOPPED.0,
            Self::HandshakeSucceeded => MonitorMask::HANDSHAKE_SUCCEEDED.0,
            Self::HandshakeFailedProtocol { .. } => MonitorMask::HANDSHAKE_FAILED_PROTOCOL.0,
            Self::HandshakeFailedAuth { .. } => MonitorMask::HANDSHAKE_FAILED_AUTH.0,
            Self::EndpointDiscovered { .. }
            | Self::EndpointLost { .. }
            | Self::Registered { .. }
            | Self::LeaseLost { .. }
            | Self::RegistryUnavailable { .. } => MonitorMask::DISCOVERY.0,
        }
    }
}

/// Which events a monitor receives: libzmq's `ZMQ_EVENT_*` bits, combined with `|`.
///
/// ```
/// use monocoque::{MonitorEventKind, MonitorMask};
/// let mask = MonitorMask::HANDSHAKE_SUCCEEDED | MonitorMask::DISCONNECTED;
/// assert!(mask.contains(&MonitorEventKind::HandshakeSucceeded));
/// assert!(!mask.contains(&MonitorEventKind::Listening));
/// // The end of the stream is never filtered out.
/// assert!(mask.contains(&MonitorEventKind::MonitorStopped));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorMask(u16);

impl MonitorMask {
    /// `ZMQ_EVENT_CONNECTED`
    pub const CONNECTED: Self = Self(0x0001);
    /// `ZMQ_EVENT_CONNECT_DELAYED`
    pub const CONNECT_DELAYED: Self = Self(0x0002);
    /// `ZMQ_EVENT_CONNECT_RETRIED`
    pub const CONNECT_RETRIED: Self = Self(0x0004);
    /// `ZMQ_EVENT_LISTENING`
    pub const LISTENING: Self = Self(0x0008);
    /// `ZMQ_EVENT_BIND_FAILED`
    pub const BIND_FAILED: Self = Self(0x0010);
    /// `ZMQ_EVENT_ACCEPTED`
    pub const ACCEPTED: Self = Self(0x0020);
    /// `ZMQ_EVENT_ACCEPT_FAILED`
    pub const ACCEPT_FAILED: Self = Self(0x0040);
    /// `ZMQ_EVENT_CLOSED`
    pub const CLOSED: Self = Self(0x0080);
    /// `ZMQ_EVENT_DISCONNECTED`
    pub const DISCONNECTED: Self = Self(0x0200);
    /// `ZMQ_EVENT_MONITOR_STOPPED` (always delivered, whatever the mask)
    pub const MONITOR_STOPPED: Self = Self(0x0400);
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`
    pub const HANDSHAKE_SUCCEEDED: Self = Self(0x1000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`
    pub const HANDSHAKE_FAILED_PROTOCOL: Self = Self(0x2000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`
    pub const HANDSHAKE_FAILED_AUTH: Self = Self(0x4000);
    /// monocoque's own: service discovery's events (`EndpointDiscovered`, `EndpointLost`,
    /// `Registered`, `LeaseLost`, `RegistryUnavailable`), on the bit libzmq leaves unused.
    pub const DISCOVERY: Self = Self(0x8000);
    /// `ZMQ_EVENT_ALL`, and the discovery events
    pub const ALL: Self = Self(0xFFFF);

    /// A mask from libzmq's bits.
    pub const fn from_bits(bits: u16) -> Self {
        Self(bits)
    }

    /// The bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether events of `kind` pass; `MonitorStopped` always does.
    pub fn contains(self, kind: &MonitorEventKind) -> bool {
        matches!(kind, MonitorEventKind::MonitorStopped) || self.0 & kind.zmq_event() != 0
    }
}

impl std::ops::BitOr for MonitorMask {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// One event: what happened, where, and with whom.
///
/// ```
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// use monocoque::{DealerSocket, MonitorEventKind, MonitorMask, RouterSocket, SocketOptions};
///
/// let router = RouterSocket::new();
/// let monitor = router.monitor_events(MonitorMask::HANDSHAKE_SUCCEEDED);
/// let endpoint = router.bind("tcp://127.0.0.1:0").await?;
/// let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("worker"))?;
/// dealer.connect(&endpoint.to_string())?;
/// let event = monitor.recv().await.unwrap();
/// assert_eq!(event.kind, MonitorEventKind::HandshakeSucceeded);
/// assert_eq!(event.endpoint, endpoint.to_string());
/// assert!(event.peer_address.unwrap().starts_with("127.0.0.1:"));
/// assert_eq!(event.routing_id.as_deref(), Some(&b"worker"[..]));
/// # Ok::<(), monocoque::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// What happened.
    pub kind: MonitorEventKind,
    /// The endpoint it happened on (as bound, with the real port, or as connected).
    pub endpoint: String,
    /// The peer's address, where there is a peer (`ip:port` for TCP).
    pub peer_address: Option<String>,
    /// The peer's routing id, once its handshake has told it.
    pub routing_id: Option<Bytes>,
    /// With `HandshakeSucceeded`: the metadata the peer announced, and the `User-Id` a PLAIN or
    /// CURVE server's authenticator gave the client.
    pub peer_metadata: Option<Metadata>,
}

impl MonitorEvent {
    /// An event on `endpoint` with no peer: how service discovery reports its own events
    /// through [`Follow::Event`](super::Follow::Event).
    ///
    /// ```
    /// use monocoque::{MonitorEvent, MonitorEventKind, MonitorMask};
    /// let kind = MonitorEventKind::EndpointLost { service: "quotes".into(), instance: "a1".into() };
    /// let event = MonitorEvent::new(kind, "tcp://10.0.0.7:5556");
    /// assert!(MonitorMask::DISCOVERY.contains(&event.kind));
    /// assert_eq!(event.peer_address, None);
    /// ```
    pub fn new(kind: MonitorEventKind, endpoint: &str) -> Self {
        Self {
            kind,
            endpoint: endpoint.to_owned(),
            peer_address: None,
            routing_id: None,
            peer_metadata: None,
        }
    }

    pub(crate) fn peer(mut self, address: Option<&str>) -> Self {
        self.peer_address = address.filter(|a| !a.is_empty()).map(str::to_owned);
        self
    }
}

/// A stream of a socket's events, from [`Socket::monitor`](super::Socket::monitor) or
/// [`Socket::monitor_events`](super::Socket::monitor_events) (libzmq's event mask).
///
/// Read it with [`recv`](Self::recv), or as a [`Stream`](futures_util::Stream) (`StreamExt::next`, combinators). It can
/// be read from any thread or runtime. Events are dropped, not queued without limit, when more
/// than a few thousand are left unread. Several monitors may watch one socket; each gets every
/// event its mask selects.
///
/// ```
/// use futures_util::StreamExt;
/// use monocoque::{MonitorEventKind, MonitorMask, PullSocket};
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// let pull = PullSocket::new();
/// let mut listening = pull.monitor_events(MonitorMask::LISTENING);
/// let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
/// let event = listening.next().await.unwrap();
/// assert_eq!(event.kind, MonitorEventKind::Listening);
/// assert_eq!(event.endpoint, endpoint.to_string());
/// # });
/// ```
pub struct Monitor {
    events: flume::Receiver<MonitorEvent>,
    /// A second receiver of the same channel, for `Stream`: each event goes to one of the two.
    stream: flume::r#async::RecvStream<'static, MonitorEvent>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("unread", &self.events.len())
            .finish()
    }
}

impl futures_util::Stream for Monitor {
    type Item = MonitorEvent;

    /// The next event; `None` once the socket is gone, as [`recv`](Monitor::recv).
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<MonitorEvent>> {
        futures_util::StreamExt::poll_next_unpin(&mut self.stream, cx)
    }
}

impl Monitor {
    pub(crate) fn new(events: flume::Receiver<MonitorEvent>) -> Self {
        let stream = events.clone().into_stream();
        Self { events, stream }
    }

    /// The next event; `None` once the socket is gone (after [`MonitorEventKind::MonitorStopped`]).
    pub async fn recv(&self) -> Option<MonitorEvent> {
        self.events.recv_async().await.ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.events.try_recv().ok()
    }
}
