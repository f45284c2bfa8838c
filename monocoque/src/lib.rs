//! monocoque: ZeroMQ in pure Rust, on io_uring through compio, wire-compatible with libzmq.
//!
//! Every ZeroMQ socket type is here: [`PairSocket`], [`PubSocket`], [`SubSocket`],
//! [`XPubSocket`], [`XSubSocket`], [`PushSocket`], [`PullSocket`], [`ReqSocket`], [`RepSocket`],
//! [`DealerSocket`] and [`RouterSocket`]. Each binds and connects to any number of `tcp://` and
//! `ipc://` endpoints, serves many peers at once, and talks ZMTP 3.1 to libzmq peers in any
//! language.
//!
//! # Quick start
//!
//! Sockets run on a [compio](https://docs.rs/compio) runtime thread (thread-per-core, no
//! cross-thread hop per message):
//!
//! ```
//! use monocoque::{Message, RepSocket, ReqSocket};
//!
//! # fn main() -> Result<(), monocoque::Error> {
//! compio::runtime::Runtime::new()?.block_on(async {
//!     let server = RepSocket::new();
//!     let endpoint = server.bind("tcp://127.0.0.1:0").await?; // the real port comes back
//!
//!     let client = ReqSocket::new();
//!     client.connect(&endpoint.to_string())?;
//!     client.send(Message::from("hello").with("world")).await?;
//!
//!     let request = server.recv().await?;
//!     assert_eq!(request, Message::from("hello").with("world"));
//!     server.send("hi").await?;
//!     assert_eq!(client.recv().await?, Message::from("hi"));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Errors
//!
//! Each operation has its own error type ([`SendError`] hands the message back, [`RecvError`],
//! [`OptionError`], [`Error`] for endpoints), and every one of them converts into [`Error`], so a
//! function using sockets can return `Result<_, monocoque::Error>` and `?` each step:
//!
//! ```
//! use std::time::Duration;
//! use monocoque::{DealerSocket, Message, RouterSocket, SocketOptions};
//!
//! fn main() -> Result<(), monocoque::Error> {
//!     compio::runtime::Runtime::new()?.block_on(async {
//!         let options = SocketOptions::new().recv_timeout(Some(Duration::from_millis(50)));
//!         let router = RouterSocket::with_options(options)?;
//!         let endpoint = router.bind("tcp://127.0.0.1:0").await?;
//!         let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("d"))?;
//!         dealer.connect(&endpoint.to_string())?;
//!         dealer.send("hello").await?;
//!         assert_eq!(router.recv().await?, Message::from("d").with("hello"));
//!         // Nothing more comes: the receive timeout is an error that says so.
//!         let error = monocoque::Error::from(router.recv().await.unwrap_err());
//!         assert!(error.is_timeout());
//!         assert_eq!(error.to_string(), "nothing arrived within the receive timeout");
//!         Ok(())
//!     })
//! }
//! ```
//!
//! # Without sockets
//!
//! The protocol itself is a sans-IO core in [`proto`]: greeting, framing, handshake and
//! heartbeats as pure state machines, usable from any runtime or none:
//!
//! ```
//! use std::time::Instant;
//! use monocoque::bytes::BytesMut;
//! use monocoque::proto::{Handshake, HandshakeConfig, Null, WriteBuffer};
//! use monocoque::SocketType;
//!
//! let now = Instant::now();
//! let (mut to_router, mut to_req) = (WriteBuffer::new(), WriteBuffer::new());
//! let mut req = Handshake::new(
//!     HandshakeConfig::new(SocketType::Req).identity("client-1"),
//!     Box::new(Null::new()), now, &mut to_router,
//! );
//! let mut router = Handshake::new(
//!     HandshakeConfig::new(SocketType::Router),
//!     Box::new(Null::new()), now, &mut to_req,
//! );
//! let (mut req_in, mut router_in) = (BytesMut::new(), BytesMut::new());
//! while !(req.is_done() && router.is_done()) {
//!     router_in.extend_from_slice(&to_router.take_contiguous());
//!     req_in.extend_from_slice(&to_req.take_contiguous());
//!     router.receive(&mut router_in, &mut to_req)?;
//!     req.receive(&mut req_in, &mut to_router)?;
//! }
//! let client = router.peer().unwrap();
//! assert_eq!(client.socket_type, SocketType::Req);
//! assert_eq!(client.identity.as_deref(), Some(&b"client-1"[..]));
//! # Ok::<(), monocoque::proto::ProtocolError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod discovery;
pub mod handle;
mod sockets;
pub mod status;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod typed;

/// The `bytes` crate, whose `Bytes` frames and topics are made of: `monocoque::bytes::Bytes`
/// names them without a dependency of your own.
pub use bytes;

/// The README's and the guide's examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
#[doc = include_str!("../../docs/GUIDE.md")]
pub struct ReadmeAndGuide;

/// The security guide's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/SECURITY.md")]
pub struct SecurityGuide;

/// The discovery guide's examples, run as doc tests (its etcd example is compiled only).
#[cfg(all(doctest, feature = "etcd"))]
#[doc = include_str!("../../docs/DISCOVERY.md")]
pub struct DiscoveryGuide;

