//! Shared machinery of the socket-level interop tests (`tests/sockets_*.rs`): monocoque's
//! sockets on a compio runtime against libzmq sockets from the `zmq` crate.
//!
//! Everything runs on the test's single compio thread. libzmq is used without ever blocking it:
//! sends and receives use `ZMQ_DONTWAIT` and, while nothing is ready, yield to the runtime for
//! [`POLL`] before trying again, so monocoque's connection tasks keep running. A pump task touches
//! every libzmq socket once per [`POLL`] (`ZMQ_EVENTS`), as an application blocked in
//! `zmq_poll` would, so that libzmq attaches new connections and replays subscriptions even while
//! the test is waiting on the monocoque side. Every wait is bounded by [`WAIT`]; a whole case by
//! [`CASE_LIMIT`].
//!
//! A matrix test describes one pairing of socket types (`a`, `b`) and one traffic script written
//! once against two [`Peer`]s; [`matrix`] runs it for every [`Case`]: monocoque as `a` or as `b`,
//! `a` or `b` binding, over TCP and IPC. Failures are collected per case and reported together,
//! each under the name of its combination.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::runtime::{JoinError, JoinHandle};
use monocoque::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RecvError, RepSocket,
    ReqSocket, RouterSocket, SendErrorKind, SocketOptions, SocketType, SubSocket, XPubSocket,
    XSubSocket,
};
use monocoque_interop_tests::{IpcPath, bind_tcp, libzmq_socket};

/// The longest any single wait (a message, a connection, a monitor event) may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// How long the runtime is given between two non-blocking tries at a libzmq socket.
pub(crate) const POLL: Duration = Duration::from_millis(1);

/// How long one round of a publish-until-received loop waits for the subscriber.
pub(crate) const ROUND: Duration = Duration::from_millis(10);

/// The longest one combination may run, setup and traffic included.
pub(crate) const CASE_LIMIT: Duration = Duration::from_secs(60);

/// The size of the large frames sent in the matrix.
pub(crate) const LARGE: usize = 4 * 1024 * 1024;

/// Bytes that differ from position to position (and from seed to seed), so a misplaced or
/// truncated chunk would show.
pub(crate) fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<_>>()
        .into()
}

/// A message of the given frames.
pub(crate) fn msg<T: Into<Bytes>>(frames: impl IntoIterator<Item = T>) -> Message {
    Message::from_iter(frames)
}

/// A message of one frame, `prefix` followed by `topic`.
pub(crate) fn prefixed(prefix: u8, topic: &str) -> Message {
    let mut frame = vec![prefix];
    frame.extend_from_slice(topic.as_bytes());
    Message::from(frame)
}

/// Whether the first frame of `message` starts with `prefix`.
pub(crate) fn starts_with(message: &Message, prefix: &str) -> bool {
    message
        .first()
        .is_some_and(|frame| frame.starts_with(prefix.as_bytes()))
}

/// Yields to the runtime for `duration`.
pub(crate) async fn pause(duration: Duration) {
    compio::time::sleep(duration).await;
}

/// Polls `condition` every [`POLL`] until it holds, for at most [`WAIT`]; panics with `what`
/// otherwise.
pub(crate) async fn wait_until(what: impl fmt::Display, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        pause(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Combinations.

/// One of the two sockets of a pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The first socket type of the pairing (REQ in REQ-REP).
    A,
    /// The second one (REP in REQ-REP).
    B,
}

impl Role {
    pub(crate) const BOTH: [Self; 2] = [Self::A, Self::B];
}

/// The transport a case runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Loopback TCP on a port the kernel picks.
    Tcp,
    /// A Unix domain socket at a fresh path under the temporary directory.
    Ipc,
}

impl Transport {
    pub(crate) const BOTH: [Self; 2] = [Self::Tcp, Self::Ipc];
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Ipc => "ipc",
        })
    }
}

/// The two libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Library {
    Monocoque,
    Libzmq,
}

impl fmt::Display for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Monocoque => "monocoque",
            Self::Libzmq => "libzmq",
        })
    }
}

/// One combination of a pairing: which library plays which socket, which socket binds, and the
/// transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Case {
    pub(crate) a: SocketType,
    pub(crate) b: SocketType,
    /// The socket monocoque plays; libzmq plays the other one.
    pub(crate) mono: Role,
    /// The socket that binds; the other one connects.
    pub(crate) binder: Role,
    pub(crate) transport: Transport,
}

