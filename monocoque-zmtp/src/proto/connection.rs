//! One connection's protocol as a single state machine: the handshake, then traffic with
//! heartbeats, as in quinn-proto's `Connection`.
//!
//! Bytes read go in through [`Connection::poll_input`], which hands out what the socket must act
//! on (the peer, once the handshake is done; messages; subscriptions) one at a time, so that the
//! caller can stop as soon as a queue fills up. Bytes to write come out of
//! [`Connection::poll_transmit`] in batches a vectored write can take. Time is passed in: the
//! caller sleeps until [`Connection::poll_timeout`] and then calls
//! [`Connection::handle_timeout`]. Nothing here reads a clock or touches a socket.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use monocoque_core::Message;

use super::codec::{Inbound, MAX_IOVECS, MessageDecoder, WriteBuffer};
use super::command::{Command, Subscription};
use super::error::ProtocolError;
use super::handshake::{Handshake, HandshakeConfig, PeerInfo};
use super::heartbeat::{Expired, Heartbeat, HeartbeatConfig};
use super::mechanism::curve::CurveEncoder;
use super::mechanism::{AuthDecision, AuthQuery, Mechanism};
use super::socket_type::SocketType;

/// PONGs waiting to be written, at most: one per PING as libzmq answers, but a peer flooding
/// PINGs without reading cannot grow a queue of answers (past this the newest replaces the last).
pub const MAX_PENDING_PONGS: usize = 16;

/// The default of [`ReceiveBudget`]: 1 GiB of partially received messages per socket.
pub const DEFAULT_RECEIVE_BUDGET: u64 = 1 << 30;

/// What each frame of a partially received message costs in the budget besides its body: its
/// `Bytes` handle, with room for the frame list's growth.
pub const FRAME_OVERHEAD: u64 = 2 * size_of::<Bytes>() as u64;

/// What a connection needs to know about its socket.
///
/// ```
/// use std::time::Duration;
/// use monocoque::proto::{ConnectionConfig, HeartbeatConfig};
/// use monocoque::SocketType;
///
/// let config = ConnectionConfig::new(SocketType::Dealer)
///     .heartbeat(HeartbeatConfig::every(Duration::from_secs(1)))
///     .max_message_size(Some(1 << 20));
/// assert_eq!(config.handshake().socket_type(), SocketType::Dealer);
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    handshake: HandshakeConfig,
    heartbeat: HeartbeatConfig,
    max_message_size: Option<u64>,
    max_frame_len: u64,
}

impl ConnectionConfig {
    /// libzmq's defaults for a socket of `socket_type`, with the [`DEFAULT_RECEIVE_BUDGET`] as the
    /// largest frame.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            handshake: HandshakeConfig::new(socket_type),
            heartbeat: HeartbeatConfig::default(),
            max_message_size: None,
            max_frame_len: DEFAULT_RECEIVE_BUDGET,
        }
    }

    /// Sets what our handshake announces and how long the peer has to complete it.
    pub fn with_handshake(mut self, handshake: HandshakeConfig) -> Self {
        self.handshake = handshake;
        self
    }

    /// Sets the heartbeats (`ZMQ_HEARTBEAT_*`).
    pub fn heartbeat(mut self, heartbeat: HeartbeatConfig) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets `ZMQ_MAXMSGSIZE`: a longer message closes the connection.
    pub fn max_message_size(mut self, max: Option<u64>) -> Self {
        self.max_message_size = max;
        self
    }

    /// Sets the largest frame the socket could ever hold (its [`ReceiveBudget`]'s limit): a
    /// header declaring more closes the connection at once, before its body arrives.
    pub fn max_frame_len(mut self, max: u64) -> Self {
        self.max_frame_len = max;
        self
    }

    /// The handshake settings.
    pub fn handshake(&self) -> &HandshakeConfig {
        &self.handshake
    }
}

/// What the peer sent that the socket must act on.
///
/// ```
/// use monocoque::proto::{ConnectionEvent, PeerInfo, Subscription};
/// use monocoque::{Message, SocketType};
///
/// fn describe(event: &ConnectionEvent) -> String {
///     match event {
///         ConnectionEvent::Established(peer) => format!("peer {}", peer.socket_type),
///         ConnectionEvent::Message(message) => format!("{} frames", message.len()),
///         ConnectionEvent::Subscription(change) => format!("subscribe: {}", change.subscribe),
///     }
/// }
/// let peer = PeerInfo::new(SocketType::Sub);
/// assert_eq!(describe(&ConnectionEvent::Established(Box::new(peer))), "peer SUB");
/// assert_eq!(describe(&ConnectionEvent::Message(Message::from("a").with("b"))), "2 frames");
/// let cancel = ConnectionEvent::Subscription(Subscription::cancel("news"));
/// assert_eq!(describe(&cancel), "subscribe: false");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The handshake completed: this is the peer (boxed: events are moved once per message).
    Established(Box<PeerInfo>),
    /// A whole message.
    Message(Message),
    /// A SUBSCRIBE or CANCEL command (ZMTP 3.1 form; the 3.0 form arrives as a message).
    Subscription(Subscription),
}

