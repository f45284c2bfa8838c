//! Protocol violations, one variant per distinct fault.

use bytes::Bytes;

use super::greeting::MechanismName;
use super::socket_type::SocketType;

/// A violation of ZMTP by the peer, or a handshake that cannot succeed.
///
/// Any of these closes the one connection that caused it; the socket and its other peers carry on.
/// Variants are deliberately fine-grained so that tests, logs and monitor events can tell exactly
/// what went wrong.
///
/// ```
/// use monocoque::proto::{FrameDecoder, ProtocolError};
/// let mut decoder = FrameDecoder::new(None);
/// let mut input = bytes::BytesMut::from(&[0x08u8, 0x00][..]);
/// assert!(matches!(decoder.decode(&mut input), Err(ProtocolError::ReservedFlagBits { flags: 0x08 })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first bytes are not a ZMTP signature (`0xFF`, padding, `0x7F`).
    #[error("not a ZMTP peer: bad greeting signature")]
    BadSignature,
    /// The peer speaks a ZMTP version older than 3.0 (1.0 and 2.0 predate libzmq 4.0).
    #[error("unsupported ZMTP version {major}.{minor}; ZMTP 3.0 or later is required")]
    UnsupportedVersion {
        /// Major protocol version the peer announced (or was detected as).
        major: u8,
        /// Minor protocol version.
        minor: u8,
    },
    /// The greeting's mechanism field is not a NUL-padded name of `A-Z 0-9 - _ . +`.
    #[error("malformed security mechanism name in greeting")]
    InvalidMechanism,
    /// The peer announced a different security mechanism than ours.
    #[error("security mechanism mismatch: we use {local}, peer uses {peer}")]
    MechanismMismatch {
        /// Our mechanism.
        local: MechanismName,
        /// The peer's mechanism.
        peer: MechanismName,
    },
    /// RFC 37: "When a peer uses the NULL security mechanism, the as-server field MUST be zero."
    #[error("peer set as-server with the NULL mechanism")]
    NullAsServer,
    /// The client was refused by the server's authenticator (ZAP status 300, 400 or 500): on the
    /// server, our refusal; on the client, the server's ERROR saying so.
    #[error("authentication failed with status {status}")]
    AuthenticationFailed {
        /// The ZAP status.
        status: u16,
    },
    /// A frame's flags byte has one of the reserved bits 3..7 set.
    #[error("reserved frame flag bits set: {flags:#04x}")]
    ReservedFlagBits {
        /// The whole flags byte.
        flags: u8,
    },
    /// A command frame had the MORE flag set.
    #[error("command frame with the MORE flag")]
    CommandWithMore,
    /// A frame declared a body larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Declared body length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A multipart message grew past the configured maximum size.
    #[error("message of at least {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// Bytes accumulated so far.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A multipart message has more frames than allowed.
    #[error("message with more than {max} frames")]
    TooManyFrames {
        /// The limit.
        max: usize,
    },
    /// A long frame declared a size of 2^63 or more, which RFC 37 forbids.
    #[error("frame length {len} is beyond 2^63-1")]
    FrameLengthOverflow {
        /// The declared length.
        len: u64,
    },
    /// A command frame with no name, or a name length pointing past the end of the frame.
    #[error("malformed command frame")]
    MalformedCommand,
    /// A well-known command whose body does not follow its grammar.
    #[error("malformed {command} command")]
    MalformedCommandBody {
        /// The command name.
        command: &'static str,
    },
    /// A metadata property is cut short: a length points past the end of the command.
    #[error("metadata truncated while reading {field}")]
    MetadataTruncated {
        /// Which field was cut off: `"name length"`, `"name"`, `"value length"` or `"value"`.
        field: &'static str,
    },
    /// A metadata property has an empty name or a name with characters outside RFC 37's set.
    #[error("invalid metadata property name")]
    InvalidPropertyName,
    /// A metadata value is longer than 2^31-1 bytes.
    #[error("metadata value of {len} bytes exceeds 2^31-1")]
    PropertyValueTooLong {
        /// The declared length.
        len: u64,
    },
    /// The same metadata property appears twice.
    #[error("duplicate metadata property {name}")]
    DuplicateProperty {
        /// The repeated name, as the peer spelled it.
        name: String,
    },
    /// A property list has more properties than allowed.
    #[error("more than {max} metadata properties")]
    TooManyProperties {
        /// The limit.
        max: usize,
    },
    /// The peer's READY has no Socket-Type property.
    #[error("peer did not announce its socket type")]
    MissingSocketType,
    /// The peer's Socket-Type is not a type we know.
    #[error("peer announced an unknown socket type {name:?}")]
    UnknownSocketType {
        /// The value the peer sent.
        name: Bytes,
    },
    /// The two socket types cannot talk to each other.
    #[error("socket type {peer} cannot talk to {local}")]
    IncompatibleSocketType {
        /// Our socket type.
        local: SocketType,
        /// The peer's socket type.
        peer: SocketType,
    },
    /// The peer's Identity is longer than 255 bytes.
    #[error("peer identity of {len} bytes exceeds 255")]
    IdentityTooLong {
        /// Its length.
        len: usize,
    },
    /// The peer sent a message frame before the handshake was complete.
    #[error("message frame received before the handshake completed")]
    MessageBeforeReady,
    /// The peer sent a command the current handshake state does not allow.
    #[error("unexpected {name:?} command during the handshake")]
    UnexpectedCommand {
        /// The command name.
        name: Bytes,
    },
    /// A CURVE box did not open: tampered with, made with other keys, or garbage. `what`
    /// names the box (`HELLO`, `INITIATE cookie`, `MESSAGE`, ...).
    #[error("CURVE {what} box did not open")]
    Cryptographic {
        /// The command or part whose box failed.
        what: &'static str,
    },
    /// A CURVE nonce that is not above the last one seen: a replayed or reordered command.
    #[error("CURVE nonce {nonce} is not above the last one, {last}: replayed or out of order")]
    InvalidNonce {
        /// The nonce received.
        nonce: u64,
        /// The highest nonce accepted so far.
        last: u64,
    },
    /// The peer closed the handshake with an ERROR command; RFC 37 makes this fatal.
    #[error("peer refused the handshake: {reason:?}")]
    PeerError {
        /// The reason the peer gave.
        reason: Bytes,
    },
    /// The handshake did not finish within the handshake interval.
    #[error("handshake did not complete in time")]
    HandshakeTimeout,
    /// Messages still being received would hold more than the socket's receive budget.
    #[error("partially received messages would exceed the receive budget of {limit} bytes")]
    ReceiveBudgetExceeded {
        /// The budget.
        limit: u64,
    },
}