impl Case {
    /// All eight combinations of the pairing `a`-`b`.
    pub(crate) fn all(a: SocketType, b: SocketType) -> Vec<Self> {
        let mut cases = Vec::new();
        for transport in Transport::BOTH {
            for mono in Role::BOTH {
                for binder in Role::BOTH {
                    cases.push(Self {
                        a,
                        b,
                        mono,
                        binder,
                        transport,
                    });
                }
            }
        }
        cases
    }

    /// The socket type of `role`.
    pub(crate) fn socket_type(&self, role: Role) -> SocketType {
        match role {
            Role::A => self.a,
            Role::B => self.b,
        }
    }

    /// The library playing `role`.
    pub(crate) fn library(&self, role: Role) -> Library {
        if role == self.mono {
            Library::Monocoque
        } else {
            Library::Libzmq
        }
    }

    fn describe(&self, role: Role) -> String {
        let library = self.library(role);
        let socket_type = self.socket_type(role);
        if self.a != self.b {
            format!("{library} {socket_type}")
        } else if role == Role::A {
            // Both sockets have the same type: say which one of the script's two it plays.
            format!("{library} {socket_type} (a)")
        } else {
            format!("{library} {socket_type} (b)")
        }
    }
}

impl fmt::Display for Case {
    /// `REQ-REP over tcp: monocoque REQ binds, libzmq REP connects`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connector = match self.binder {
            Role::A => Role::B,
            Role::B => Role::A,
        };
        write!(
            f,
            "{}-{} over {}: {} binds, {} connects",
            self.a,
            self.b,
            self.transport,
            self.describe(self.binder),
            self.describe(connector)
        )
    }
}

