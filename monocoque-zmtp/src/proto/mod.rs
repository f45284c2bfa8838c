//! The sans-IO ZMTP 3.1 core: pure, deterministic state machines that never touch a socket or a
//! clock. Bytes go in as `BytesMut`, bytes come out through a [`WriteBuffer`], and time is an
//! `Instant` passed in. Nothing here may depend on an async runtime.

mod codec;
mod command;
mod connection;
mod error;
mod frame;
mod greeting;
mod handshake;
mod heartbeat;
mod mechanism;
mod metadata;
mod socket;
mod socket_type;
mod trie;

pub use codec::{DEFAULT_COPY_THRESHOLD, Inbound, MAX_IOVECS, MessageDecoder, WriteBuffer};
pub use command::{Command, MAX_PING_CONTEXT, Subscription};
pub use connection::{
    Connection, ConnectionConfig, ConnectionEvent, DEFAULT_RECEIVE_BUDGET, DisconnectReason,
    FRAME_OVERHEAD, MAX_PENDING_PONGS, ReceiveBudget,
};
pub use error::ProtocolError;
pub use frame::{
    COPY_BELOW, FLAG_COMMAND, FLAG_LONG, FLAG_MORE, Frame, FrameDecoder, MAX_FRAME_LEN,
    SMALL_ARENA, encode_frame_header, frame_header_len,
};
pub use greeting::{GREETING_LEN, Greeting, MechanismName, Version};
pub use handshake::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKE_COMMAND, Established, ExpectGreeting,
    ExpectMechanism, Handshake, HandshakeConfig, PeerInfo, Transition,
};
pub use heartbeat::{Expired, Heartbeat, HeartbeatConfig};
pub use mechanism::curve;
pub use mechanism::{
    AuthContext, AuthDecision, AuthQuery, AuthRequest, Authenticator, Mechanism, MechanismStatus,
    Null, PLAIN_MAX_CREDENTIAL, PlainClient, PlainCredentials, PlainServer, SharedAuthenticator,
    USER_ID, parse_zap_reply,
};
pub use metadata::{IDENTITY, MAX_PROPERTIES, Metadata, RESOURCE, SOCKET_TYPE};
pub use socket::{
    Event, Origin, PatternOptions, Pipe, Pipes, RecvError, RouterNotify, SendError, SendErrorKind,
    SocketCore,
};
pub use socket_type::{SocketType, UnknownSocketType};
pub use trie::{SubscriptionSet, SubscriptionTrie, Unsubscribed};
