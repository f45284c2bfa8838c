//! Security mechanisms: the exchange of commands between the greeting and the first message.
//!
//! The handshake knows nothing about what a mechanism says: it moves command bodies in and out of
//! a [`Mechanism`] until the mechanism reports the peer's metadata. PLAIN and CURVE implement the
//! same trait.

mod auth;
pub mod curve;
mod null;
mod plain;

pub use auth::{
    AuthContext, AuthDecision, AuthQuery, AuthRequest, Authenticator, SharedAuthenticator,
    parse_zap_reply,
};
pub use null::Null;
pub use plain::{PLAIN_MAX_CREDENTIAL, PlainClient, PlainCredentials, PlainServer, USER_ID};

use bytes::Bytes;

use self::curve::Encryption;

use super::error::ProtocolError;
use super::greeting::{Greeting, MechanismName};
use super::metadata::Metadata;

/// Where a mechanism's exchange stands after a command.
///
/// ```
/// use monocoque::proto::{Command, Mechanism, MechanismStatus, Metadata, Null};
/// use monocoque::SocketType;
///
/// let mut null = Null::new();
/// let ready = Command::Ready(Metadata::for_socket(SocketType::Rep, None)).to_bytes();
/// match null.receive(ready, &mut Vec::new()).unwrap() {
///     MechanismStatus::Complete(theirs) => {
///         assert_eq!(theirs.socket_type().unwrap(), SocketType::Rep);
///     }
///     other => panic!("NULL completes on the peer's READY, not {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MechanismStatus {
    /// More commands must be exchanged.
    InProgress,
    /// The exchange is complete; this is the metadata the peer sent.
    Complete(Metadata),
    /// The exchange waits for a ZAP handler's decision about the client: ask it, then
    /// [`Mechanism::resume`] with the answer. Only a server whose [`AuthContext`] is deferred
    /// asks.
    Authenticate(AuthQuery),
}

/// One security mechanism's side of a handshake.
///
/// Output is a list of command bodies (`name_len name data`) for the handshake to frame and send.
///
/// ```
/// use monocoque::bytes::Bytes;
/// use monocoque::proto::{Command, Mechanism, MechanismStatus, Metadata, Null};
/// use monocoque::SocketType;
///
/// let ours = Metadata::for_socket(SocketType::Pull, None);
/// let mut null = Null::new();
/// let mut out = Vec::new();
/// null.start(&ours, &mut out);
/// assert_eq!(Command::parse(out[0].clone()).unwrap(), Command::Ready(ours.clone()));
///
/// let theirs = Metadata::for_socket(SocketType::Push, None);
/// let status = null.receive(Command::Ready(theirs.clone()).to_bytes(), &mut out).unwrap();
/// assert_eq!(status, MechanismStatus::Complete(theirs));
/// ```
pub trait Mechanism: std::fmt::Debug + Send {
    /// The name announced in the greeting.
    fn name(&self) -> MechanismName;

    /// Whether we act as the server of this mechanism (the greeting's as-server field).
    fn as_server(&self) -> bool;

    /// Checks the peer's greeting beyond the mechanism name, which the handshake has already
    /// compared (for example, that exactly one side is the server).
    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError>;

    /// Called once the greetings are exchanged: queues the commands we open with. `local` is the
    /// metadata our READY (or equivalent) must carry.
    fn start(&mut self, local: &Metadata, out: &mut Vec<Bytes>);

    /// Takes one command body from the peer, possibly queueing replies.
    fn receive(
        &mut self,
        command: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError>;

    /// Once the exchange is complete: how the traffic is to be encrypted, if it is (CURVE).
    /// Taken once; NULL and PLAIN leave the traffic as it is.
    fn take_encryption(&mut self) -> Option<Encryption> {
        None
    }

    /// Goes on after [`MechanismStatus::Authenticate`] with the handler's decision, queueing
    /// what follows (a WELCOME, a READY, or an ERROR with the status).
    fn resume(
        &mut self,
        decision: AuthDecision,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        let _ = (decision, out);
        Err(ProtocolError::AuthenticationFailed { status: 500 })
    }
}
