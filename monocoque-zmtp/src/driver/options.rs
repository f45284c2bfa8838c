//! Socket options, with libzmq's names and defaults.
//!
//! Every option is a builder method on [`SocketOptions`], named after what it does, with its
//! `ZMQ_*` name and default in the doc. An option that does not apply to the socket type it is
//! given to is an [`OptionError::NotApplicable`], never silently ignored.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::pending::{DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS};
use super::security::{CurveKeys, Security};
use crate::proto::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_RECEIVE_BUDGET, HeartbeatConfig, PatternOptions,
    RouterNotify, SharedAuthenticator, SocketType,
};

/// The name of an option, as libzmq spells it.
///
/// ```
/// use monocoque::{OptionName, SocketType};
///
/// assert_eq!(OptionName::SendHwm.zmq_name(), "ZMQ_SNDHWM");
/// assert_eq!(OptionName::RoutingId.to_string(), "ZMQ_ROUTING_ID");
/// assert!(OptionName::RoutingId.applies_to(SocketType::Dealer));
/// assert!(!OptionName::RoutingId.applies_to(SocketType::Pub));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionName {
    /// `ZMQ_SNDHWM`
    SendHwm,
    /// `ZMQ_RCVHWM`
    RecvHwm,
    /// `ZMQ_LINGER`
    Linger,
    /// `ZMQ_RECONNECT_IVL`
    ReconnectInterval,
    /// `ZMQ_RECONNECT_IVL_MAX`
    ReconnectIntervalMax,
    /// `ZMQ_CONNECT_TIMEOUT`
    ConnectTimeout,
    /// `ZMQ_HANDSHAKE_IVL`
    HandshakeTimeout,
    /// `ZMQ_HEARTBEAT_IVL`
    HeartbeatInterval,
    /// `ZMQ_HEARTBEAT_TTL`
    HeartbeatTtl,
    /// `ZMQ_HEARTBEAT_TIMEOUT`
    HeartbeatTimeout,
    /// `ZMQ_MAXMSGSIZE`
    MaxMessageSize,
    /// `ZMQ_SNDTIMEO`
    SendTimeout,
    /// `ZMQ_RCVTIMEO`
    RecvTimeout,
    /// `ZMQ_IMMEDIATE`
    Immediate,
    /// `ZMQ_CONFLATE`
    Conflate,
    /// `ZMQ_ROUTING_ID`
    RoutingId,
    /// `ZMQ_ROUTER_MANDATORY`
    RouterMandatory,
    /// `ZMQ_ROUTER_HANDOVER`
    RouterHandover,
    /// `ZMQ_PROBE_ROUTER`
    ProbeRouter,
    /// `ZMQ_REQ_CORRELATE`
    ReqCorrelate,
    /// `ZMQ_REQ_RELAXED`
    ReqRelaxed,
    /// `ZMQ_XPUB_VERBOSE`
    XpubVerbose,
    /// `ZMQ_XPUB_VERBOSER`
    XpubVerboser,
    /// `ZMQ_XPUB_MANUAL`
    XpubManual,
    /// `ZMQ_XPUB_WELCOME_MSG`
    XpubWelcomeMessage,
    /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE`
    XsubVerboseUnsubscribe,
    /// `ZMQ_INVERT_MATCHING`
    InvertMatching,
    /// `ZMQ_TCP_KEEPALIVE`, `ZMQ_TCP_KEEPALIVE_IDLE`, `ZMQ_TCP_KEEPALIVE_CNT`, `ZMQ_TCP_KEEPALIVE_INTVL`
    TcpKeepalive,
    /// `ZMQ_SNDBUF`
    SendBuffer,
    /// `ZMQ_RCVBUF`
    RecvBuffer,
    /// The receive budget (monocoque's own: libzmq has none).
    ReceiveBudget,
    /// `ZMQ_BACKLOG`
    Backlog,
    /// `ZMQ_TOS`
    Tos,
    /// `ZMQ_BINDTODEVICE`
    BindToDevice,
    /// `ZMQ_TCP_MAXRT`
    TcpMaxRetransmit,
    /// `ZMQ_IPV6`
    Ipv6,
    /// `ZMQ_XPUB_NODROP`
    XpubNoDrop,
    /// `ZMQ_ROUTER_NOTIFY`
    RouterNotify,
    /// `ZMQ_CONNECT_ROUTING_ID` (given to `connect_with_routing_id`, not to `SocketOptions`)
    ConnectRoutingId,
    /// `ZMQ_PLAIN_SERVER`
    PlainServer,
    /// `ZMQ_PLAIN_USERNAME`
    PlainUsername,
    /// `ZMQ_PLAIN_PASSWORD`
    PlainPassword,
    /// `ZMQ_CURVE_SERVER`
    CurveServer,
    /// `ZMQ_CURVE_PUBLICKEY`
    CurvePublicKey,
    /// `ZMQ_CURVE_SECRETKEY`
    CurveSecretKey,
    /// `ZMQ_CURVE_SERVERKEY`
    CurveServerKey,
}

impl OptionName {
    /// libzmq's name for the option.
    pub fn zmq_name(self) -> &'static str {
        match self {
            Self::SendHwm => "ZMQ_SNDHWM",
            Self::RecvHwm => "ZMQ_RCVHWM",
            Self::Linger => "ZMQ_LINGER",
            Self::ReconnectInterval => "ZMQ_RECONNECT_IVL",
            Self::ReconnectIntervalMax => "ZMQ_RECONNECT_IVL_MAX",
            Self::ConnectTimeout => "ZMQ_CONNECT_TIMEOUT",
            Self::HandshakeTimeout => "ZMQ_HANDSHAKE_IVL",
            Self::HeartbeatInterval => "ZMQ_HEARTBEAT_IVL",
            Self::HeartbeatTtl => "ZMQ_HEARTBEAT_TTL",
            Self::HeartbeatTimeout => "ZMQ_HEARTBEAT_TIMEOUT",
            Self::MaxMessageSize => "ZMQ_MAXMSGSIZE",
            Self::SendTimeout => "ZMQ_SNDTIMEO",
            Self::RecvTimeout => "ZMQ_RCVTIMEO",
            Self::Immediate => "ZMQ_IMMEDIATE",
            Self::Conflate => "ZMQ_CONFLATE",
            Self::RoutingId => "ZMQ_ROUTING_ID",
            Self::RouterMandatory => "ZMQ_ROUTER_MANDATORY",
            Self::RouterHandover => "ZMQ_ROUTER_HANDOVER",
            Self::ProbeRouter => "ZMQ_PROBE_ROUTER",
            Self::ReqCorrelate => "ZMQ_REQ_CORRELATE",
            Self::ReqRelaxed => "ZMQ_REQ_RELAXED",
            Self::XpubVerbose => "ZMQ_XPUB_VERBOSE",
            Self::XpubVerboser => "ZMQ_XPUB_VERBOSER",
            Self::XpubManual => "ZMQ_XPUB_MANUAL",
            Self::XpubWelcomeMessage => "ZMQ_XPUB_WELCOME_MSG",
            Self::XsubVerboseUnsubscribe => "ZMQ_XSUB_VERBOSE_UNSUBSCRIBE",
            Self::InvertMatching => "ZMQ_INVERT_MATCHING",
            Self::TcpKeepalive => "ZMQ_TCP_KEEPALIVE",
            Self::SendBuffer => "ZMQ_SNDBUF",
            Self::RecvBuffer => "ZMQ_RCVBUF",
            Self::ReceiveBudget => "receive_budget",
            Self::Backlog => "ZMQ_BACKLOG",
            Self::Tos => "ZMQ_TOS",
            Self::BindToDevice => "ZMQ_BINDTODEVICE",
            Self::TcpMaxRetransmit => "ZMQ_TCP_MAXRT",
            Self::Ipv6 => "ZMQ_IPV6",
            Self::XpubNoDrop => "ZMQ_XPUB_NODROP",
            Self::RouterNotify => "ZMQ_ROUTER_NOTIFY",
            Self::ConnectRoutingId => "ZMQ_CONNECT_ROUTING_ID",
            Self::PlainServer => "ZMQ_PLAIN_SERVER",
            Self::PlainUsername => "ZMQ_PLAIN_USERNAME",
            Self::PlainPassword => "ZMQ_PLAIN_PASSWORD",
            Self::CurveServer => "ZMQ_CURVE_SERVER",
            Self::CurvePublicKey => "ZMQ_CURVE_PUBLICKEY",
            Self::CurveSecretKey => "ZMQ_CURVE_SECRETKEY",
            Self::CurveServerKey => "ZMQ_CURVE_SERVERKEY",
        }
    }

    /// Whether the option means anything for `socket_type` (as libzmq documents it).
    pub fn applies_to(self, socket_type: SocketType) -> bool {
        use SocketType::*;
        match self {
            Self::RoutingId => matches!(socket_type, Req | Dealer | Router),
            Self::RouterMandatory
            | Self::RouterHandover
            | Self::RouterNotify
            | Self::ConnectRoutingId => socket_type == Router,
            Self::XpubNoDrop => matches!(socket_type, Pub | Xpub),
            Self::ProbeRouter => matches!(socket_type, Router | Dealer | Req),
            Self::ReqCorrelate | Self::ReqRelaxed => socket_type == Req,
            Self::XpubVerbose
            | Self::XpubVerboser
            | Self::XpubManual
            | Self::XpubWelcomeMessage => socket_type == Xpub,
            Self::XsubVerboseUnsubscribe => socket_type == Xsub,
            Self::InvertMatching => matches!(socket_type, Pub | Xpub | Sub),
            Self::Conflate => matches!(socket_type, Push | Pull | Pub | Sub | Dealer),
            _ => true,
        }
    }
}

impl fmt::Display for OptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.zmq_name())
    }
}

/// A socket option that cannot be used as given.
///
/// ```
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// use monocoque::{DealerSocket, OptionError, OptionName};
///
/// let dealer = DealerSocket::new();
/// let error = dealer.set_options(|o| o.routing_id("")).unwrap_err();
/// assert!(matches!(error, OptionError::InvalidValue { option: OptionName::RoutingId, .. }));
/// let reason = "a routing id has 1 to 255 bytes";
/// assert_eq!(error.to_string(), format!("invalid value for ZMQ_ROUTING_ID: {reason}"));
/// assert_eq!(dealer.options().routing_id_value(), None); // the refused change did not apply
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// The option means nothing for this socket type.
    #[error("{option} does not apply to a {socket_type} socket")]
    NotApplicable {
        /// The option.
        option: OptionName,
        /// The socket type it was given to.
        socket_type: SocketType,
    },
    /// The value is out of the option's range.
    #[error("invalid value for {option}: {reason}")]
    InvalidValue {
        /// The option.
        option: OptionName,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// TCP keepalive settings (`ZMQ_TCP_KEEPALIVE*`); what is not set keeps the system's value.
///
/// ```
/// use std::time::Duration;
/// use monocoque::{SocketOptions, TcpKeepalive};
///
/// let keepalive = TcpKeepalive::new().idle(Duration::from_secs(30)).count(3);
/// assert_eq!(keepalive.idle, Some(Duration::from_secs(30)));
/// assert_eq!(keepalive.interval, None); // the system's
/// let options = SocketOptions::new().tcp_keepalive(Some(keepalive));
/// assert_eq!(options.tcp_keepalive_value(), Some(Some(keepalive)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpKeepalive {
    /// Idle time before the first probe (`ZMQ_TCP_KEEPALIVE_IDLE`).
    pub idle: Option<Duration>,
    /// Time between probes (`ZMQ_TCP_KEEPALIVE_INTVL`).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`ZMQ_TCP_KEEPALIVE_CNT`).
    pub count: Option<u32>,
}

