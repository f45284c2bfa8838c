//! The connection handshake as typed states: greeting, then the mechanism's commands, then ready.
//!
//! Each state is its own type and a transition consumes it, so a state can be neither skipped nor
//! used twice: [`ExpectGreeting`] → [`ExpectMechanism`] → [`Established`]. [`Handshake`] wraps the
//! three in one value for drivers that keep it in a struct field.
//!
//! The states never touch a socket or a clock: bytes come in through a `BytesMut` the caller
//! fills, bytes to send go out through a [`WriteBuffer`], and time is an `Instant` passed in.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use super::codec::WriteBuffer;
use super::command::Command;
use super::error::ProtocolError;
use super::frame::{Frame, FrameDecoder};
use super::greeting::{GREETING_LEN, Greeting, MechanismName, Version};
use super::mechanism::curve::Encryption;
use super::mechanism::{AuthDecision, AuthQuery, Mechanism, MechanismStatus};
use super::metadata::Metadata;
use super::socket_type::SocketType;

/// libzmq's default ZMQ_HANDSHAKE_IVL.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest handshake command accepted by default. READY carries a few short properties; a
/// bound here keeps a connection that has not proven anything from making us buffer much.
pub const DEFAULT_MAX_HANDSHAKE_COMMAND: u64 = 64 * 1024;

/// What our side of a handshake announces and accepts.
///
/// ```
/// use std::time::Duration;
/// use monocoque::proto::HandshakeConfig;
/// use monocoque::SocketType;
///
/// let config = HandshakeConfig::new(SocketType::Dealer)
///     .identity("worker-7")
///     .property("X-Shard", "3")
///     .unwrap()
///     .timeout(Some(Duration::from_secs(5)));
/// assert_eq!(config.metadata().identity().unwrap(), "worker-7");
/// ```
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    socket_type: SocketType,
    metadata: Metadata,
    timeout: Option<Duration>,
    max_command_len: u64,
}

impl HandshakeConfig {
    /// A configuration for a socket of `socket_type` with libzmq's defaults.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            metadata: Metadata::for_socket(socket_type, None),
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            max_command_len: DEFAULT_MAX_HANDSHAKE_COMMAND,
        }
    }

    /// Sets the routing id announced as `Identity` (sent by REQ, DEALER and ROUTER only, as libzmq
    /// does).
    pub fn identity(mut self, identity: impl Into<Bytes>) -> Self {
        if self.socket_type.sends_identity() {
            let identity = identity.into();
            // Valid name, and a routing id is at most 255 bytes: cannot fail.
            let _ = self.metadata.insert(super::metadata::IDENTITY, identity);
        }
        self
    }

    /// Adds an application property (libzmq's ZMQ_METADATA; names conventionally start `X-`).
    pub fn property(mut self, name: &str, value: impl Into<Bytes>) -> Result<Self, ProtocolError> {
        self.metadata.insert(name, value)?;
        Ok(self)
    }

    /// How long the peer has to complete the handshake (`None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest handshake command accepted.
    pub fn max_command_len(mut self, max: u64) -> Self {
        self.max_command_len = max;
        self
    }

    /// Our socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The metadata our READY carries.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

/// What the handshake learned about the peer.
///
/// Non-exhaustive: a later mechanism (CURVE) adds what it learns. A driver or a test that
/// feeds a [`SocketCore`](crate::proto::SocketCore) without a handshake builds one with
/// [`new`](Self::new):
///
/// ```
/// use monocoque::bytes::Bytes;
/// use monocoque::proto::{MechanismName, PeerInfo, Version};
/// use monocoque::SocketType;
///
/// let peer = PeerInfo::new(SocketType::Dealer).with_identity(Bytes::from("worker-1"));
/// assert_eq!(peer.identity.as_deref(), Some(&b"worker-1"[..]));
/// assert_eq!(peer.metadata.identity().map(|id| &id[..]), Some(&b"worker-1"[..]));
/// assert_eq!((peer.version, peer.mechanism), (Version::V3_1, MechanismName::NULL));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer's socket type, checked against ours.
    pub socket_type: SocketType,
    /// The peer's `Identity`, when its type sends one and it is not empty.
    pub identity: Option<Bytes>,
    /// Every property the peer sent.
    pub metadata: Metadata,
    /// The protocol version both sides speak (3.0 or 3.1).
    pub version: Version,
    /// The security mechanism used.
    pub mechanism: MechanismName,
}