/// Runs `run` for every case, each in a task of its own bounded by [`CASE_LIMIT`], and fails
/// once at the end with every failed combination and why, if any failed.
pub(crate) async fn run_cases<C, F, Fut>(title: &str, cases: Vec<C>, run: F)
where
    C: fmt::Display,
    F: Fn(C) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let total = cases.len();
    let started = Instant::now();
    let mut failures = Vec::new();
    for case in cases {
        let label = case.to_string();
        let case_started = Instant::now();
        let task = compio::runtime::spawn(run(case));
        match compio::time::timeout(CASE_LIMIT, task).await {
            Ok(Ok(())) => println!("ok     {label} ({:?})", case_started.elapsed()),
            Ok(Err(JoinError::Panicked(payload))) => {
                let why = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(panic without a message)");
                // The scripts' messages usually name the combination already.
                let why = why
                    .strip_prefix(label.as_str())
                    .map_or(why, |rest| rest.trim_start_matches(": "));
                failures.push(format!("  {label}:\n      {why}"));
            }
            Ok(Err(error)) => failures.push(format!("  {label}: {error}")),
            Err(_) => failures.push(format!("  {label}: did not finish within {CASE_LIMIT:?}")),
        }
    }
    println!(
        "{title}: {} of {total} combinations passed in {:?}",
        total - failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{title}: {} of {total} combinations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// monocoque sockets of any type.

/// A monocoque socket of any type.
#[derive(Debug)]
pub(crate) enum Mono {
    Pair(PairSocket),
    Pub(PubSocket),
    Sub(SubSocket),
    Xpub(XPubSocket),
    Xsub(XSubSocket),
    Push(PushSocket),
    Pull(PullSocket),
    Req(ReqSocket),
    Rep(RepSocket),
    Dealer(DealerSocket),
    Router(RouterSocket),
}

/// Runs `$body` with `$s` bound to the socket, whatever its type.
macro_rules! any_socket {
    ($mono:expr, $s:ident => $body:expr) => {
        match $mono {
            Mono::Pair($s) => $body,
            Mono::Pub($s) => $body,
            Mono::Sub($s) => $body,
            Mono::Xpub($s) => $body,
            Mono::Xsub($s) => $body,
            Mono::Push($s) => $body,
            Mono::Pull($s) => $body,
            Mono::Req($s) => $body,
            Mono::Rep($s) => $body,
            Mono::Dealer($s) => $body,
            Mono::Router($s) => $body,
        }
    };
}

/// `Some($body)` with `$s` bound to the socket if its type can send, `None` otherwise.
macro_rules! sending_socket {
    ($mono:expr, $s:ident => $body:expr) => {
        match $mono {
            Mono::Pair($s) => Some($body),
            Mono::Pub($s) => Some($body),
            Mono::Xpub($s) => Some($body),
            Mono::Xsub($s) => Some($body),
            Mono::Push($s) => Some($body),
            Mono::Req($s) => Some($body),
            Mono::Rep($s) => Some($body),
            Mono::Dealer($s) => Some($body),
            Mono::Router($s) => Some($body),
            Mono::Sub(_) | Mono::Pull(_) => None,
        }
    };
}

/// `Some($body)` with `$s` bound to the socket if its type can receive, `None` otherwise.
macro_rules! receiving_socket {
    ($mono:expr, $s:ident => $body:expr) => {
        match $mono {
            Mono::Pair($s) => Some($body),
            Mono::Sub($s) => Some($body),
            Mono::Xpub($s) => Some($body),
            Mono::Xsub($s) => Some($body),
            Mono::Pull($s) => Some($body),
            Mono::Req($s) => Some($body),
            Mono::Rep($s) => Some($body),
            Mono::Dealer($s) => Some($body),
            Mono::Router($s) => Some($body),
            Mono::Pub(_) | Mono::Push(_) => None,
        }
    };
}

impl Mono {
    /// A socket of `socket_type` (must be called on the compio runtime).
    pub(crate) fn new(socket_type: SocketType, options: SocketOptions) -> Self {
        match socket_type {
            SocketType::Pair => {
                Self::Pair(PairSocket::with_options(options).expect("valid options"))
            }
            SocketType::Pub => Self::Pub(PubSocket::with_options(options).expect("valid options")),
            SocketType::Sub => Self::Sub(SubSocket::with_options(options).expect("valid options")),
            SocketType::Xpub => {
                Self::Xpub(XPubSocket::with_options(options).expect("valid options"))
            }
            SocketType::Xsub => {
                Self::Xsub(XSubSocket::with_options(options).expect("valid options"))
            }
            SocketType::Push => {
                Self::Push(PushSocket::with_options(options).expect("valid options"))
            }
            SocketType::Pull => {
                Self::Pull(PullSocket::with_options(options).expect("valid options"))
            }
            SocketType::Req => Self::Req(ReqSocket::with_options(options).expect("valid options")),
            SocketType::Rep => Self::Rep(RepSocket::with_options(options).expect("valid options")),
            SocketType::Dealer => {
                Self::Dealer(DealerSocket::with_options(options).expect("valid options"))
            }
            SocketType::Router => {
                Self::Router(RouterSocket::with_options(options).expect("valid options"))
            }
            other => panic!("no monocoque socket type for {other}"),
        }
    }

    /// Binds `endpoint` and returns the endpoint as bound, as a string for libzmq.
    pub(crate) async fn bind(&self, endpoint: &str) -> String {
        any_socket!(self, s => s.bind(endpoint).await)
            .unwrap_or_else(|error| panic!("monocoque bind {endpoint}: {error}"))
            .to_string()
    }

    /// Connects to `endpoint` (in the background).
    pub(crate) fn connect(&self, endpoint: &str) {
        any_socket!(self, s => s.connect(endpoint))
            .unwrap_or_else(|error| panic!("monocoque connect {endpoint}: {error}"));
    }

    /// The number of peers with a live connection.
    pub(crate) fn connected_peers(&self) -> usize {
        any_socket!(self, s => s.connected_peers())
    }

    /// Sends `message` if that is possible without waiting (`None` if the type cannot send).
    pub(crate) fn try_send(&self, message: Message) -> Option<Result<(), monocoque::SendError>> {
        sending_socket!(self, s => s.try_send(message))
    }

    /// Receives a message if one is ready (`None` if the type cannot receive).
    pub(crate) fn try_recv(&self) -> Option<Result<Message, RecvError>> {
        receiving_socket!(self, s => s.try_recv())
    }
}

// ---------------------------------------------------------------------------------------------
// One side of a pairing, whichever library plays it.

/// Socket options given to both libraries alike.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opts {
    /// `ZMQ_ROUTING_ID`.
    pub(crate) routing_id: Option<Bytes>,
    /// `ZMQ_ROUTER_MANDATORY` (ROUTER only).
    pub(crate) router_mandatory: bool,
}

impl Opts {
    pub(crate) const NONE: Self = Self {
        routing_id: None,
        router_mandatory: false,
    };

    /// A routing id.
    pub(crate) fn id(routing_id: impl Into<Bytes>) -> Self {
        Self {
            routing_id: Some(routing_id.into()),
            router_mandatory: false,
        }
    }