impl TcpKeepalive {
    /// Keepalive on, every setting the system's.
    pub fn new() -> Self {
        Self::default()
    }

    #[doc(alias = "ZMQ_TCP_KEEPALIVE_IDLE")]
    /// Idle time before the first probe.
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    #[doc(alias = "ZMQ_TCP_KEEPALIVE_INTVL")]
    /// Time between probes.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    #[doc(alias = "ZMQ_TCP_KEEPALIVE_CNT")]
    /// Unanswered probes before the connection is dropped.
    pub fn count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }
}

/// libzmq's default `ZMQ_BACKLOG`: pending connections a listener holds before the kernel refuses
/// more.
pub const DEFAULT_BACKLOG: u32 = 100;

/// The options a socket is created with, and can change while it runs
/// ([`Socket::set_options`](super::Socket::set_options)).
///
/// Defaults are libzmq's, except where a method's doc argues otherwise. Connection-level
/// options (heartbeats, handshake interval, buffers, keepalive, maximum message size) apply to
/// connections made after they are set, as in libzmq.
///
/// ```
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use monocoque::{DealerSocket, OptionError, OptionName, PubSocket, SocketOptions, SocketType};
///
/// let options = SocketOptions::new()
///     .send_hwm(10_000)
///     .routing_id("worker-1")
///     .reconnect_interval(Duration::from_millis(50));
/// let dealer = DealerSocket::with_options(options.clone())?;
/// assert_eq!(dealer.options().send_hwm_value(), 10_000);
/// assert_eq!(
///     PubSocket::with_options(options).unwrap_err(),
///     OptionError::NotApplicable { option: OptionName::RoutingId, socket_type: SocketType::Pub }
/// );
/// # Ok::<(), monocoque::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub(crate) pattern: PatternOptions,
    pub(crate) routing_id: Option<Bytes>,
    pub(crate) reconnect_interval: Duration,
    pub(crate) reconnect_interval_max: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) max_message_size: Option<u64>,
    pub(crate) receive_budget: Option<u64>,
    pub(crate) heartbeat: HeartbeatConfig,
    pub(crate) linger: Option<Duration>,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) recv_timeout: Option<Duration>,
    /// `None`: left to the system; `Some(None)`: off; `Some(Some(..))`: on with these settings.
    pub(crate) tcp_keepalive: Option<Option<TcpKeepalive>>,
    pub(crate) send_buffer: Option<usize>,
    pub(crate) recv_buffer: Option<usize>,
    /// `false`: `ZMQ_RECONNECT_IVL` -1, a connect endpoint is given up when its connection ends.
    pub(crate) reconnect: bool,
    pub(crate) backlog: u32,
    pub(crate) tos: Option<u8>,
    pub(crate) bind_to_device: Option<String>,
    pub(crate) tcp_max_retransmit: Option<Duration>,
    pub(crate) ipv6: bool,
    pub(crate) security: Security,
    pub(crate) authenticator: Option<SharedAuthenticator>,
    pub(crate) zap_domain: String,
    pub(crate) curve: CurveKeys,
    pub(crate) max_pending_handshakes: usize,
    pub(crate) max_pending_per_address: usize,
    set: Vec<OptionName>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            pattern: PatternOptions::default(),
            routing_id: None,
            reconnect_interval: Duration::from_millis(100),
            reconnect_interval_max: None,
            connect_timeout: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            max_message_size: None,
            receive_budget: None,
            heartbeat: HeartbeatConfig::default(),
            linger: None,
            send_timeout: None,
            recv_timeout: None,
            tcp_keepalive: None,
            send_buffer: None,
            recv_buffer: None,
            reconnect: true,
            backlog: DEFAULT_BACKLOG,
            tos: None,
            bind_to_device: None,
            tcp_max_retransmit: None,
            ipv6: false,
            security: Security::Null,
            authenticator: None,
            zap_domain: String::new(),
            curve: CurveKeys::default(),
            max_pending_handshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
            max_pending_per_address: DEFAULT_MAX_PENDING_PER_ADDRESS,
            set: Vec::new(),
        }
    }
}

