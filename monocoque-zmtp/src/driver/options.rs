//! Socket options, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::proto::{DEFAULT_HANDSHAKE_TIMEOUT, HeartbeatConfig, SocketLimits};

/// The options a socket is created with.
///
/// Defaults are libzmq's, named after its `ZMQ_*` options in each setter's doc.
///
/// ```
/// use std::time::Duration;
/// use monocoque_zmtp::driver::SocketOptions;
///
/// let options = SocketOptions::new()
///     .send_hwm(10_000)
///     .routing_id("worker-1")
///     .reconnect_interval(Duration::from_millis(50));
/// assert_eq!(options.send_hwm_value(), 10_000);
/// assert_eq!(options.recv_hwm_value(), 1000);
/// ```
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub(crate) send_hwm: usize,
    pub(crate) recv_hwm: usize,
    pub(crate) routing_id: Option<Bytes>,
    pub(crate) router_mandatory: bool,
    pub(crate) reconnect_interval: Duration,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) max_message_size: Option<u64>,
    pub(crate) heartbeat: HeartbeatConfig,
    pub(crate) linger: Option<Duration>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            send_hwm: 1000,
            recv_hwm: 1000,
            routing_id: None,
            router_mandatory: false,
            reconnect_interval: Duration::from_millis(100),
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            max_message_size: None,
            heartbeat: HeartbeatConfig::default(),
            linger: None,
        }
    }
}

impl SocketOptions {
    /// libzmq's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `ZMQ_SNDHWM`: messages queued per peer for sending (default 1000, 0 for no limit).
    pub fn send_hwm(mut self, messages: usize) -> Self {
        self.send_hwm = messages;
        self
    }

    /// `ZMQ_RCVHWM`: messages queued per peer after receiving (default 1000, 0 for no limit).
    pub fn recv_hwm(mut self, messages: usize) -> Self {
        self.recv_hwm = messages;
        self
    }

    /// `ZMQ_ROUTING_ID`: the identity announced to peers (REQ, DEALER and ROUTER send it); a
    /// ROUTER peer addresses us by it. At most 255 bytes, not starting with a zero byte.
    pub fn routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing_id = Some(id.into());
        self
    }

    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails with
    /// `HostUnreachable`, and one to a full peer with `WouldBlock`, instead of being dropped.
    pub fn router_mandatory(mut self, on: bool) -> Self {
        self.router_mandatory = on;
        self
    }

    /// `ZMQ_RECONNECT_IVL`: how long a connecting socket waits before trying again (100 ms).
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval;
        self
    }

    /// `ZMQ_HANDSHAKE_IVL`: how long a peer has to finish its handshake (30 s; `None` forever).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// `ZMQ_MAXMSGSIZE`: the largest message accepted from a peer; a larger one closes that
    /// connection (default: no limit).
    pub fn max_message_size(mut self, bytes: Option<u64>) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// `ZMQ_HEARTBEAT_IVL`: send a PING on every connection this often (default: never).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat.interval = Some(interval).filter(|i| !i.is_zero());
        self
    }

    /// `ZMQ_HEARTBEAT_TTL`: how long peers should wait for our traffic before they give up,
    /// announced in our PINGs (whole tenths of a second, at most 6553.5 s; default: no hint).
    pub fn heartbeat_ttl(mut self, ttl: Duration) -> Self {
        self.heartbeat.ttl = Some(ttl).filter(|t| !t.is_zero());
        self
    }

    /// `ZMQ_HEARTBEAT_TIMEOUT`: close a connection that sends nothing for this long after one of
    /// our PINGs (default: the heartbeat interval).
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat.timeout = Some(timeout).filter(|t| !t.is_zero());
        self
    }

    /// `ZMQ_LINGER`: how long [`close`](super::Socket::close) waits for queued messages to be
    /// written (default `None`: until they are, as libzmq's -1). Dropping a socket never waits.
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }

    /// The send high-water mark.
    pub fn send_hwm_value(&self) -> usize {
        self.send_hwm
    }

    /// The receive high-water mark.
    pub fn recv_hwm_value(&self) -> usize {
        self.recv_hwm
    }

    pub(crate) fn limits(&self) -> SocketLimits {
        SocketLimits {
            send_hwm: self.send_hwm,
            recv_hwm: self.recv_hwm,
            router_mandatory: self.router_mandatory,
            seed: random_seed(),
        }
    }
}

/// A seed for generated routing ids; libzmq starts its counter at a random value too, so that
/// ids from a restarted process do not repeat the previous run's.
fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u32
}