impl PeerInfo {
    /// A peer of `socket_type` as a NULL handshake over ZMTP 3.1 would report it: the READY
    /// metadata libzmq sends, and no identity.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            identity: None,
            metadata: Metadata::for_socket(socket_type, None),
            version: Version::V3_1,
            mechanism: MechanismName::NULL,
        }
    }

    /// The same peer announcing `identity` (ignored, as on the wire, by socket types that do
    /// not send one; an empty identity is none).
    pub fn with_identity(mut self, identity: impl Into<Bytes>) -> Self {
        let identity = identity.into();
        let sent = Some(identity).filter(|_| self.socket_type.sends_identity());
        self.metadata = Metadata::for_socket(self.socket_type, sent.clone());
        self.identity = sent.filter(|id| !id.is_empty());
        self
    }

    /// The same peer speaking `version`.
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }
}

/// A completed handshake: the peer, and how the traffic is encrypted when the mechanism does
/// (CURVE).
#[derive(Debug)]
pub struct Established {
    /// What the handshake learned about the peer.
    pub peer: PeerInfo,
    /// The traffic's encryption: install its encoder in the connection's
    /// [`WriteBuffer`] and its decoder in the [`MessageDecoder`](super::MessageDecoder).
    pub encryption: Option<Encryption>,
}

/// A step of a typed handshake state: still waiting, or moved on to the next state.
#[derive(Debug)]
pub enum Transition<S, N> {
    /// More bytes are needed; the state is handed back.
    Pending(S),
    /// The state is complete.
    Next(N),
}

/// First state: our greeting is queued, the peer's is awaited.
#[derive(Debug)]
pub struct ExpectGreeting {
    config: HandshakeConfig,
    mechanism: Box<dyn Mechanism>,
    deadline: Option<Instant>,
}

impl ExpectGreeting {
    /// Starts a handshake at `now`, queueing our greeting in `out`.
    pub fn new(
        config: HandshakeConfig,
        mechanism: Box<dyn Mechanism>,
        now: Instant,
        out: &mut WriteBuffer,
    ) -> Self {
        out.push_raw(&Greeting::new(mechanism.name(), mechanism.as_server()).encode());
        let deadline = config.timeout.and_then(|t| now.checked_add(t));
        Self {
            config,
            mechanism,
            deadline,
        }
    }