/// Why a connection ended, as the monitor reports it.
///
/// ```
/// use monocoque::DisconnectReason;
/// use monocoque::proto::{Expired, ProtocolError};
///
/// let silent = DisconnectReason::from(Expired::Timeout);
/// assert_eq!(silent, DisconnectReason::HeartbeatTimeout);
/// assert!(silent.allows_reconnect());
/// // A peer that broke the protocol is not reconnected to.
/// let broken = DisconnectReason::from(ProtocolError::BadSignature);
/// assert_eq!(broken.protocol_error(), Some(&ProtocolError::BadSignature));
/// assert!(!broken.allows_reconnect());
/// assert_eq!(broken.to_string(), "protocol error: not a ZMTP peer: bad greeting signature");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection.
    #[error("peer closed the connection")]
    PeerClosed,
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The peer speaks ZMTP but cannot talk to us: an incompatible socket type, another
    /// security mechanism, an old protocol version, or an ERROR command refusing us.
    #[error("incompatible peer: {0}")]
    Incompatible(ProtocolError),
    /// The socket's pattern refused the peer: a second PAIR peer, or a ROUTER peer announcing
    /// an identity already in use.
    #[error("refused by the socket's pattern")]
    Refused,
    /// The handshake did not complete within `ZMQ_HANDSHAKE_IVL`.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No traffic arrived within `ZMQ_HEARTBEAT_TIMEOUT` of a PING.
    #[error("peer did not answer heartbeats in time")]
    HeartbeatTimeout,
    /// No traffic arrived within the TTL the peer announced in its PING.
    #[error("no traffic within the TTL the peer announced")]
    HeartbeatTtlExpired,
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(std::io::ErrorKind),
    /// This side closed it: the socket was closed, the endpoint unbound or disconnected.
    #[error("closed by the socket")]
    ClosedLocally,
}

impl DisconnectReason {
    /// The protocol violation behind this end, if one is.
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        match self {
            Self::Protocol(error) | Self::Incompatible(error) => Some(error),
            _ => None,
        }
    }

    /// Whether a connecting side should try again: not after the peer broke the protocol or
    /// proved incompatible, as libzmq.
    pub fn allows_reconnect(&self) -> bool {
        !matches!(self, Self::Protocol(_) | Self::Incompatible(_))
    }

    /// Sorts a handshake or traffic error into its reason.
    pub fn from_protocol(error: ProtocolError) -> Self {
        match error {
            ProtocolError::HandshakeTimeout => Self::HandshakeTimeout,
            ProtocolError::IncompatibleSocketType { .. }
            | ProtocolError::MechanismMismatch { .. }
            | ProtocolError::AuthenticationFailed { .. }
            | ProtocolError::UnsupportedVersion { .. }
            | ProtocolError::PeerError { .. } => Self::Incompatible(error),
            other => Self::Protocol(other),
        }
    }
}

impl From<ProtocolError> for DisconnectReason {
    fn from(error: ProtocolError) -> Self {
        Self::from_protocol(error)
    }
}

impl From<Expired> for DisconnectReason {
    fn from(expired: Expired) -> Self {
        match expired {
            Expired::Timeout => Self::HeartbeatTimeout,
            Expired::Ttl => Self::HeartbeatTtlExpired,
        }
    }
}

/// One connection: handshake, then traffic.
///
/// ```
/// use std::time::Instant;
/// use monocoque::bytes::BytesMut;
/// use monocoque::proto::{Connection, ConnectionConfig, ConnectionEvent, Null};
/// use monocoque::{Message, SocketType};
///
/// let now = Instant::now();
/// let mut push = Connection::new(ConnectionConfig::new(SocketType::Push), Box::new(Null::new()), now);
/// let mut pull = Connection::new(ConnectionConfig::new(SocketType::Pull), Box::new(Null::new()), now);
/// let (mut to_pull, mut to_push) = (BytesMut::new(), BytesMut::new());
/// let mut events = Vec::new();
/// for _ in 0..2 {
///     while let Some(chunks) = push.poll_transmit() {
///         chunks.iter().for_each(|c| to_pull.extend_from_slice(c));
///     }
///     while let Some(chunks) = pull.poll_transmit() {
///         chunks.iter().for_each(|c| to_push.extend_from_slice(c));
///     }
///     while let Some(event) = push.poll_input(&mut to_push, now).unwrap() {
///         events.push(event);
///     }
///     while let Some(event) = pull.poll_input(&mut to_pull, now).unwrap() {
///         events.push(event);
///     }
/// }
/// assert!(push.is_established() && pull.is_established());
/// assert_eq!(events.len(), 2); // each side saw its peer
///
/// push.transmit_buffer().push_message(&Message::from("job"));
/// let chunks = push.poll_transmit().unwrap();
/// chunks.iter().for_each(|c| to_pull.extend_from_slice(c));
/// assert_eq!(
///     pull.poll_input(&mut to_pull, now).unwrap(),
///     Some(ConnectionEvent::Message(Message::from("job")))
/// );
/// ```
#[derive(Debug)]
pub struct Connection {
    phase: Phase,
    out: WriteBuffer,
    pongs: VecDeque<Command>,
}