    /// A routing id and mandatory routing.
    pub(crate) fn mandatory_router(routing_id: impl Into<Bytes>) -> Self {
        Self {
            routing_id: Some(routing_id.into()),
            router_mandatory: true,
        }
    }

    fn monocoque(self) -> SocketOptions {
        // Only what is asked for: an option that does not apply to the socket type is an error.
        let mut options = SocketOptions::new();
        if self.router_mandatory {
            options = options.router_mandatory(true);
        }
        if let Some(id) = self.routing_id {
            options = options.routing_id(id);
        }
        options
    }

    fn apply_to(self, socket: &zmq::Socket) {
        if let Some(id) = self.routing_id {
            socket.set_identity(&id).expect("ZMQ_ROUTING_ID");
        }
        if self.router_mandatory {
            socket
                .set_router_mandatory(true)
                .expect("ZMQ_ROUTER_MANDATORY");
        }
    }
}

/// A libzmq socket as the tests use it: linger 0, send and receive timeouts of [`WAIT`] (only
/// a safety net: the tests themselves never block in libzmq), and `opts`.
pub(crate) fn zmq_socket(ctx: &zmq::Context, socket_type: SocketType, opts: Opts) -> zmq::Socket {
    let socket = libzmq_socket(ctx, socket_type)
        .unwrap_or_else(|error| panic!("libzmq {socket_type} socket: {error}"));
    opts.apply_to(&socket);
    socket
}

/// Sends `message` to a libzmq socket without blocking (`EAGAIN` when it cannot take it now).
pub(crate) fn zmq_try_send(socket: &zmq::Socket, message: &Message) -> zmq::Result<()> {
    socket.send_multipart(message.iter().map(|frame| &frame[..]), zmq::DONTWAIT)
}

/// Receives a message from a libzmq socket without blocking (`EAGAIN` when none is ready).
pub(crate) fn zmq_try_recv(socket: &zmq::Socket) -> zmq::Result<Message> {
    socket.recv_multipart(zmq::DONTWAIT).map(Message::from_iter)
}

/// Which library implements a [`Peer`].
pub(crate) enum Side {
    Mono(Mono),
    Zmq(Rc<zmq::Socket>),
}