    /// Consumes the peer's greeting from `input` once it is complete, and queues the mechanism's
    /// opening commands.
    pub fn receive(
        mut self,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<Transition<Self, ExpectMechanism>, ProtocolError> {
        let Some(greeting) = Greeting::decode(input)? else {
            return Ok(Transition::Pending(self));
        };
        input.advance(GREETING_LEN);
        let local = self.mechanism.name();
        if greeting.mechanism != local {
            return Err(ProtocolError::MechanismMismatch {
                local,
                peer: greeting.mechanism,
            });
        }
        self.mechanism.check_peer_greeting(&greeting)?;
        let mut commands = Vec::new();
        self.mechanism.start(&self.config.metadata, &mut commands);
        for body in &commands {
            out.push_command_body(body);
        }
        Ok(Transition::Next(ExpectMechanism {
            decoder: FrameDecoder::new(Some(self.config.max_command_len)),
            config: self.config,
            mechanism: self.mechanism,
            deadline: self.deadline,
            version: greeting.negotiated_version(),
            scratch: commands,
            awaiting: false,
            query: None,
        }))
    }

    /// When the handshake times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// Second state: the mechanism's commands are exchanged until it yields the peer's metadata.
#[derive(Debug)]
pub struct ExpectMechanism {
    config: HandshakeConfig,
    mechanism: Box<dyn Mechanism>,
    decoder: FrameDecoder,
    deadline: Option<Instant>,
    version: Version,
    scratch: Vec<Bytes>,
    /// The mechanism waits for a ZAP handler's decision: nothing more is read until it comes.
    awaiting: bool,
    query: Option<Box<AuthQuery>>,
}

impl ExpectMechanism {
    /// Consumes handshake commands from `input`. Bytes after the final command stay in `input`:
    /// they are the first traffic.
    ///
    /// When the peer's socket type is missing, unknown or incompatible, an ERROR command is queued
    /// in `out` before the error is returned (RFC 37 asks for one); flush it, then close.
    pub fn receive(
        mut self,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<Transition<Self, Established>, ProtocolError> {
        loop {
            if self.awaiting {
                return Ok(Transition::Pending(self));
            }
            let body = match self.decoder.decode(input)? {
                None => return Ok(Transition::Pending(self)),
                Some(Frame::Message { .. }) => return Err(ProtocolError::MessageBeforeReady),
                Some(Frame::Command(body)) => body,
            };
            self.scratch.clear();
            let status = self.mechanism.receive(body, &mut self.scratch);
            // What the mechanism queued goes out even when it refuses: an ERROR saying why.
            for body in &self.scratch {
                out.push_command_body(body);
            }
            match status? {
                MechanismStatus::InProgress => {}
                MechanismStatus::Complete(metadata) => return self.complete(metadata, out),
                MechanismStatus::Authenticate(query) => {
                    self.awaiting = true;
                    self.query = Some(Box::new(query));
                    return Ok(Transition::Pending(self));
                }
            }
        }
    }

    fn complete(
        mut self,
        metadata: Metadata,
        out: &mut WriteBuffer,
    ) -> Result<Transition<Self, Established>, ProtocolError> {
        match self.accept(metadata) {
            Ok(peer) => Ok(Transition::Next(Established {
                peer,
                encryption: self.mechanism.take_encryption(),
            })),
            Err(error) => {
                out.push_command(&Command::Error(Bytes::from(error.to_string())));
                Err(error)
            }
        }
    }

    /// The question for a ZAP handler the mechanism is waiting on, once: send it, then
    /// [`resume`](Self::resume) with the answer.
    pub fn take_auth_query(&mut self) -> Option<AuthQuery> {
        self.query.take().map(|query| *query)
    }

    /// Goes on with a ZAP handler's decision, then with what `input` holds.
    pub fn resume(
        mut self,
        decision: AuthDecision,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<Transition<Self, Established>, ProtocolError> {
        if !self.awaiting {
            return Err(ProtocolError::AuthenticationFailed { status: 500 });
        }
        self.awaiting = false;
        self.query = None;
        self.scratch.clear();
        let status = self.mechanism.resume(decision, &mut self.scratch);
        for body in &self.scratch {
            out.push_command_body(body);
        }
        match status? {
            MechanismStatus::InProgress => self.receive(input, out),
            MechanismStatus::Complete(metadata) => self.complete(metadata, out),
            MechanismStatus::Authenticate(_) => {
                Err(ProtocolError::AuthenticationFailed { status: 500 })
            }
        }
    }

    fn accept(&self, metadata: Metadata) -> Result<PeerInfo, ProtocolError> {
        let local = self.config.socket_type;
        let peer = metadata.socket_type()?;
        if !local.is_compatible(peer) {
            return Err(ProtocolError::IncompatibleSocketType { local, peer });
        }
        let identity = match metadata.identity() {
            Some(id) if id.len() > 255 => {
                return Err(ProtocolError::IdentityTooLong { len: id.len() });
            }
            // > For all other socket types, the Identity property shall be ignored.
            Some(id) if peer.sends_identity() && !id.is_empty() => Some(id.clone()),
            _ => None,
        };
        Ok(PeerInfo {
            socket_type: peer,
            identity,
            metadata,
            version: self.version,
            mechanism: self.mechanism.name(),
        })
    }

    /// The protocol version negotiated from the greetings.
    pub fn version(&self) -> Version {
        self.version
    }

    /// When the handshake times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// The whole handshake in one value, for drivers that keep it in a field.
///
/// ```
/// use std::time::Instant;
/// use monocoque::bytes::BytesMut;
/// use monocoque::proto::{Handshake, HandshakeConfig, Null, WriteBuffer};
/// use monocoque::SocketType;
///
/// let now = Instant::now();
/// let (mut a_out, mut b_out) = (WriteBuffer::new(), WriteBuffer::new());
/// let mut a = Handshake::new(HandshakeConfig::new(SocketType::Req), Box::new(Null::new()), now, &mut a_out);
/// let mut b = Handshake::new(HandshakeConfig::new(SocketType::Rep), Box::new(Null::new()), now, &mut b_out);
/// // Shuttle bytes until both sides are done (two rounds for NULL).
/// let (mut a_in, mut b_in) = (BytesMut::new(), BytesMut::new());
/// for _ in 0..2 {
///     b_in.extend_from_slice(&a_out.take_contiguous());
///     a_in.extend_from_slice(&b_out.take_contiguous());
///     a.receive(&mut a_in, &mut a_out).unwrap();
///     b.receive(&mut b_in, &mut b_out).unwrap();
/// }
/// assert_eq!(a.peer().unwrap().socket_type, SocketType::Rep);
/// assert_eq!(b.peer().unwrap().socket_type, SocketType::Req);
/// ```
#[derive(Debug)]
pub struct Handshake {
    state: State,
}

#[derive(Debug)]
enum State {
    Greeting(ExpectGreeting),
    Mechanism(ExpectMechanism),
    Done(PeerInfo, Option<Encryption>),
    Failed(ProtocolError),
    /// Only seen inside `advance`, between taking a state and putting its successor back.
    Poisoned,
}

impl Handshake {
    /// Starts a handshake at `now`, queueing our greeting in `out`.
    pub fn new(
        config: HandshakeConfig,
        mechanism: Box<dyn Mechanism>,
        now: Instant,
        out: &mut WriteBuffer,
    ) -> Self {
        Self {
            state: State::Greeting(ExpectGreeting::new(config, mechanism, now, out)),
        }
    }

    /// Feeds received bytes. Returns the peer once the handshake completes; bytes past the
    /// handshake stay in `input`. After an error the handshake is dead and keeps returning that
    /// error: flush `out` (it may hold an ERROR command for the peer), then close.
    pub fn receive(
        &mut self,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<Option<&PeerInfo>, ProtocolError> {
        if let Err(error) = self.advance(input, out) {
            self.state = State::Failed(error.clone());
            return Err(error);
        }
        Ok(self.peer())
    }

    fn advance(
        &mut self,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<(), ProtocolError> {
        loop {
            self.state = match std::mem::replace(&mut self.state, State::Poisoned) {
                State::Greeting(state) => match state.receive(input, out)? {
                    Transition::Pending(state) => {
                        self.state = State::Greeting(state);
                        return Ok(());
                    }
                    Transition::Next(next) => State::Mechanism(next),
                },
                State::Mechanism(state) => match state.receive(input, out)? {
                    Transition::Pending(state) => {
                        self.state = State::Mechanism(state);
                        return Ok(());
                    }
                    Transition::Next(done) => State::Done(done.peer, done.encryption),
                },
                done @ State::Done(..) => {
                    self.state = done;
                    return Ok(());
                }
                State::Failed(error) => return Err(error),
                State::Poisoned => return Err(ProtocolError::HandshakeTimeout),
            };
        }
    }

    /// When the handshake times out, if it is still in progress.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Greeting(s) => s.deadline(),
            State::Mechanism(s) => s.deadline(),
            State::Done(..) | State::Failed(_) | State::Poisoned => None,
        }
    }

    /// Fails the handshake with [`ProtocolError::HandshakeTimeout`] if `now` is past its deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                self.state = State::Failed(ProtocolError::HandshakeTimeout);
                Err(ProtocolError::HandshakeTimeout)
            }
            _ => Ok(()),
        }
    }

    /// The peer, once the handshake has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        match &self.state {
            State::Done(peer, _) => Some(peer),
            _ => None,
        }
    }