// One per connection, and the traffic phase is where it spends its life: boxing that variant
// would add a pointer hop per frame to save a few dozen bytes per connection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Phase {
    Handshake {
        handshake: Box<Handshake>,
        heartbeat: HeartbeatConfig,
        max_message_size: Option<u64>,
        max_frame_len: u64,
    },
    Traffic {
        decoder: MessageDecoder,
        heartbeat: Heartbeat,
    },
    /// Failed: nothing more is read; what is queued (an ERROR for the peer) may still go out.
    Closed(DisconnectReason),
}

impl Connection {
    /// Starts a connection at `now`: our greeting is queued.
    pub fn new(config: ConnectionConfig, mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        let mut out = WriteBuffer::new();
        let handshake = Handshake::new(config.handshake, mechanism, now, &mut out);
        Self {
            phase: Phase::Handshake {
                handshake: Box::new(handshake),
                heartbeat: config.heartbeat,
                max_message_size: config.max_message_size,
                max_frame_len: config.max_frame_len,
            },
            out,
            pongs: VecDeque::new(),
        }
    }

    /// Consumes bytes from `buf` up to the next thing the socket must act on, and returns it;
    /// `Ok(None)` when `buf` holds nothing more that is complete. Heartbeats are answered here
    /// (a PONG is queued for [`poll_transmit`](Self::poll_transmit)); other commands are
    /// skipped, as libzmq does. An error ends the connection: write out what
    /// [`poll_transmit`](Self::poll_transmit) still gives (an ERROR for the peer), then close.
    pub fn poll_input(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
    ) -> Result<Option<ConnectionEvent>, DisconnectReason> {
        loop {
            match &mut self.phase {
                Phase::Handshake { handshake, .. } => {
                    let peer = match handshake.receive(buf, &mut self.out) {
                        Ok(None) => return Ok(None),
                        Ok(Some(peer)) => peer.clone(),
                        Err(error) => return Err(self.fail(error.into())),
                    };
                    self.establish(now);
                    return Ok(Some(ConnectionEvent::Established(Box::new(peer))));
                }
                Phase::Traffic { decoder, heartbeat } => {
                    match traffic(decoder, heartbeat, &mut self.pongs, buf, now) {
                        Ok(Some(Some(event))) => return Ok(Some(event)),
                        Ok(Some(None)) => {}
                        Ok(None) => return Ok(None),
                        Err(error) => return Err(self.fail(error.into())),
                    }
                }
                Phase::Closed(reason) => return Err(reason.clone()),
            }
        }
    }

    /// [`poll_input`](Self::poll_input) in a loop: hands `deliver` every event that `buf` holds
    /// until the bytes run out (`Ok(false)`) or `deliver` returns `false` because the socket's
    /// queue is full (`Ok(true)`). One call per read instead of one per message: the traffic
    /// loop keeps its decoder at hand and moves each message once.
    pub fn poll_inputs(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        mut deliver: impl FnMut(ConnectionEvent) -> bool,
    ) -> Result<bool, DisconnectReason> {
        loop {
            let event = match &mut self.phase {
                Phase::Traffic { decoder, heartbeat } => {
                    match traffic(decoder, heartbeat, &mut self.pongs, buf, now) {
                        Ok(Some(Some(event))) => event,
                        Ok(Some(None)) => continue,
                        Ok(None) => return Ok(false),
                        Err(error) => return Err(self.fail(error.into())),
                    }
                }
                _ => match self.poll_input(buf, now)? {
                    Some(event) => event,
                    None => return Ok(false),
                },
            };
            if !deliver(event) {
                return Ok(true);
            }
        }
    }