macro_rules! switch {
    ($(#[$doc:meta])* $method:ident => $field:ident, $name:ident) => {
        $(#[$doc])*
        pub fn $method(mut self, on: bool) -> Self {
            self.pattern.$field = on;
            self.mark(OptionName::$name)
        }
    };
}

impl SocketOptions {
    /// libzmq's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn mark(mut self, name: OptionName) -> Self {
        if !self.set.contains(&name) {
            self.set.push(name);
        }
        self
    }

    /// Checks every option that was set against `socket_type` and its value range.
    pub fn check(&self, socket_type: SocketType) -> Result<(), OptionError> {
        if let Some(&option) = self.set.iter().find(|o| !o.applies_to(socket_type)) {
            return Err(OptionError::NotApplicable {
                option,
                socket_type,
            });
        }
        if let Some(id) = &self.routing_id {
            let reason = if id.is_empty() {
                Some("a routing id has 1 to 255 bytes")
            } else if id.len() > 255 {
                Some("a routing id has at most 255 bytes")
            } else if id[0] == 0 {
                Some("routing ids starting with a zero byte are reserved")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(OptionError::InvalidValue {
                    option: OptionName::RoutingId,
                    reason,
                });
            }
        }
        self.check_security()?;
        if self
            .heartbeat
            .ttl
            .is_some_and(|ttl| ttl > Duration::from_millis(6_553_599))
        {
            return Err(OptionError::InvalidValue {
                option: OptionName::HeartbeatTtl,
                reason: "the TTL travels in tenths of a second: at most 6553599 ms",
            });
        }
        Ok(())
    }

    #[doc(alias = "ZMQ_SNDHWM")]
    /// `ZMQ_SNDHWM`: messages queued per peer for sending (default 1000, 0 for no limit).
    /// Applies to peers attached afterwards.
    pub fn send_hwm(mut self, messages: usize) -> Self {
        self.pattern.send_hwm = messages;
        self.mark(OptionName::SendHwm)
    }

    #[doc(alias = "ZMQ_RCVHWM")]
    /// `ZMQ_RCVHWM`: messages queued per peer after receiving (default 1000, 0 for no limit).
    pub fn recv_hwm(mut self, messages: usize) -> Self {
        self.pattern.recv_hwm = messages;
        self.mark(OptionName::RecvHwm)
    }

    #[doc(alias = "ZMQ_LINGER")]
    /// `ZMQ_LINGER`: how long queued messages may still take to be written once the socket is
    /// closed (default `None`: until they are, as libzmq's -1). [`close`](super::Socket::close)
    /// waits for that; dropping the socket returns at once and lets it happen in the background
    /// while the runtime runs. `Some(Duration::ZERO)` discards what is queued at once.
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self.mark(OptionName::Linger)
    }

    #[doc(alias = "ZMQ_RECONNECT_IVL")]
    /// `ZMQ_RECONNECT_IVL`: how long a connecting socket waits before it tries again (100 ms).
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval;
        self.mark(OptionName::ReconnectInterval)
    }

    #[doc(alias = "ZMQ_RECONNECT_IVL_MAX")]
    /// `ZMQ_RECONNECT_IVL_MAX`: with a maximum above the interval, each failed attempt doubles
    /// the wait up to it, with random jitter of up to one interval (default `None`: a fixed
    /// interval, as libzmq's 0).
    pub fn reconnect_interval_max(mut self, max: Option<Duration>) -> Self {
        self.reconnect_interval_max = max;
        self.mark(OptionName::ReconnectIntervalMax)
    }

    #[doc(alias = "ZMQ_CONNECT_TIMEOUT")]
    /// `ZMQ_CONNECT_TIMEOUT`: give up on a TCP connection attempt after this long, then retry
    /// (default `None`: the system's limit, as libzmq's 0).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self.mark(OptionName::ConnectTimeout)
    }

    #[doc(alias = "ZMQ_HANDSHAKE_IVL")]
    /// `ZMQ_HANDSHAKE_IVL`: how long a peer has to finish its handshake (30 s; `None` forever).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self.mark(OptionName::HandshakeTimeout)
    }

    #[doc(alias = "ZMQ_MAXMSGSIZE")]
    /// `ZMQ_MAXMSGSIZE`: the largest message accepted from a peer; a larger one closes that
    /// connection before anything of its size is allocated (default `None`: no limit).
    pub fn max_message_size(mut self, bytes: Option<u64>) -> Self {
        self.max_message_size = bytes;
        self.mark(OptionName::MaxMessageSize)
    }

    #[doc(alias = "ZMQ_HEARTBEAT_IVL")]
    /// `ZMQ_HEARTBEAT_IVL`: send a PING on every connection this often (default: never).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat.interval = Some(interval).filter(|i| !i.is_zero());
        self.mark(OptionName::HeartbeatInterval)
    }

    #[doc(alias = "ZMQ_HEARTBEAT_TTL")]
    /// `ZMQ_HEARTBEAT_TTL`: how long peers should wait for our traffic before they give up,
    /// announced in our PINGs (whole tenths of a second, at most 6553.5 s; default: no hint).
    pub fn heartbeat_ttl(mut self, ttl: Duration) -> Self {
        self.heartbeat.ttl = Some(ttl).filter(|t| !t.is_zero());
        self.mark(OptionName::HeartbeatTtl)
    }

    #[doc(alias = "ZMQ_HEARTBEAT_TIMEOUT")]
    /// `ZMQ_HEARTBEAT_TIMEOUT`: close a connection that sends nothing for this long after one of
    /// our PINGs (default: the heartbeat interval).
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat.timeout = Some(timeout).filter(|t| !t.is_zero());
        self.mark(OptionName::HeartbeatTimeout)
    }

    #[doc(alias = "ZMQ_SNDTIMEO")]
    /// `ZMQ_SNDTIMEO`: how long `send` waits for room before it fails with `TimedOut` and
    /// hands the message back (default `None`: forever).
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.send_timeout = timeout;
        self.mark(OptionName::SendTimeout)
    }

    #[doc(alias = "ZMQ_RCVTIMEO")]
    /// `ZMQ_RCVTIMEO`: how long `recv` waits for a message before it fails with `TimedOut`
    /// (default `None`: forever).
    pub fn recv_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.recv_timeout = timeout;
        self.mark(OptionName::RecvTimeout)
    }

    #[doc(alias = "ZMQ_IMMEDIATE")]
    /// `ZMQ_IMMEDIATE`: queue messages only for peers whose connection is up; a connecting
    /// endpoint takes nothing until then, and loses its queue when the connection drops
    /// (default off).
    pub fn immediate(mut self, on: bool) -> Self {
        self.pattern.immediate = on;
        self.mark(OptionName::Immediate)
    }

    switch! {
        #[doc(alias = "ZMQ_CONFLATE")]
        /// `ZMQ_CONFLATE`: keep only the newest message in each send and receive queue (PUSH,
        /// PULL, PUB, SUB, DEALER; default off). Meant for single-frame "last value" streams.
        conflate => conflate, Conflate
    }

    #[doc(alias = "ZMQ_ROUTING_ID")]
    /// `ZMQ_ROUTING_ID`: the identity announced to peers (REQ, DEALER and ROUTER send it); a
    /// ROUTER peer addresses us by it. 1 to 255 bytes, not starting with a zero byte.
    pub fn routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing_id = Some(id.into());
        self.mark(OptionName::RoutingId)
    }

    switch! {
        #[doc(alias = "ZMQ_ROUTER_MANDATORY")]
        /// `ZMQ_ROUTER_MANDATORY` (ROUTER): a send to an unknown peer fails with
        /// `HostUnreachable`, and one to a full peer with `WouldBlock`, instead of being dropped.
        router_mandatory => router_mandatory, RouterMandatory
    }

    switch! {
        #[doc(alias = "ZMQ_ROUTER_HANDOVER")]
        /// `ZMQ_ROUTER_HANDOVER` (ROUTER): a new peer announcing an identity already in use takes
        /// it over, and the old connection is closed (default: the newcomer is refused).
        router_handover => router_handover, RouterHandover
    }

    switch! {
        #[doc(alias = "ZMQ_PROBE_ROUTER")]
        /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER, REQ): send an empty message to every new peer, so
        /// that a ROUTER learns our routing id at once.
        probe_router => probe_router, ProbeRouter
    }

    switch! {
        #[doc(alias = "ZMQ_REQ_CORRELATE")]
        /// `ZMQ_REQ_CORRELATE` (REQ): put a request id in front of each request and accept only
        /// the reply that carries it back.
        req_correlate => req_correlate, ReqCorrelate
    }

    switch! {
        #[doc(alias = "ZMQ_REQ_RELAXED")]
        /// `ZMQ_REQ_RELAXED` (REQ): allow a new request before the reply to the last one, which
        /// is then abandoned. Pair it with `req_correlate` so that a late reply is recognised.
        req_relaxed => req_relaxed, ReqRelaxed
    }

    switch! {
        #[doc(alias = "ZMQ_XPUB_VERBOSE")]
        /// `ZMQ_XPUB_VERBOSE` (XPUB): hand every subscribe to the application, not only a topic's
        /// first.
        xpub_verbose => xpub_verbose, XpubVerbose
    }

    switch! {
        #[doc(alias = "ZMQ_XPUB_VERBOSER")]
        /// `ZMQ_XPUB_VERBOSER` (XPUB): hand every subscribe and every cancel to the application.
        xpub_verboser => xpub_verboser, XpubVerboser
    }

    switch! {
        #[doc(alias = "ZMQ_XPUB_MANUAL")]
        /// `ZMQ_XPUB_MANUAL` (XPUB): subscriptions are not applied by the socket; the
        /// application sees each one and calls `subscribe`/`unsubscribe` for the peer that sent
        /// it last.
        xpub_manual => xpub_manual, XpubManual
    }

    #[doc(alias = "ZMQ_XPUB_WELCOME_MSG")]
    /// `ZMQ_XPUB_WELCOME_MSG` (XPUB): a message sent to every new subscriber.
    pub fn xpub_welcome_message(mut self, message: impl Into<Bytes>) -> Self {
        self.pattern.xpub_welcome = Some(message.into());
        self.mark(OptionName::XpubWelcomeMessage)
    }

    switch! {
        #[doc(alias = "ZMQ_XSUB_VERBOSE_UNSUBSCRIBE")]
        /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE` (XSUB): forward every cancel upstream, not only a
        /// topic's last.
        xsub_verbose_unsubscribe => xsub_verbose_unsubscribe, XsubVerboseUnsubscribe
    }

    switch! {
        #[doc(alias = "ZMQ_INVERT_MATCHING")]
        /// `ZMQ_INVERT_MATCHING` (PUB, XPUB, SUB): a publisher sends each message to the peers
        /// whose subscriptions do *not* match it, and a SUB keeps what does not match. Both ends
        /// must set it.
        invert_matching => invert_matching, InvertMatching
    }

    #[doc(alias = "ZMQ_TCP_KEEPALIVE")]
    /// `ZMQ_TCP_KEEPALIVE` and its `_IDLE`, `_INTVL`, `_CNT` companions: turn TCP keepalive on
    /// with these settings, or off with `None` (default: the system's setting).
    pub fn tcp_keepalive(mut self, keepalive: Option<TcpKeepalive>) -> Self {
        self.tcp_keepalive = Some(keepalive);
        self.mark(OptionName::TcpKeepalive)
    }

    #[doc(alias = "ZMQ_SNDBUF")]
    /// `ZMQ_SNDBUF`: the kernel send buffer of each connection, in bytes (default: the
    /// system's).
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = Some(bytes);
        self.mark(OptionName::SendBuffer)
    }

    #[doc(alias = "ZMQ_RCVBUF")]
    /// `ZMQ_RCVBUF`: the kernel receive buffer of each connection, in bytes.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self.mark(OptionName::RecvBuffer)
    }

    #[doc(alias = "ZMQ_RECONNECT_IVL")]
    /// `ZMQ_RECONNECT_IVL` -1 when `false`: a connect endpoint is tried once and given up when
    /// that attempt fails or its connection ends, its queue dropped (default `true`: reconnect
    /// after `reconnect_interval`, for ever).
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self.mark(OptionName::ReconnectInterval)
    }

    #[doc(alias = "ZMQ_BACKLOG")]
    /// `ZMQ_BACKLOG`: connections a listener keeps waiting to be accepted (default 100). Applies
    /// to endpoints bound afterwards.
    pub fn backlog(mut self, connections: u32) -> Self {
        self.backlog = connections;
        self.mark(OptionName::Backlog)
    }

    #[doc(alias = "ZMQ_TOS")]
    /// `ZMQ_TOS`: the IP type-of-service byte (DSCP and ECN bits; the traffic class for IPv6)
    /// of TCP connections made or accepted afterwards (default: the system's, 0).
    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = Some(tos);
        self.mark(OptionName::Tos)
    }

    #[doc(alias = "ZMQ_BINDTODEVICE")]
    /// `ZMQ_BINDTODEVICE`: TCP listeners and connections made afterwards send and receive only
    /// through this network interface (`SO_BINDTODEVICE`, Linux; the process needs
    /// `CAP_NET_RAW` on kernels before 5.7). A bind or connect that cannot apply it fails.
    pub fn bind_to_device(mut self, interface: impl Into<String>) -> Self {
        self.bind_to_device = Some(interface.into());
        self.mark(OptionName::BindToDevice)
    }

    #[doc(alias = "ZMQ_TCP_MAXRT")]
    /// `ZMQ_TCP_MAXRT`: how long sent data may stay unacknowledged before the kernel gives up on
    /// a TCP connection (`TCP_USER_TIMEOUT` on Linux; millisecond resolution). Default: the
    /// system's retransmission limit, many minutes.
    pub fn tcp_max_retransmit(mut self, timeout: Duration) -> Self {
        self.tcp_max_retransmit = Some(timeout);
        self.mark(OptionName::TcpMaxRetransmit)
    }

    #[doc(alias = "ZMQ_IPV6")]
    /// `ZMQ_IPV6`: use IPv6 as well as IPv4: `tcp://*:port` binds both (a dual-stack `[::]`),
    /// and host names resolve to IPv6 addresses too (default off: IPv4, as libzmq). Explicit
    /// IPv6 addresses (`tcp://[::1]:5555`) work either way.
    pub fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self.mark(OptionName::Ipv6)
    }

    switch! {
        #[doc(alias = "ZMQ_XPUB_NODROP")]
        /// `ZMQ_XPUB_NODROP` (PUB, XPUB): when a subscriber the message is for is at its
        /// high-water mark, `send` waits (`try_send` fails with `WouldBlock`) instead of dropping
        /// the message for that subscriber.
        xpub_nodrop => xpub_nodrop, XpubNoDrop
    }

    #[doc(alias = "ZMQ_ROUTER_NOTIFY")]
    /// `ZMQ_ROUTER_NOTIFY` (ROUTER): report peers connecting and disconnecting to the
    /// application, each as a message of the peer's routing id and an empty frame (default
    /// [`RouterNotify::NONE`]).
    pub fn router_notify(mut self, events: RouterNotify) -> Self {
        self.pattern.router_notify = events;
        self.mark(OptionName::RouterNotify)
    }

    /// The most memory the messages this socket is still receiving may hold together, across
    /// all its connections: frame bodies plus [`FRAME_OVERHEAD`] bytes of bookkeeping per frame
    /// (default: [`DEFAULT_RECEIVE_BUDGET`], 1 GiB, or `max_message_size` if that is larger).
    /// libzmq has no such option: it allocates whatever a peer's frame header declares.
    ///
    /// A peer whose frame header declares more than the budget is disconnected at once, and a
    /// peer whose message in progress would take the socket over it is disconnected then
    /// ([`ProtocolError::ReceiveBudgetExceeded`](crate::proto::ProtocolError)): a peer dripping a
    /// legal but huge message cannot take the machine. Applies to sockets created with it.
    ///
    /// [`FRAME_OVERHEAD`]: crate::proto::FRAME_OVERHEAD
    /// [`DEFAULT_RECEIVE_BUDGET`]: crate::proto::DEFAULT_RECEIVE_BUDGET
    pub fn receive_budget(mut self, bytes: u64) -> Self {
        self.receive_budget = Some(bytes);
        self.mark(OptionName::ReceiveBudget)
    }

    /// The receive budget in force: the one set, else the larger of the default and
    /// `max_message_size`.
    pub fn receive_budget_value(&self) -> u64 {
        self.receive_budget.unwrap_or_else(|| {
            self.max_message_size.map_or(DEFAULT_RECEIVE_BUDGET, |max| {
                max.max(DEFAULT_RECEIVE_BUDGET)
            })
        })
    }

    /// The send high-water mark.
    pub fn send_hwm_value(&self) -> usize {
        self.pattern.send_hwm
    }

    /// The receive high-water mark.
    pub fn recv_hwm_value(&self) -> usize {
        self.pattern.recv_hwm
    }

    /// The value of `linger`.
    pub fn linger_value(&self) -> Option<Duration> {
        self.linger
    }

    /// The value of `reconnect_interval`.
    pub fn reconnect_interval_value(&self) -> Duration {
        self.reconnect_interval
    }

    /// The value of `reconnect_interval_max`.
    pub fn reconnect_interval_max_value(&self) -> Option<Duration> {
        self.reconnect_interval_max
    }

    /// The value of `connect_timeout`.
    pub fn connect_timeout_value(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The most connections a listener keeps in their handshake at once (default
    /// [`DEFAULT_MAX_PENDING_HANDSHAKES`], 1024). A connection accepted past it is closed at once
    /// and the monitor reports `AcceptFailed`. With the handshake timeout, this bounds what
    /// clients that have not authenticated can make a server hold. No libzmq equivalent.
    ///
    /// ```
    /// use monocoque::SocketOptions;
    ///
    /// let options = SocketOptions::new()
    ///     .max_pending_handshakes(100)
    ///     .max_pending_handshakes_per_address(10);
    /// assert_eq!(options.max_pending_handshakes_value(), (100, 10));
    /// ```
    pub fn max_pending_handshakes(mut self, max: usize) -> Self {
        self.max_pending_handshakes = max.max(1);
        self
    }

    /// The most connections from one IP address a listener keeps in their handshake at once
    /// (default [`DEFAULT_MAX_PENDING_PER_ADDRESS`], 256); past it, as
    /// [`max_pending_handshakes`](Self::max_pending_handshakes). IPC connections count only
    /// against the listener's limit.
    pub fn max_pending_handshakes_per_address(mut self, max: usize) -> Self {
        self.max_pending_per_address = max.max(1);
        self
    }

    /// The values of `max_pending_handshakes` and `max_pending_handshakes_per_address`.
    pub fn max_pending_handshakes_value(&self) -> (usize, usize) {
        (self.max_pending_handshakes, self.max_pending_per_address)
    }

    /// The value of `handshake_timeout`.
    pub fn handshake_timeout_value(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The value of `max_message_size`.
    pub fn max_message_size_value(&self) -> Option<u64> {
        self.max_message_size
    }

    /// The heartbeat options (interval, TTL, timeout).
    pub fn heartbeat_value(&self) -> HeartbeatConfig {
        self.heartbeat
    }

    /// The value of `send_timeout`.
    pub fn send_timeout_value(&self) -> Option<Duration> {
        self.send_timeout
    }

    /// The value of `recv_timeout`.
    pub fn recv_timeout_value(&self) -> Option<Duration> {
        self.recv_timeout
    }

    /// The value of `immediate`.
    pub fn immediate_value(&self) -> bool {
        self.pattern.immediate
    }

    /// The value of `conflate`.
    pub fn conflate_value(&self) -> bool {
        self.pattern.conflate
    }

    /// The value of `routing_id`.
    pub fn routing_id_value(&self) -> Option<&Bytes> {
        self.routing_id.as_ref()
    }

    /// The value of `router_mandatory`.
    pub fn router_mandatory_value(&self) -> bool {
        self.pattern.router_mandatory
    }

    /// The value of `router_handover`.
    pub fn router_handover_value(&self) -> bool {
        self.pattern.router_handover
    }

    /// The value of `probe_router`.
    pub fn probe_router_value(&self) -> bool {
        self.pattern.probe_router
    }

    /// The value of `req_correlate`.
    pub fn req_correlate_value(&self) -> bool {
        self.pattern.req_correlate
    }

    /// The value of `req_relaxed`.
    pub fn req_relaxed_value(&self) -> bool {
        self.pattern.req_relaxed
    }

    /// The value of `xpub_verbose`.
    pub fn xpub_verbose_value(&self) -> bool {
        self.pattern.xpub_verbose
    }

    /// The value of `xpub_verboser`.
    pub fn xpub_verboser_value(&self) -> bool {
        self.pattern.xpub_verboser
    }

    /// The value of `xpub_manual`.
    pub fn xpub_manual_value(&self) -> bool {
        self.pattern.xpub_manual
    }

    /// The value of `xpub_welcome_message`.
    pub fn xpub_welcome_message_value(&self) -> Option<&Bytes> {
        self.pattern.xpub_welcome.as_ref()
    }

    /// The value of `xsub_verbose_unsubscribe`.
    pub fn xsub_verbose_unsubscribe_value(&self) -> bool {
        self.pattern.xsub_verbose_unsubscribe
    }

    /// The value of `invert_matching`.
    pub fn invert_matching_value(&self) -> bool {
        self.pattern.invert_matching
    }

    /// The value of `tcp_keepalive`: `None` when left to the system, `Some(None)` when turned off.
    pub fn tcp_keepalive_value(&self) -> Option<Option<TcpKeepalive>> {
        self.tcp_keepalive
    }

    /// The value of `send_buffer` (`None`: the system's).
    pub fn send_buffer_value(&self) -> Option<usize> {
        self.send_buffer
    }

    /// The value of `recv_buffer` (`None`: the system's).
    pub fn recv_buffer_value(&self) -> Option<usize> {
        self.recv_buffer
    }

    /// Whether a connect endpoint reconnects (`reconnect`).
    pub fn reconnect_value(&self) -> bool {
        self.reconnect
    }

    /// The value of `backlog`.
    pub fn backlog_value(&self) -> u32 {
        self.backlog
    }

    /// The value of `tos` (`None`: the system's).
    pub fn tos_value(&self) -> Option<u8> {
        self.tos
    }

    /// The value of `bind_to_device`.
    pub fn bind_to_device_value(&self) -> Option<&str> {
        self.bind_to_device.as_deref()
    }

    /// The value of `tcp_max_retransmit` (`None`: the system's).
    pub fn tcp_max_retransmit_value(&self) -> Option<Duration> {
        self.tcp_max_retransmit
    }

    /// The value of `ipv6`.
    pub fn ipv6_value(&self) -> bool {
        self.ipv6
    }

    /// The value of `xpub_nodrop`.
    pub fn xpub_nodrop_value(&self) -> bool {
        self.pattern.xpub_nodrop
    }

    /// The value of `router_notify`.
    pub fn router_notify_value(&self) -> RouterNotify {
        self.pattern.router_notify
    }

    /// Whether `option` was set (to any value, its default included), as [`check`](Self::check)
    /// sees it.
    pub fn is_set(&self, option: OptionName) -> bool {
        self.set.contains(&option)
    }

    pub(crate) fn pattern_options(&self) -> PatternOptions {
        PatternOptions {
            seed: random_seed(),
            ..self.pattern.clone()
        }
    }
}

/// A seed for generated routing ids; libzmq starts its counter at a random value too, so that
/// ids from a restarted process do not repeat the previous run's.
pub(crate) fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refuse_socket_types_they_do_not_apply_to() {
        let cases = [
            (
                SocketOptions::new().router_mandatory(true),
                OptionName::RouterMandatory,
                SocketType::Dealer,
            ),
            (
                SocketOptions::new().routing_id("x"),
                OptionName::RoutingId,
                SocketType::Pub,
            ),
            (
                SocketOptions::new().conflate(true),
                OptionName::Conflate,
                SocketType::Req,
            ),
            (
                SocketOptions::new().xpub_manual(true),
                OptionName::XpubManual,
                SocketType::Pub,
            ),
            (
                SocketOptions::new().req_correlate(true),
                OptionName::ReqCorrelate,
                SocketType::Dealer,
            ),
            (
                SocketOptions::new().invert_matching(true),
                OptionName::InvertMatching,
                SocketType::Xsub,
            ),
        ];
        for (options, option, socket_type) in cases {
            assert_eq!(
                options.check(socket_type),
                Err(OptionError::NotApplicable {
                    option,
                    socket_type
                })
            );
        }
        // Setting an option to its default still names it: libzmq refuses that too.
        assert!(
            SocketOptions::new()
                .router_mandatory(false)
                .check(SocketType::Push)
                .is_err()
        );
        assert!(
            SocketOptions::new()
                .router_mandatory(true)
                .check(SocketType::Router)
                .is_ok()
        );
    }

    #[test]
    fn every_type_accepts_the_defaults_and_the_general_options() {
        let general = SocketOptions::new()
            .send_hwm(1)
            .recv_hwm(1)
            .linger(Some(Duration::ZERO))
            .reconnect_interval_max(Some(Duration::from_secs(1)))
            .heartbeat_interval(Duration::from_secs(1))
            .send_timeout(None)
            .immediate(true)
            .tcp_keepalive(Some(TcpKeepalive::default()))
            .send_buffer(1 << 16);
        for socket_type in SocketType::ALL {
            assert!(SocketOptions::new().check(socket_type).is_ok());
            assert!(general.check(socket_type).is_ok(), "{socket_type}");
        }
    }

    #[test]
    fn every_option_reads_back_what_was_set() {
        let d = Duration::from_millis;
        let keepalive = TcpKeepalive::new().idle(d(1)).interval(d(2)).count(3);
        let o = SocketOptions::new()
            .send_hwm(1)
            .recv_hwm(2)
            .linger(Some(d(3)))
            .reconnect_interval(d(4))
            .reconnect_interval_max(Some(d(5)))
            .connect_timeout(Some(d(6)))
            .handshake_timeout(None)
            .max_message_size(Some(7))
            .heartbeat_interval(d(8))
            .heartbeat_ttl(d(900))
            .heartbeat_timeout(d(10))
            .send_timeout(Some(d(11)))
            .recv_timeout(Some(d(12)))
            .immediate(true)
            .conflate(true)
            .routing_id("id")
            .router_mandatory(true)
            .router_handover(true)
            .probe_router(true)
            .req_correlate(true)
            .req_relaxed(true)
            .xpub_verbose(true)
            .xpub_verboser(true)
            .xpub_manual(true)
            .xpub_welcome_message("hi")
            .xsub_verbose_unsubscribe(true)
            .invert_matching(true)
            .tcp_keepalive(Some(keepalive))
            .send_buffer(13)
            .recv_buffer(14)
            .reconnect(false)
            .backlog(15)
            .tos(16)
            .bind_to_device("eth9")
            .tcp_max_retransmit(d(17))
            .ipv6(true)
            .xpub_nodrop(true)
            .router_notify(RouterNotify::DISCONNECT)
            .receive_budget(18);
        assert_eq!((o.send_hwm_value(), o.recv_hwm_value()), (1, 2));
        assert_eq!(o.linger_value(), Some(d(3)));
        assert_eq!(o.reconnect_interval_value(), d(4));
        assert_eq!(o.reconnect_interval_max_value(), Some(d(5)));
        assert_eq!(o.connect_timeout_value(), Some(d(6)));
        assert_eq!(o.handshake_timeout_value(), None);
        assert_eq!(o.max_message_size_value(), Some(7));
        let heartbeat = o.heartbeat_value();
        assert_eq!(
            (heartbeat.interval, heartbeat.ttl, heartbeat.timeout),
            (Some(d(8)), Some(d(900)), Some(d(10)))
        );
        assert_eq!(o.send_timeout_value(), Some(d(11)));
        assert_eq!(o.recv_timeout_value(), Some(d(12)));
        assert!(o.immediate_value() && o.conflate_value());
        assert_eq!(o.routing_id_value().map(|id| &id[..]), Some(&b"id"[..]));
        assert!(o.router_mandatory_value() && o.router_handover_value() && o.probe_router_value());
        assert!(o.req_correlate_value() && o.req_relaxed_value());
        assert!(o.xpub_verbose_value() && o.xpub_verboser_value() && o.xpub_manual_value());
        assert_eq!(
            o.xpub_welcome_message_value().map(|m| &m[..]),
            Some(&b"hi"[..])
        );
        assert!(o.xsub_verbose_unsubscribe_value() && o.invert_matching_value());
        assert_eq!(o.tcp_keepalive_value(), Some(Some(keepalive)));
        assert_eq!(
            (o.send_buffer_value(), o.recv_buffer_value()),
            (Some(13), Some(14))
        );
        assert!(!o.reconnect_value());
        assert_eq!((o.backlog_value(), o.tos_value()), (15, Some(16)));
        assert_eq!(o.bind_to_device_value(), Some("eth9"));
        assert_eq!(o.tcp_max_retransmit_value(), Some(d(17)));
        assert!(o.ipv6_value() && o.xpub_nodrop_value());
        assert_eq!(o.router_notify_value(), RouterNotify::DISCONNECT);
        assert_eq!(o.receive_budget_value(), 18);
        assert!(o.is_set(OptionName::Tos) && !SocketOptions::new().is_set(OptionName::Tos));
        // And the defaults, where libzmq's are not "off".
        let defaults = SocketOptions::new();
        assert!(defaults.reconnect_value());
        assert_eq!(defaults.backlog_value(), DEFAULT_BACKLOG);
        assert_eq!(defaults.router_notify_value(), RouterNotify::NONE);
    }

    #[test]
    fn the_new_options_apply_where_libzmq_has_them() {
        let nodrop = SocketOptions::new().xpub_nodrop(true);
        assert!(nodrop.check(SocketType::Pub).is_ok());
        assert!(nodrop.check(SocketType::Xpub).is_ok());
        assert!(nodrop.check(SocketType::Push).is_err());
        let notify = SocketOptions::new().router_notify(RouterNotify::CONNECT);
        assert!(notify.check(SocketType::Router).is_ok());
        assert!(notify.check(SocketType::Dealer).is_err());
        for general in [
            SocketOptions::new().backlog(1),
            SocketOptions::new().tos(1),
            SocketOptions::new().ipv6(true),
            SocketOptions::new().reconnect(false),
            SocketOptions::new().tcp_max_retransmit(Duration::from_secs(1)),
            SocketOptions::new().bind_to_device("lo"),
        ] {
            for socket_type in SocketType::ALL {
                assert!(general.check(socket_type).is_ok(), "{socket_type}");
            }
        }
    }

    #[test]
    fn out_of_range_values() {
        for (id, reason) in [
            (&b""[..], "a routing id has 1 to 255 bytes"),
            (
                b"\0reserved",
                "routing ids starting with a zero byte are reserved",
            ),
            (&[b'x'; 256][..], "a routing id has at most 255 bytes"),
        ] {
            assert_eq!(
                SocketOptions::new()
                    .routing_id(Bytes::copy_from_slice(id))
                    .check(SocketType::Dealer),
                Err(OptionError::InvalidValue {
                    option: OptionName::RoutingId,
                    reason
                })
            );
        }
        let ttl = SocketOptions::new().heartbeat_ttl(Duration::from_secs(7000));
        assert!(matches!(
            ttl.check(SocketType::Pair),
            Err(OptionError::InvalidValue {
                option: OptionName::HeartbeatTtl,
                ..
            })
        ));
        assert_eq!(OptionName::HeartbeatTtl.to_string(), "ZMQ_HEARTBEAT_TTL");
    }
}