#[doc(inline)]
pub use monocoque_core::{
    Endpoint, EndpointError, Host, IntoFrames, IpcAddr, Message, Port, TcpEndpoint, TcpSource,
    Transport,
};
#[doc(inline)]
pub use monocoque_zmtp::driver::{
    DEFAULT_BACKLOG, DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS, Error,
    Monitor, MonitorEvent, MonitorEventKind, MonitorMask, OptionError, OptionName, Peer,
    SocketOptions, TcpKeepalive, ZAP_ENDPOINT,
};
#[doc(inline)]
pub use monocoque_zmtp::driver::{ProxyControl, ProxyStatistics, SideStatistics};
#[doc(inline)]
pub use monocoque_zmtp::proto::{DisconnectReason, RouterNotify, SocketType};
#[doc(inline)]
pub use monocoque_zmtp::proto::{RecvError, SendError, SendErrorKind};
#[doc(inline)]
pub use sockets::{
    DealerSocket, PairSocket, ProxySocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SubSocket, XPubSocket, XSubSocket,
};

/// Forwards messages between `frontend` and `backend` until `control` terminates it, or a
/// socket fails: libzmq's `zmq_proxy_steerable` (and `zmq_proxy`, with a control you never
/// use). Each message is first sent to `capture`, if given. Messages go from the frontend to the
/// backend, and back where both sides can (ROUTER/DEALER and XSUB/XPUB brokers; PULL/PUSH one
/// way).
///
/// ```
/// use monocoque::{DealerSocket, Message, ProxyControl, RepSocket, ReqSocket, RouterSocket};
///
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// let frontend = RouterSocket::new();
/// let clients = frontend.bind("tcp://127.0.0.1:0").await?;
/// let backend = DealerSocket::new();
/// let workers = backend.bind("tcp://127.0.0.1:0").await?;
/// let control = ProxyControl::new();
/// let broker = monocoque::proxy(&frontend, &backend, None, &control);
///
/// let work = async {
///     let worker = RepSocket::new();
///     worker.connect(&workers.to_string())?;
///     let client = ReqSocket::new();
///     client.connect(&clients.to_string())?;
///     client.send("2+2").await?;
///     let request = worker.recv().await?;
///     worker.send(Message::from("4")).await?;
///     assert_eq!(request, Message::from("2+2"));
///     assert_eq!(client.recv().await?, Message::from("4"));
///     control.terminate();
///     Ok::<(), monocoque::Error>(())
/// };
/// let (proxied, worked) = futures_util::future::join(broker, work).await;
/// proxied?;
/// worked?;
/// let statistics = control.statistics();
/// assert_eq!(statistics.frontend.messages_in, 1);
/// assert_eq!(statistics.backend.messages_in, 1);
/// # Ok::<(), monocoque::Error>(())
/// # }).unwrap();
/// ```
#[doc(alias = "zmq_proxy")]
#[doc(alias = "zmq_proxy_steerable")]
pub async fn proxy(
    frontend: &impl ProxySocket,
    backend: &impl ProxySocket,
    capture: Option<&dyn ProxySocket>,
    control: &ProxyControl,
) -> Result<(), Error> {
    monocoque_zmtp::driver::proxy(
        frontend.driver_socket(),
        backend.driver_socket(),
        capture.map(ProxySocket::driver_socket),
        control,
    )
    .await
}

/// CURVE security (RFC 25/26): keys, and the mechanism's two sides for drivers of their own.
///
/// A socket uses CURVE through its options: a server sets
/// [`curve_server`](crate::SocketOptions::curve_server) and its secret key, a client its
/// keypair and the server's public key. See `docs/SECURITY.md`.
pub mod curve {
    #[doc(inline)]
    pub use monocoque_zmtp::proto::curve::{
        CURVE_KEY_LEN, CURVE_KEY_Z85_LEN, CurveClient, CurveDecoder, CurveEncoder, CurveKeyPair,
        CurvePublicKey, CurveSecretKey, CurveServer, Encryption, KeyError, OpenedFrame,
        seal_message_body,
    };
}

/// The sans-IO ZMTP 3.1 protocol core, for building drivers and tools on other runtimes.
pub mod proto {
    #[doc(inline)]
    pub use monocoque_zmtp::proto::{
        AuthContext, AuthDecision, AuthQuery, AuthRequest, Authenticator, SharedAuthenticator,
        parse_zap_reply,
    };
    #[doc(inline)]
    pub use monocoque_zmtp::proto::{
        Command, Connection, ConnectionConfig, ConnectionEvent, DEFAULT_RECEIVE_BUDGET,
        Established, Expired, FRAME_OVERHEAD, Frame, FrameDecoder, Greeting, Handshake,
        HandshakeConfig, Heartbeat, HeartbeatConfig, Inbound, MAX_IOVECS, MAX_PROPERTIES,
        Mechanism, MechanismName, MechanismStatus, MessageDecoder, Metadata, Null,
        PLAIN_MAX_CREDENTIAL, PeerInfo, PlainClient, PlainCredentials, PlainServer, ProtocolError,
        ReceiveBudget, Subscription, USER_ID, Version, WriteBuffer,
    };
}