    fn establish(&mut self, now: Instant) {
        let Phase::Handshake {
            handshake,
            heartbeat,
            max_message_size,
            max_frame_len,
        } = &mut self.phase
        else {
            return;
        };
        // No frame can be larger than the socket could ever hold, whatever ZMQ_MAXMSGSIZE says.
        let mut frame_limit = max_message_size.map_or(*max_frame_len, |m| m.min(*max_frame_len));
        let mut decoder = MessageDecoder::with_limits(*max_message_size, frame_limit);
        if let Some(encryption) = handshake.take_encryption() {
            // A boxed frame is larger than its body by the MESSAGE command around it.
            frame_limit = frame_limit.saturating_add(CurveEncoder::boxed_len(0) as u64);
            decoder = MessageDecoder::with_limits(*max_message_size, frame_limit)
                .with_decryption(encryption.decoder);
            self.out.set_encryption(encryption.encoder);
        }
        self.phase = Phase::Traffic {
            decoder,
            heartbeat: Heartbeat::new(*heartbeat, now),
        };
    }

    fn fail(&mut self, reason: DisconnectReason) -> DisconnectReason {
        self.pongs.clear();
        self.phase = Phase::Closed(reason.clone());
        reason
    }

    /// The question for a ZAP handler the handshake waits on, once: while it waits, nothing
    /// more is read. Answer with [`resume_auth`](Self::resume_auth).
    pub fn take_auth_query(&mut self) -> Option<AuthQuery> {
        match &mut self.phase {
            Phase::Handshake { handshake, .. } => handshake.take_auth_query(),
            _ => None,
        }
    }

    /// Goes on with a ZAP handler's decision; what the peer sent meanwhile is read by the next
    /// [`poll_input`](Self::poll_input), which reports the handshake's end. A refusal queues an
    /// ERROR for the peer and ends the connection.
    pub fn resume_auth(&mut self, decision: AuthDecision) -> Result<(), DisconnectReason> {
        let Phase::Handshake { handshake, .. } = &mut self.phase else {
            return Ok(());
        };
        match handshake.resume_auth(decision, &mut BytesMut::new(), &mut self.out) {
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(error.into())),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the handshake's
    /// deadline, or the next heartbeat event.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake { handshake, .. } => handshake.deadline(),
            Phase::Traffic { heartbeat, .. } => heartbeat.next_deadline(),
            Phase::Closed(_) => None,
        }
    }

    /// Advances the timers to `now`: a PING may be queued, or the connection may have to end.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), DisconnectReason> {
        match &mut self.phase {
            Phase::Handshake { handshake, .. } => {
                if let Err(error) = handshake.handle_timeout(now) {
                    return Err(self.fail(error.into()));
                }
            }
            Phase::Traffic { heartbeat, .. } => match heartbeat.poll(now) {
                Ok(Some(ping)) => self.out.push_command(&ping),
                Ok(None) => {}
                Err(expired) => return Err(self.fail(expired.into())),
            },
            Phase::Closed(reason) => return Err(reason.clone()),
        }
        Ok(())
    }

    /// The buffer the socket's outgoing messages go into once the connection is established,
    /// behind the PONGs owed to the peer.
    pub fn transmit_buffer(&mut self) -> &mut WriteBuffer {
        for pong in self.pongs.drain(..) {
            self.out.push_command(&pong);
        }
        &mut self.out
    }

    /// Whether there is something to write.
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty() || !self.pongs.is_empty()
    }

    /// The next batch of chunks for one vectored write (at most [`MAX_IOVECS`]), or `None` when
    /// nothing is queued.
    pub fn poll_transmit(&mut self) -> Option<Vec<Bytes>> {
        if !self.pongs.is_empty() {
            self.transmit_buffer();
        }
        if self.out.is_empty() {
            return None;
        }
        Some(self.out.take_chunks_max(MAX_IOVECS))
    }

    /// Bytes queued for writing.
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Whether the handshake has completed (and the connection has not failed since).
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Traffic { .. })
    }

    /// The reason the connection failed, if it has.
    pub fn failure(&self) -> Option<&DisconnectReason> {
        match &self.phase {
            Phase::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    /// What the next read should leave room for, given the `buffered` bytes in the read buffer:
    /// the bytes the frame in progress still needs (0 when not in the middle of one), and the
    /// size of the large frames coming lately (0 for small traffic). Reading no further than
    /// the frame in progress, and keeping the hint free after a read, lets large frames complete
    /// where they started instead of being moved to a larger buffer.
    pub fn read_hints(&self, buffered: usize) -> (usize, usize) {
        match &self.phase {
            Phase::Traffic { decoder, .. } => {
                (decoder.frame_missing(buffered), decoder.large_frame_hint())
            }
            _ => (0, 0),
        }
    }

    /// The memory a partially received message holds: the frames taken so far (each with its
    /// [`FRAME_OVERHEAD`]) and, mid-frame, the bytes of that frame already in `buf`. This is what
    /// a socket counts against its [`ReceiveBudget`].
    pub fn partial_bytes(&self, buf: &BytesMut) -> u64 {
        match &self.phase {
            Phase::Traffic { decoder, .. } => {
                let (frames, bytes) = decoder.partial();
                let mid_frame = if decoder.is_mid_frame() {
                    buf.len() as u64
                } else {
                    0
                };
                bytes + frames as u64 * FRAME_OVERHEAD + mid_frame
            }
            _ => 0,
        }
    }
}

/// One step of the traffic phase: `Ok(None)` when `buf` holds nothing more that is complete,
/// `Ok(Some(None))` for a command dealt with here (a PING answered, a PONG or an unknown command
/// skipped), else the event for the socket.
#[inline(always)]
fn traffic(
    decoder: &mut MessageDecoder,
    heartbeat: &mut Heartbeat,
    pongs: &mut VecDeque<Command>,
    buf: &mut BytesMut,
    now: Instant,
) -> Result<Option<Option<ConnectionEvent>>, ProtocolError> {
    let Some(inbound) = decoder.decode(buf)? else {
        return Ok(None);
    };
    // > a peer SHOULD treat any incoming traffic (not just a PONG reply) as a
    // > sign of life. (RFC 37)
    heartbeat.on_traffic();
    let body = match inbound {
        Inbound::Message(message) => return Ok(Some(Some(ConnectionEvent::Message(message)))),
        Inbound::Command(body) => body,
    };
    match Command::parse_traffic(body)? {
        Some(Command::Ping {
            ttl_deciseconds,
            context,
        }) => {
            let pong = heartbeat.on_ping(ttl_deciseconds, &context, now);
            if pongs.len() >= MAX_PENDING_PONGS {
                pongs.pop_back();
            }
            pongs.push_back(pong);
            Ok(Some(None))
        }
        // PONG: its work (proof of life) is done above.
        Some(command) => Ok(Some(
            Subscription::from_command(&command).map(ConnectionEvent::Subscription),
        )),
        // A second READY, an ERROR, a mechanism's or an unknown command.
        None => Ok(Some(None)),
    }
}

/// A socket's bound on the memory that partially received messages may hold, across all of its
/// connections. A peer that declares a frame larger than the whole budget is refused at once; a
/// peer whose partial message would take the socket over the budget is disconnected. Each
/// connection reports its [`Connection::partial_bytes`] through [`update`](Self::update).
///
/// ```
/// use monocoque::proto::{ProtocolError, ReceiveBudget};
///
/// let mut budget = ReceiveBudget::new(100);
/// let mut held = 0;
/// budget.update(&mut held, 60).unwrap();
/// let mut other = 0;
/// assert_eq!(
///     budget.update(&mut other, 50),
///     Err(ProtocolError::ReceiveBudgetExceeded { limit: 100 })
/// );
/// budget.update(&mut held, 0).unwrap(); // the first message completed
/// budget.update(&mut other, 50).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ReceiveBudget {
    limit: u64,
    used: u64,
}