    /// The question for a ZAP handler the handshake waits on, once (see
    /// [`ExpectMechanism::take_auth_query`]).
    pub fn take_auth_query(&mut self) -> Option<AuthQuery> {
        match &mut self.state {
            State::Mechanism(state) => state.take_auth_query(),
            _ => None,
        }
    }

    /// Goes on with a ZAP handler's decision (see [`ExpectMechanism::resume`]).
    pub fn resume_auth(
        &mut self,
        decision: AuthDecision,
        input: &mut BytesMut,
        out: &mut WriteBuffer,
    ) -> Result<Option<&PeerInfo>, ProtocolError> {
        let result = match std::mem::replace(&mut self.state, State::Poisoned) {
            State::Mechanism(state) => state.resume(decision, input, out),
            other => {
                self.state = other;
                return Err(ProtocolError::AuthenticationFailed { status: 500 });
            }
        };
        match result {
            Ok(Transition::Pending(state)) => self.state = State::Mechanism(state),
            Ok(Transition::Next(done)) => self.state = State::Done(done.peer, done.encryption),
            Err(error) => {
                self.state = State::Failed(error.clone());
                return Err(error);
            }
        }
        Ok(self.peer())
    }

    /// Once the handshake has completed: the traffic's encryption, if the mechanism encrypts
    /// (CURVE). Taken once.
    pub fn take_encryption(&mut self) -> Option<Encryption> {
        match &mut self.state {
            State::Done(_, encryption) => encryption.take(),
            _ => None,
        }
    }

    /// Whether the handshake has completed.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(..))
    }

    /// The peer, consuming the handshake.
    pub fn into_peer(self) -> Option<PeerInfo> {
        match self.state {
            State::Done(peer, _) => Some(peer),
            _ => None,
        }
    }
}