/// One socket of a pairing, monocoque's or libzmq's, with the same async interface for both.
/// Every operation is bounded by [`WAIT`] and panics (naming the combination and the socket)
/// when it fails.
pub(crate) struct Peer {
    /// `monocoque REQ`, `libzmq REP`.
    pub(crate) name: String,
    /// The combination, for failure messages.
    pub(crate) case: String,
    pub(crate) side: Side,
    pub(crate) socket_type: SocketType,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Peer {
    pub(crate) fn mono(socket_type: SocketType, opts: Opts, case: impl Into<String>) -> Self {
        Self {
            name: format!("monocoque {socket_type}"),
            case: case.into(),
            side: Side::Mono(Mono::new(socket_type, opts.monocoque())),
            socket_type,
        }
    }

    pub(crate) fn zmq(
        ctx: &zmq::Context,
        socket_type: SocketType,
        opts: Opts,
        case: impl Into<String>,
    ) -> Self {
        Self {
            name: format!("libzmq {socket_type}"),
            case: case.into(),
            side: Side::Zmq(Rc::new(zmq_socket(ctx, socket_type, opts))),
            socket_type,
        }
    }

    /// Whether monocoque plays this socket.
    pub(crate) fn is_mono(&self) -> bool {
        matches!(self.side, Side::Mono(_))
    }

    /// The monocoque socket (panics for a libzmq peer).
    pub(crate) fn as_mono(&self) -> &Mono {
        match &self.side {
            Side::Mono(mono) => mono,
            Side::Zmq(_) => panic!("{} is not monocoque's", self.name),
        }
    }

    /// The libzmq socket, if libzmq plays this socket.
    pub(crate) fn as_zmq(&self) -> Option<&Rc<zmq::Socket>> {
        match &self.side {
            Side::Mono(_) => None,
            Side::Zmq(socket) => Some(socket),
        }
    }

    fn fail(&self, what: impl fmt::Display) -> ! {
        panic!("{}: {}: {what}", self.case, self.name)
    }

    /// Binds to a fresh endpoint of `transport` (`ipc` at `path`) and returns it.
    pub(crate) async fn bind(&self, transport: Transport, path: Option<&IpcPath>) -> String {
        let requested = match (transport, path) {
            (Transport::Tcp, _) => None,
            (Transport::Ipc, Some(path)) => Some(path.endpoint()),
            (Transport::Ipc, None) => self.fail("an ipc bind needs a path"),
        };
        match &self.side {
            Side::Mono(mono) => {
                mono.bind(requested.as_deref().unwrap_or("tcp://127.0.0.1:0"))
                    .await
            }
            Side::Zmq(socket) => match requested {
                None => bind_tcp(socket).unwrap_or_else(|error| self.fail(error)),
                Some(endpoint) => {
                    socket
                        .bind(&endpoint)
                        .unwrap_or_else(|error| self.fail(format!("bind {endpoint}: {error}")));
                    endpoint
                }
            },
        }
    }

    /// Connects to `endpoint`.
    pub(crate) fn connect(&self, endpoint: &str) {
        match &self.side {
            Side::Mono(mono) => mono.connect(endpoint),
            Side::Zmq(socket) => socket
                .connect(endpoint)
                .unwrap_or_else(|error| self.fail(format!("connect {endpoint}: {error}"))),
        }
    }

    /// Sends `message`, waiting (at most [`WAIT`]) while the socket cannot take it.
    pub(crate) async fn send(&self, message: impl Into<Message>) {
        self.send_retrying(message.into(), false).await;
    }

    /// Like [`send`](Self::send), also waiting while a mandatory ROUTER does not know the peer
    /// yet (`HostUnreachable`, `EHOSTUNREACH`): the connection may still be on its way.
    pub(crate) async fn send_when_routable(&self, message: impl Into<Message>) {
        self.send_retrying(message.into(), true).await;
    }

    async fn send_retrying(&self, mut message: Message, unreachable_is_transient: bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let retry = match &self.side {
                Side::Mono(mono) => match mono.try_send(message) {
                    None => self.fail("cannot send"),
                    Some(Ok(())) => return,
                    Some(Err(error))
                        if error.kind == SendErrorKind::WouldBlock
                            || (unreachable_is_transient
                                && error.kind == SendErrorKind::HostUnreachable) =>
                    {
                        message = error.message;
                        error.kind
                    }
                    Some(Err(error)) => self.fail(format!(
                        "send of {:?} failed: {}",
                        error.message, error.kind
                    )),
                },
                Side::Zmq(socket) => match zmq_try_send(socket, &message) {
                    Ok(()) => return,
                    Err(zmq::Error::EAGAIN) => SendErrorKind::WouldBlock,
                    Err(zmq::Error::EHOSTUNREACH) if unreachable_is_transient => {
                        SendErrorKind::HostUnreachable
                    }
                    Err(error) => self.fail(format!("send of {message:?} failed: {error}")),
                },
            };
            if Instant::now() >= deadline {
                self.fail(format!(
                    "could not send {message:?} within {WAIT:?} (last: {retry})"
                ));
            }
            pause(POLL).await;
        }
    }

    /// The next message, waiting at most `limit`; `None` if none came.
    pub(crate) async fn recv_within(&self, limit: Duration) -> Option<Message> {
        match &self.side {
            Side::Mono(mono) => {
                let recv = async {
                    receiving_socket!(mono, s => s.recv().await)
                        .unwrap_or_else(|| self.fail("cannot receive"))
                };
                match compio::time::timeout(limit, recv).await {
                    Ok(Ok(message)) => Some(message),
                    Ok(Err(error)) => self.fail(format!("receive failed: {error}")),
                    Err(_) => None,
                }
            }
            Side::Zmq(socket) => {
                let deadline = Instant::now() + limit;
                loop {
                    match zmq_try_recv(socket) {
                        Ok(message) => return Some(message),
                        Err(zmq::Error::EAGAIN) => {}
                        Err(error) => self.fail(format!("receive failed: {error}")),
                    }
                    if Instant::now() >= deadline {
                        return None;
                    }
                    pause(POLL).await;
                }
            }
        }
    }

    /// The next message, waiting at most [`WAIT`].
    pub(crate) async fn recv(&self) -> Message {
        match self.recv_within(WAIT).await {
            Some(message) => message,
            None => self.fail(format!("nothing received within {WAIT:?}")),
        }
    }