impl ReceiveBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self { limit, used: 0 }
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Moves one connection's share from `*held` to `now_held`. Fails, leaving the share as it
    /// was, when the new share does not fit.
    pub fn update(&mut self, held: &mut u64, now_held: u64) -> Result<(), ProtocolError> {
        let others = self.used.saturating_sub(*held);
        if now_held > *held && others.saturating_add(now_held) > self.limit {
            return Err(ProtocolError::ReceiveBudgetExceeded { limit: self.limit });
        }
        self.used = others + now_held;
        *held = now_held;
        Ok(())
    }

    /// Gives back a departed connection's share.
    pub fn release(&mut self, held: &mut u64) {
        self.used = self.used.saturating_sub(*held);
        *held = 0;
    }
}

impl Default for ReceiveBudget {
    fn default() -> Self {
        Self::new(DEFAULT_RECEIVE_BUDGET)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proto::Null;

    /// Two connections joined by in-memory byte queues, with a virtual clock.
    struct Pair {
        now: Instant,
        a: Connection,
        b: Connection,
        /// Bytes on their way to `a` and to `b`.
        to_a: BytesMut,
        to_b: BytesMut,
        /// Whether each side reads what reaches it.
        a_reads: bool,
        b_reads: bool,
        a_events: Vec<ConnectionEvent>,
        b_events: Vec<ConnectionEvent>,
    }

    impl Pair {
        fn new(a: ConnectionConfig, b: ConnectionConfig) -> Self {
            let now = Instant::now();
            Self {
                now,
                a: Connection::new(a, Box::new(Null::new()), now),
                b: Connection::new(b, Box::new(Null::new()), now),
                to_a: BytesMut::new(),
                to_b: BytesMut::new(),
                a_reads: true,
                b_reads: true,
                a_events: Vec::new(),
                b_events: Vec::new(),
            }
        }

        fn push_pull() -> Self {
            Self::new(
                ConnectionConfig::new(SocketType::Push),
                ConnectionConfig::new(SocketType::Pull),
            )
        }

        /// Moves bytes both ways and delivers them until nothing changes.
        fn drive(&mut self) -> Result<(), DisconnectReason> {
            for _ in 0..16 {
                let mut moved = false;
                while let Some(chunks) = self.a.poll_transmit() {
                    chunks.iter().for_each(|c| self.to_b.extend_from_slice(c));
                    moved = true;
                }
                while let Some(chunks) = self.b.poll_transmit() {
                    chunks.iter().for_each(|c| self.to_a.extend_from_slice(c));
                    moved = true;
                }
                if self.a_reads {
                    while let Some(event) = self.a.poll_input(&mut self.to_a, self.now)? {
                        self.a_events.push(event);
                    }
                }
                if self.b_reads {
                    while let Some(event) = self.b.poll_input(&mut self.to_b, self.now)? {
                        self.b_events.push(event);
                    }
                }
                if !moved {
                    return Ok(());
                }
            }
            Ok(())
        }

        /// Advances the clock to the next deadline of either side (at most `limit` ahead).
        fn advance(&mut self, limit: Duration) -> Result<(), DisconnectReason> {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            self.now = next.map_or(self.now + limit, |n| n.min(self.now + limit));
            self.a.handle_timeout(self.now)?;
            self.b.handle_timeout(self.now)?;
            Ok(())
        }
    }

    fn heartbeat(interval_ms: u64) -> HeartbeatConfig {
        HeartbeatConfig::every(Duration::from_millis(interval_ms))
    }

    #[test]
    fn a_pair_shakes_hands_and_carries_messages_and_subscriptions() {
        let mut pair = Pair::new(
            ConnectionConfig::new(SocketType::Pub),
            ConnectionConfig::new(SocketType::Sub),
        );
        pair.drive().unwrap();
        assert!(matches!(
            pair.a_events[..],
            [ConnectionEvent::Established(ref p)] if p.socket_type == SocketType::Sub
        ));
        Subscription::subscribe("topic")
            .encode_for(crate::proto::Version::V3_1, pair.b.transmit_buffer());
        pair.a
            .transmit_buffer()
            .push_message(&Message::from("topic"));
        pair.drive().unwrap();
        assert_eq!(
            pair.a_events[1],
            ConnectionEvent::Subscription(Subscription::subscribe("topic"))
        );
        assert_eq!(
            pair.b_events[1],
            ConnectionEvent::Message(Message::from("topic"))
        );
    }

    #[test]
    fn heartbeats_keep_a_live_pair_up_for_an_hour() {
        let config = |t| ConnectionConfig::new(t).heartbeat(heartbeat(100));
        let mut pair = Pair::new(config(SocketType::Dealer), config(SocketType::Router));
        pair.drive().unwrap();
        let start = pair.now;
        while pair.now < start + Duration::from_secs(3600) {
            pair.advance(Duration::from_secs(1)).unwrap();
            pair.drive().unwrap();
        }
    }

    #[test]
    fn a_peer_that_stops_reading_is_cut_off_after_the_timeout() {
        let config = |t| ConnectionConfig::new(t).heartbeat(heartbeat(100));
        let mut pair = Pair::new(config(SocketType::Push), config(SocketType::Pull));
        pair.drive().unwrap();
        // b stops reading (its kernel would still take bytes), and so stops answering.
        pair.b_reads = false;
        let silent_from = pair.now;
        let end = loop {
            // a keeps queueing messages that never drain: its write is blocked.
            pair.a.transmit_buffer().push_message(&Message::from("x"));
            if let Err(end) = pair
                .advance(Duration::from_secs(1))
                .and_then(|()| pair.drive())
            {
                break end;
            }
            assert!(
                pair.now < silent_from + Duration::from_secs(5),
                "never cut off"
            );
        };
        assert_eq!(end, DisconnectReason::HeartbeatTimeout);
        // The first PING at +100 ms, cut off one timeout (the interval) later.
        assert_eq!(pair.now - silent_from, Duration::from_millis(200));
    }

    #[test]
    fn the_ttl_a_peer_announces_is_enforced() {
        let pinger = ConnectionConfig::new(SocketType::Dealer)
            .heartbeat(heartbeat(100).ttl(Duration::from_millis(300)));
        let mut pair = Pair::new(pinger, ConnectionConfig::new(SocketType::Dealer));
        pair.drive().unwrap();
        pair.advance(Duration::from_millis(100)).unwrap();
        pair.drive().unwrap();
        // a goes quiet entirely: b gives up one TTL after the PING it saw.
        let pinged = pair.now;
        pair.a = Connection::new(
            ConnectionConfig::new(SocketType::Dealer),
            Box::new(Null::new()),
            pair.now,
        );
        pair.a_reads = false;
        let end = loop {
            if let Err(end) = pair.b.handle_timeout(pair.now) {
                break end;
            }
            pair.now = pair.b.poll_timeout().expect("a TTL deadline");
        };
        assert_eq!(end, DisconnectReason::HeartbeatTtlExpired);
        assert_eq!(pair.now - pinged, Duration::from_millis(300));
    }

    #[test]
    fn poll_inputs_stops_where_the_socket_says_and_answers_pings_on_the_way() {
        let mut pair = Pair::push_pull();
        pair.drive().unwrap();
        for i in 0..10u8 {
            if i == 2 {
                pair.a.transmit_buffer().push_command(&Command::Ping {
                    ttl_deciseconds: 0,
                    context: Bytes::from_static(b"hb"),
                });
            }
            pair.a
                .transmit_buffer()
                .push_message(&Message::single(vec![i]));
        }
        while let Some(chunks) = pair.a.poll_transmit() {
            chunks.iter().for_each(|c| pair.to_b.extend_from_slice(c));
        }
        let mut got = Vec::new();
        let full = pair.b.poll_inputs(&mut pair.to_b, pair.now, |event| {
            got.push(event);
            got.len() < 3
        });
        assert_eq!(
            full,
            Ok(true),
            "stopped at the third: the socket's queue is full"
        );
        let full = pair.b.poll_inputs(&mut pair.to_b, pair.now, |event| {
            got.push(event);
            true
        });
        assert_eq!(full, Ok(false), "stopped when the bytes ran out");
        let expected: Vec<_> = (0..10u8)
            .map(|i| ConnectionEvent::Message(Message::single(vec![i])))
            .collect();
        assert_eq!(got, expected);
        let mut written = BytesMut::new();
        while let Some(chunks) = pair.b.poll_transmit() {
            chunks.iter().for_each(|c| written.extend_from_slice(c));
        }
        let Some(Inbound::Command(pong)) = MessageDecoder::new(None).decode(&mut written).unwrap()
        else {
            panic!("expected the PONG");
        };
        assert_eq!(
            Command::parse(pong).unwrap(),
            Command::Pong(Bytes::from_static(b"hb"))
        );
    }

    #[test]
    fn a_ping_flood_owes_at_most_sixteen_pongs() {
        let mut pair = Pair::push_pull();
        pair.drive().unwrap();
        let mut flood = BytesMut::new();
        let mut out = WriteBuffer::new();
        for i in 0..10_000u16 {
            out.push_command(&Command::Ping {
                ttl_deciseconds: 0,
                context: Bytes::copy_from_slice(&i.to_be_bytes()),
            });
        }
        flood.extend_from_slice(&out.take_contiguous());
        assert_eq!(pair.b.poll_input(&mut flood, pair.now).unwrap(), None);
        let mut written = BytesMut::new();
        while let Some(chunks) = pair.b.poll_transmit() {
            chunks.iter().for_each(|c| written.extend_from_slice(c));
        }
        let mut decoder = MessageDecoder::new(None);
        let mut pongs = Vec::new();
        while let Some(Inbound::Command(body)) = decoder.decode(&mut written).unwrap() {
            pongs.push(Command::parse(body).unwrap());
        }
        assert_eq!(pongs.len(), MAX_PENDING_PONGS);
        // The newest PING's answer is the last one.
        assert_eq!(
            pongs.last(),
            Some(&Command::Pong(Bytes::from_static(&[0x27, 0x0f])))
        );
    }

    #[test]
    fn a_handshake_that_stalls_times_out_once() {
        let config = ConnectionConfig::new(SocketType::Pull).with_handshake(
            HandshakeConfig::new(SocketType::Pull).timeout(Some(Duration::from_millis(200))),
        );
        let now = Instant::now();
        let mut conn = Connection::new(config, Box::new(Null::new()), now);
        assert_eq!(conn.poll_timeout(), Some(now + Duration::from_millis(200)));
        conn.handle_timeout(now + Duration::from_millis(199))
            .unwrap();
        assert_eq!(
            conn.handle_timeout(now + Duration::from_millis(200)),
            Err(DisconnectReason::HandshakeTimeout)
        );
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(conn.failure(), Some(&DisconnectReason::HandshakeTimeout));
    }

    #[test]
    fn an_incompatible_peer_is_told_why_and_sorted_as_incompatible() {
        let mut pair = Pair::new(
            ConnectionConfig::new(SocketType::Push),
            ConnectionConfig::new(SocketType::Push),
        );
        let end = pair.drive().unwrap_err();
        assert!(matches!(
            end,
            DisconnectReason::Incompatible(ProtocolError::IncompatibleSocketType { .. })
        ));
        assert!(!end.allows_reconnect());
    }

    #[test]
    fn an_error_from_the_peer_ends_the_handshake_as_incompatible() {
        let now = Instant::now();
        let mut conn = Connection::new(
            ConnectionConfig::new(SocketType::Dealer),
            Box::new(Null::new()),
            now,
        );
        let mut input = BytesMut::from(
            &crate::proto::Greeting::new(crate::proto::MechanismName::NULL, false).encode()[..],
        );
        let mut out = WriteBuffer::new();
        out.push_command(&Command::Error(Bytes::from_static(b"go away")));
        input.extend_from_slice(&out.take_contiguous());
        let end = conn.poll_input(&mut input, now).unwrap_err();
        assert_eq!(
            end,
            DisconnectReason::Incompatible(ProtocolError::PeerError {
                reason: Bytes::from_static(b"go away")
            })
        );
        assert!(!end.allows_reconnect(), "RFC 37: an ERROR is fatal");
        // Nothing more is read from a failed connection.
        assert_eq!(conn.poll_input(&mut input, now), Err(end));
    }

    #[test]
    fn a_reader_that_stops_leaves_the_rest_in_the_buffer() {
        let mut pair = Pair::push_pull();
        pair.drive().unwrap();
        for i in 0..10u8 {
            pair.a
                .transmit_buffer()
                .push_message(&Message::single(vec![i]));
        }
        while let Some(chunks) = pair.a.poll_transmit() {
            chunks.iter().for_each(|c| pair.to_b.extend_from_slice(c));
        }
        // The socket takes three, then its queue is full: the rest waits, whole (in the buffer or
        // in the decoder's copy of a run of small frames), and counts as no partial message.
        for i in 0..3u8 {
            assert_eq!(
                pair.b.poll_input(&mut pair.to_b, pair.now).unwrap(),
                Some(ConnectionEvent::Message(Message::single(vec![i])))
            );
        }
        assert_eq!(pair.b.partial_bytes(&pair.to_b), 0);
        for i in 3..10u8 {
            assert_eq!(
                pair.b.poll_input(&mut pair.to_b, pair.now).unwrap(),
                Some(ConnectionEvent::Message(Message::single(vec![i])))
            );
        }
    }

    #[test]
    fn a_message_of_many_large_frames_is_written_in_capped_batches() {
        let mut pair = Pair::push_pull();
        pair.drive().unwrap();
        let body = Bytes::from(vec![7u8; 8192]);
        let message: Message = std::iter::repeat_n(body, 2000).collect();
        pair.a.transmit_buffer().push_message(&message);
        let mut batches = 0;
        while let Some(chunks) = pair.a.poll_transmit() {
            assert!(chunks.len() <= MAX_IOVECS);
            chunks.iter().for_each(|c| pair.to_b.extend_from_slice(c));
            batches += 1;
        }
        assert!(batches >= 8, "4,000 chunks in {batches} writes");
        pair.drive().unwrap();
        assert_eq!(
            pair.b_events.last(),
            Some(&ConnectionEvent::Message(message))
        );
    }

    #[test]
    fn a_frame_larger_than_the_budget_is_refused_from_its_header() {
        let mut pair = Pair::new(
            ConnectionConfig::new(SocketType::Push),
            ConnectionConfig::new(SocketType::Pull).max_frame_len(1 << 20),
        );
        pair.drive().unwrap();
        let mut header = BytesMut::from(&[0x02u8][..]);
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert_eq!(
            pair.b.poll_input(&mut header, pair.now),
            Err(DisconnectReason::Protocol(ProtocolError::FrameTooLarge {
                len: 1 << 62,
                max: 1 << 20
            }))
        );
    }

    #[test]
    fn partial_bytes_count_frames_and_the_frame_in_progress() {
        let mut pair = Pair::push_pull();
        pair.drive().unwrap();
        let mut input = BytesMut::new();
        let mut out = WriteBuffer::new();
        for _ in 0..10 {
            out.push_frame(&Bytes::new(), true);
        }
        input.extend_from_slice(&out.take_contiguous());
        // A frame of 1000 bytes with 100 arrived.
        input.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
        input.extend_from_slice(&[0u8; 100]);
        assert_eq!(pair.b.poll_input(&mut input, pair.now).unwrap(), None);
        assert_eq!(pair.b.partial_bytes(&input), 10 * FRAME_OVERHEAD + 100);
    }
}
