//! Socket monitor events, after libzmq's `zmq_socket_monitor`.

use std::time::Duration;

use bytes::Bytes;

use crate::proto::{DisconnectReason, ProtocolError};

/// How many events a monitor holds before it drops new ones: an unread monitor must not grow
/// without bound.
pub(crate) const MONITOR_CAPACITY: usize = 4096;

/// What happened.
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
}

/// One event: what happened, where, and with whom.
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
}

impl MonitorEvent {
    pub(crate) fn new(kind: MonitorEventKind, endpoint: &str) -> Self {
        Self {
            kind,
            endpoint: endpoint.to_owned(),
            peer_address: None,
            routing_id: None,
        }
    }

    pub(crate) fn peer(mut self, address: Option<&str>) -> Self {
        self.peer_address = address.filter(|a| !a.is_empty()).map(str::to_owned);
        self
    }
}

/// A stream of a socket's events, from [`Socket::monitor`](super::Socket::monitor).
///
/// It can be read from any thread or runtime. Events are dropped, not queued without limit, when
/// more than a few thousand are left unread.
#[derive(Debug)]
pub struct Monitor {
    pub(crate) events: flume::Receiver<MonitorEvent>,
}

impl Monitor {
    /// The next event; `None` once the socket is gone (after [`MonitorEventKind::MonitorStopped`]).
    pub async fn recv(&self) -> Option<MonitorEvent> {
        self.events.recv_async().await.ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.events.try_recv().ok()
    }
}