    /// The next message whose first frame does not start with `skip`.
    pub(crate) async fn recv_skipping(&self, skip: &str) -> Message {
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self.recv().await;
            if !starts_with(&message, skip) {
                return message;
            }
            if Instant::now() >= deadline {
                self.fail(format!("only {skip:?} messages for {WAIT:?}"));
            }
        }
    }

    /// Receives and checks the next message.
    pub(crate) async fn expect(&self, want: impl Into<Message>) {
        let want = want.into();
        let got = self.recv().await;
        assert!(
            got == want,
            "{}: {} received {got:?}, expected {want:?}",
            self.case,
            self.name
        );
    }

    /// Checks that nothing arrives within `limit`.
    pub(crate) async fn expect_nothing_within(&self, limit: Duration) {
        if let Some(message) = self.recv_within(limit).await {
            self.fail(format!("unexpected message {message:?}"));
        }
    }

    /// Subscribes to `topic`: SUB with the socket option, XSUB by sending `\x01topic`.
    pub(crate) async fn subscribe(&self, topic: &str) {
        self.change_subscription(true, topic).await;
    }

    /// Cancels the subscription to `topic`: SUB with the socket option, XSUB by sending
    /// `\x00topic`.
    pub(crate) async fn unsubscribe(&self, topic: &str) {
        self.change_subscription(false, topic).await;
    }

    async fn change_subscription(&self, subscribe: bool, topic: &str) {
        match (self.socket_type, &self.side) {
            (SocketType::Xsub, _) => self.send(prefixed(u8::from(subscribe), topic)).await,
            (SocketType::Sub, Side::Mono(Mono::Sub(sub))) => {
                if subscribe {
                    sub.subscribe(Bytes::copy_from_slice(topic.as_bytes()));
                } else {
                    sub.unsubscribe(Bytes::copy_from_slice(topic.as_bytes()));
                }
            }
            (SocketType::Sub, Side::Zmq(socket)) => {
                let result = if subscribe {
                    socket.set_subscribe(topic.as_bytes())
                } else {
                    socket.set_unsubscribe(topic.as_bytes())
                };
                result.unwrap_or_else(|error| self.fail(format!("(un)subscribe: {error}")));
            }
            _ => self.fail("cannot subscribe"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting the two sides.

/// Touches each libzmq socket every [`POLL`] (`ZMQ_EVENTS` makes libzmq process the commands
/// its I/O thread queued for the socket: attaching a new connection, replaying subscriptions,
/// reporting a peer gone), as an application waiting in `zmq_poll` would. Stops when dropped.
pub(crate) struct Pump {
    _task: JoinHandle<()>,
}

impl Pump {
    pub(crate) fn start(sockets: Vec<Rc<zmq::Socket>>) -> Self {
        let task = compio::runtime::spawn(async move {
            loop {
                for socket in &sockets {
                    let _ = socket.get_events();
                }
                pause(POLL).await;
            }
        });
        Self { _task: task }
    }
}

/// Two sockets of a pairing, connected (or connecting), one monocoque's and one libzmq's.
pub(crate) struct Pairing {
    /// Declared first so that it stops before the sockets go.
    _pump: Pump,
    pub(crate) case: Case,
    /// The socket of type `case.a`.
    pub(crate) a: Peer,
    /// The socket of type `case.b`.
    pub(crate) b: Peer,
    _ctx: zmq::Context,
    /// Declared last: the socket file is removed once both sides have let go of it.
    _path: Option<IpcPath>,
}

impl Pairing {
    /// Creates both sockets with their options, binds one and connects the other to it, as
    /// `case` says. The connection may still be on its way when this returns.
    pub(crate) async fn establish(case: Case, opts: [Opts; 2]) -> Self {
        let label = case.to_string();
        let ctx = zmq::Context::new();
        let make = |role: Role, opts: Opts| match case.library(role) {
            Library::Monocoque => Peer::mono(case.socket_type(role), opts, label.clone()),
            Library::Libzmq => Peer::zmq(&ctx, case.socket_type(role), opts, label.clone()),
        };
        let [a_opts, b_opts] = opts;
        let a = make(Role::A, a_opts);
        let b = make(Role::B, b_opts);
        let path = (case.transport == Transport::Ipc).then(IpcPath::new);
        let (binder, connector) = match case.binder {
            Role::A => (&a, &b),
            Role::B => (&b, &a),
        };
        let endpoint = binder.bind(case.transport, path.as_ref()).await;
        connector.connect(&endpoint);
        let pump = Pump::start(
            [&a, &b]
                .into_iter()
                .filter_map(|peer| peer.as_zmq().cloned())
                .collect(),
        );
        Self {
            _pump: pump,
            case,
            a,
            b,
            _ctx: ctx,
            _path: path,
        }
    }

    /// The peer monocoque plays.
    pub(crate) fn mono(&self) -> &Peer {
        match self.case.mono {
            Role::A => &self.a,
            Role::B => &self.b,
        }
    }

    /// The peer that binds.
    pub(crate) fn binder(&self) -> &Peer {
        match self.case.binder {
            Role::A => &self.a,
            Role::B => &self.b,
        }
    }

    /// The peer that connects.
    pub(crate) fn connector(&self) -> &Peer {
        match self.case.binder {
            Role::A => &self.b,
            Role::B => &self.a,
        }
    }
}

/// Runs `script` over every combination of the pairing `a`-`b` ([`Case::all`]), with
/// `opts[0]` for the `a` socket and `opts[1]` for the `b` socket. After the script, monocoque's
/// socket must count exactly one connected peer.
pub(crate) async fn matrix<F, Fut>(a: SocketType, b: SocketType, opts: [Opts; 2], script: F)
where
    F: Fn(Rc<Pairing>) -> Fut + Copy + 'static,
    Fut: Future<Output = ()> + 'static,
{
    run_cases(&format!("{a}-{b}"), Case::all(a, b), move |case| {
        let opts = opts.clone();
        async move {
            let pairing = Rc::new(Pairing::establish(case, opts).await);
            script(pairing.clone()).await;
            let mono = pairing.mono();
            let peers = mono.as_mono().connected_peers();
            assert_eq!(
                peers, 1,
                "{case}: after the traffic, {} counts {peers} connected peers",
                mono.name
            );
        }
    })
    .await;
}

/// One monocoque socket with several libzmq peers: either monocoque binds one endpoint and each
/// peer connects to it, or each peer binds an endpoint of its own and monocoque connects to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FanCase {
    pub(crate) mono: SocketType,
    pub(crate) zmq: SocketType,
    pub(crate) count: usize,
    pub(crate) mono_binds: bool,
    pub(crate) transport: Transport,
}

impl FanCase {
    /// The four combinations: monocoque binding or connecting, over TCP and IPC.
    pub(crate) fn all(mono: SocketType, zmq: SocketType, count: usize) -> Vec<Self> {
        let mut cases = Vec::new();
        for transport in Transport::BOTH {
            for mono_binds in [true, false] {
                cases.push(Self {
                    mono,
                    zmq,
                    count,
                    mono_binds,
                    transport,
                });
            }
        }
        cases
    }
}

impl fmt::Display for FanCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mono_binds {
            write!(
                f,
                "monocoque {} binds, {} libzmq {}s connect, over {}",
                self.mono, self.count, self.zmq, self.transport
            )
        } else {
            write!(
                f,
                "monocoque {} connects to {} libzmq {}s that bind, over {}",
                self.mono, self.count, self.zmq, self.transport
            )
        }
    }
}

/// One monocoque socket and its libzmq peers, connected (or connecting) as a [`FanCase`] says.
pub(crate) struct Fan {
    /// Declared first so that it stops before the sockets go.
    _pump: Pump,
    pub(crate) case: FanCase,
    pub(crate) mono: Peer,
    /// The libzmq peers, in the order their options were made.
    pub(crate) peers: Vec<Peer>,
    _ctx: zmq::Context,
    /// Declared last: the socket files are removed once both sides have let go of them.
    _paths: Vec<IpcPath>,
}

impl Fan {
    /// Creates the sockets (`mono_opts` for monocoque's, `zmq_opts(i)` for the `i`-th peer),
    /// binds and connects.
    pub(crate) async fn establish(
        case: FanCase,
        mono_opts: Opts,
        zmq_opts: impl Fn(usize) -> Opts,
    ) -> Self {
        let label = case.to_string();
        let ctx = zmq::Context::new();
        let mono = Peer::mono(case.mono, mono_opts, label.clone());
        let peers: Vec<Peer> = (0..case.count)
            .map(|i| {
                let mut peer = Peer::zmq(&ctx, case.zmq, zmq_opts(i), label.clone());
                peer.name = format!("libzmq {} #{i}", case.zmq);
                peer
            })
            .collect();
        let endpoints = if case.mono_binds { 1 } else { case.count };
        let paths: Vec<IpcPath> = match case.transport {
            Transport::Tcp => Vec::new(),
            Transport::Ipc => (0..endpoints).map(|_| IpcPath::new()).collect(),
        };
        if case.mono_binds {
            let endpoint = mono.bind(case.transport, paths.first()).await;
            for peer in &peers {
                peer.connect(&endpoint);
            }
        } else {
            for (i, peer) in peers.iter().enumerate() {
                let endpoint = peer.bind(case.transport, paths.get(i)).await;
                mono.connect(&endpoint);
            }
        }
        let pump = Pump::start(
            peers
                .iter()
                .filter_map(|peer| peer.as_zmq().cloned())
                .collect(),
        );
        Self {
            _pump: pump,
            case,
            mono,
            peers,
            _ctx: ctx,
            _paths: paths,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// libzmq socket monitors, read without blocking.

/// The events an [`AsyncMonitor`] asks libzmq for: every one the `zmq` crate names (libzmq's
/// `ZMQ_EVENT_ALL` also covers draft events the crate cannot name).
const MONITORED: [zmq::SocketEvent; 15] = [
    zmq::SocketEvent::CONNECTED,
    zmq::SocketEvent::CONNECT_DELAYED,
    zmq::SocketEvent::CONNECT_RETRIED,
    zmq::SocketEvent::LISTENING,
    zmq::SocketEvent::BIND_FAILED,
    zmq::SocketEvent::ACCEPTED,
    zmq::SocketEvent::ACCEPT_FAILED,
    zmq::SocketEvent::CLOSED,
    zmq::SocketEvent::CLOSE_FAILED,
    zmq::SocketEvent::DISCONNECTED,
    zmq::SocketEvent::MONITOR_STOPPED,
    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
    zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
];

/// One libzmq monitor event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZmqEvent {
    /// `ZMQ_EVENT_*`.
    pub(crate) raw: u16,
    /// The event's value (a file descriptor, an errno or a protocol error code).
    pub(crate) value: u32,
}

impl ZmqEvent {
    /// Whether this is `event`.
    pub(crate) fn is(&self, event: zmq::SocketEvent) -> bool {
        self.raw == event.to_raw()
    }

    /// The event's name.
    pub(crate) fn name(&self) -> String {
        MONITORED.iter().find(|event| self.is(**event)).map_or_else(
            || format!("event {:#x}", self.raw),
            |event| format!("{event:?}"),
        )
    }
}

impl fmt::Display for ZmqEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.value)
    }
}

/// Watches a libzmq socket's connection events (`zmq_socket_monitor`) without blocking the
/// runtime: [`next_within`](Self::next_within) polls the monitor socket.
pub(crate) struct AsyncMonitor {
    socket: zmq::Socket,
}

impl AsyncMonitor {
    /// Starts monitoring `watched`; create it before `watched` binds or connects so that
    /// nothing is missed.
    pub(crate) fn new(ctx: &zmq::Context, watched: &zmq::Socket) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://sockets-monitor-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mask = MONITORED
            .iter()
            .fold(0i32, |mask, event| mask | i32::from(event.to_raw()));
        watched
            .monitor(&endpoint, mask)
            .expect("zmq_socket_monitor");
        let socket = ctx.socket(zmq::PAIR).expect("monitor socket");
        socket.set_linger(0).expect("linger");
        // Only read with ZMQ_DONTWAIT; the timeout is a safety net.
        socket
            .set_rcvtimeo(i32::try_from(WAIT.as_millis()).unwrap_or(i32::MAX))
            .expect("receive timeout");
        socket.connect(&endpoint).expect("monitor connect");
        Self { socket }
    }

    /// The next event, waiting at most `limit`.
    pub(crate) async fn next_within(&self, limit: Duration) -> Option<ZmqEvent> {
        let deadline = Instant::now() + limit;
        loop {
            match self.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    let head = frames.first().map(Vec::as_slice).unwrap_or_default();
                    let (Some(raw), Some(value)) = (head.get(0..2), head.get(2..6)) else {
                        panic!("malformed monitor event {frames:?}");
                    };
                    return Some(ZmqEvent {
                        raw: u16::from_ne_bytes([raw[0], raw[1]]),
                        value: u32::from_ne_bytes([value[0], value[1], value[2], value[3]]),
                    });
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(error) => panic!("monitor receive: {error}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            pause(POLL).await;
        }
    }
}
