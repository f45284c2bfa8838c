//! Helpers for the ports of libzmq's own tests (`zmq_*.rs`): bounded waits, bind addresses for
//! each transport, frames, monitor events, probes for subscriptions still in flight, and a
//! hand-made ZMTP peer on a plain std socket.
//!
//! libzmq's tests mostly run over `inproc://` and wait with fixed sleeps (`msleep (SETTLE_TIME)`).
//! monocoque has TCP and IPC only, so the ports bind `tcp://127.0.0.1:0` (reading the port back
//! from `bind`) or a unique ipc path, and wait on messages, monitor events or
//! `connected_peers()`. Every wait is bounded, so that a bug fails a test instead of hanging it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use monocoque::proto::{
    Command, Handshake, HandshakeConfig, Inbound, MessageDecoder, Null, WriteBuffer,
};
use monocoque::{
    DealerSocket, Message, Monitor, MonitorEvent, MonitorEventKind, PairSocket, PubSocket,
    PullSocket, PushSocket, RecvError, RepSocket, ReqSocket, RouterSocket, SendError,
    SendErrorKind, SocketType, SubSocket, XPubSocket, XSubSocket,
};

/// The longest any single wait of a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// The window in which a test proves that something does *not* happen. The only sleeps in
/// these tests are such windows.
pub(crate) const QUIET: Duration = Duration::from_millis(150);

/// A TCP endpoint on an ephemeral port of the loopback interface.
pub(crate) const TCP_ANY: &str = "tcp://127.0.0.1:0";

/// How often [`wait_until`] and the probes look again.
const POLL: Duration = Duration::from_millis(1);

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match compio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Yields to the runtime until `condition` holds, failing the test after [`WAIT`].
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        compio::time::sleep(POLL).await;
    }
}

/// Proves that `future` does not complete within [`QUIET`]: fails the test if it does.
pub(crate) async fn never<F>(what: &str, future: F)
where
    F: Future,
    F::Output: Debug,
{
    never_within(what, QUIET, future).await;
}

/// Proves that `future` does not complete within `window`: fails the test if it does.
pub(crate) async fn never_within<F>(what: &str, window: Duration, future: F)
where
    F: Future,
    F::Output: Debug,
{
    // A bounded wait whose only purpose is to show that nothing happens in the window.
    if let Ok(output) = compio::time::timeout(window, future).await {
        panic!("{what} happened within {window:?}: {output:?}");
    }
}

/// The transports a libzmq test's `inproc://` cases are ported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Ipc,
}

/// Where to bind: `tcp://127.0.0.1:0`, or a fresh ipc path that is removed when this is dropped.
#[derive(Debug)]
pub(crate) struct BindAddr {
    endpoint: String,
    path: Option<PathBuf>,
}

impl BindAddr {
    /// A bind address on `transport`; `tag` goes into ipc file names.
    pub(crate) fn new(transport: Transport, tag: &str) -> Self {
        match transport {
            Transport::Tcp => Self {
                endpoint: TCP_ANY.to_owned(),
                path: None,
            },
            Transport::Ipc => {
                let path = ipc_path(tag);
                Self {
                    endpoint: format!("ipc://{}", path.display()),
                    path: Some(path),
                }
            }
        }
    }

    /// The endpoint to give to `bind`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for BindAddr {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A unique Unix socket path under the temporary directory (not created).
pub(crate) fn ipc_path(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "monocoque-zmq-port-{}-{n}-{tag}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// A `tcp://` endpoint on a loopback port that was free a moment ago (bound on port 0 and
/// released): something to connect to before anything listens there.
pub(crate) fn unused_tcp_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().expect("local address").port();
    format!("tcp://127.0.0.1:{port}")
}

/// Whether this machine can use the IPv6 loopback address.
pub(crate) fn ipv6_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A message of text frames.
pub(crate) fn msg(frames: &[&str]) -> Message {
    frames
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

/// A message of binary frames.
pub(crate) fn raw(frames: &[&[u8]]) -> Message {
    frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
}

/// A frame carrying `n`, four bytes big-endian.
pub(crate) fn num(n: u32) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

/// The number carried by a frame made by [`num`].
pub(crate) fn read_num(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame.try_into().expect("a four-byte number frame"))
}

/// The next event of `monitor`, failing the test if none comes within [`WAIT`] or the stream
/// has ended.
pub(crate) async fn next_event(monitor: &Monitor) -> MonitorEvent {
    within("a monitor event", monitor.recv())
        .await
        .expect("the monitor stream ended")
}

/// Skips events until one whose kind satisfies `wanted`, and returns it.
pub(crate) async fn wait_event(
    monitor: &Monitor,
    what: &str,
    wanted: impl Fn(&MonitorEventKind) -> bool,
) -> MonitorEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match compio::time::timeout(left, monitor.recv()).await {
            Ok(Some(event)) if wanted(&event.kind) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the monitor stream ended before {what}"),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
        }
    }
}

/// A socket that can send, for the generic probes.
pub(crate) trait Tx {
    fn send_now(&self, message: Message) -> Result<(), SendError>;
}

/// A socket that can receive, for the generic probes.
pub(crate) trait Rx {
    fn recv_now(&self) -> Result<Message, RecvError>;
}

macro_rules! tx {
    ($($socket:ty),*) => {$(
        impl Tx for $socket {
            fn send_now(&self, message: Message) -> Result<(), SendError> {
                self.try_send(message)
            }
        }
    )*};
}

macro_rules! rx {
    ($($socket:ty),*) => {$(
        impl Rx for $socket {
            fn recv_now(&self) -> Result<Message, RecvError> {
                self.try_recv()
            }
        }
    )*};
}

tx!(
    PairSocket,
    PubSocket,
    XPubSocket,
    XSubSocket,
    PushSocket,
    DealerSocket,
    RouterSocket,
    ReqSocket,
    RepSocket
);
rx!(
    PairSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PullSocket,
    DealerSocket,
    RouterSocket,
    ReqSocket,
    RepSocket
);

/// Sends `probe` from `tx` every few milliseconds until `rx` receives a message for which
/// `arrived` holds, and returns that message. Other messages received meanwhile are skipped.
///
/// This is how a test learns that a subscription has reached a publisher (the "slow joiner"):
/// libzmq's tests sleep instead.
pub(crate) async fn probe_until(
    what: &str,
    tx: &impl Tx,
    rx: &impl Rx,
    probe: &Message,
    arrived: impl Fn(&Message) -> bool,
) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        match tx.send_now(probe.clone()) {
            Ok(()) => {}
            Err(error) if error.kind == SendErrorKind::WouldBlock => {}
            Err(error) => panic!("probe for {what} not sent: {error}"),
        }
        for _ in 0..10 {
            match rx.recv_now() {
                Ok(message) if arrived(&message) => return message,
                Ok(_) | Err(RecvError::WouldBlock) => {}
                Err(error) => panic!("probe for {what} not received: {error}"),
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} probing until {what}"
            );
            compio::time::sleep(POLL).await;
        }
    }
}

/// Receives from `rx` until a message for which `last` holds, returning every message before it
/// (bounded by [`WAIT`]).
pub(crate) async fn recv_until(
    what: &str,
    rx: &impl Rx,
    last: impl Fn(&Message) -> bool,
) -> Vec<Message> {
    let deadline = Instant::now() + WAIT;
    let mut before = Vec::new();
    loop {
        match rx.recv_now() {
            Ok(message) if last(&message) => return before,
            Ok(message) => before.push(message),
            Err(RecvError::WouldBlock) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {WAIT:?} receiving until {what}; got {before:?}"
                );
                compio::time::sleep(POLL).await;
            }
            Err(error) => panic!("receiving until {what}: {error}"),
        }
    }
}

/// A hand-made ZMTP 3.1 peer on a blocking std TCP socket, for what a monocoque socket cannot be
/// made to do (stay silent, send raw commands). Use it from `compio::runtime::spawn_blocking`.
pub(crate) struct RawPeer {
    stream: TcpStream,
    input: BytesMut,
    decoder: MessageDecoder,
}

impl RawPeer {
    /// Connects to a `tcp://ip:port` endpoint and completes a NULL handshake as `socket_type`.
    pub(crate) fn connect(endpoint: &str, socket_type: SocketType) -> Self {
        let addr: SocketAddr = endpoint
            .strip_prefix("tcp://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("not a tcp://ip:port endpoint: {endpoint}"));
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("raw connect");
        Self::over(stream, socket_type)
    }

    /// Accepts one connection on `listener` and completes a NULL handshake as `socket_type`.
    pub(crate) fn accept(listener: &TcpListener, socket_type: SocketType) -> Self {
        let (stream, _) = listener.accept().expect("raw accept");
        Self::over(stream, socket_type)
    }

    fn over(stream: TcpStream, socket_type: SocketType) -> Self {
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        let mut peer = Self {
            stream,
            input: BytesMut::new(),
            decoder: MessageDecoder::new(None),
        };
        peer.handshake(socket_type);
        peer
    }

    fn handshake(&mut self, socket_type: SocketType) {
        let mut out = WriteBuffer::new();
        let mut handshake = Handshake::new(
            HandshakeConfig::new(socket_type),
            Box::new(Null::new()),
            Instant::now(),
            &mut out,
        );
        let mut chunk = [0u8; 4096];
        loop {
            let bytes = out.take_contiguous();
            self.write(&bytes);
            if handshake.is_done() {
                return;
            }
            let n = self
                .stream
                .read(&mut chunk)
                .expect("read during the handshake");
            assert_ne!(n, 0, "closed during the handshake");
            self.input.extend_from_slice(&chunk[..n]);
            handshake
                .receive(&mut self.input, &mut out)
                .expect("a valid handshake");
        }
    }

    /// Writes raw bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("raw read: {e}"),
        }
    }

    /// Reads up to `n` raw bytes, returning early with what has arrived when nothing more comes
    /// within `quiet` or the other side closes.
    pub(crate) fn read_up_to(&mut self, n: usize, quiet: Duration) -> Vec<u8> {
        self.stream
            .set_read_timeout(Some(quiet))
            .expect("read timeout");
        let mut chunk = [0u8; 4096];
        while self.input.len() < n {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => self.input.extend_from_slice(&chunk[..k]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("raw read: {e}"),
            }
        }
        self.stream
            .set_read_timeout(Some(WAIT))
            .expect("read timeout");
        let take = n.min(self.input.len());
        self.input.split_to(take).to_vec()
    }

    /// Reads exactly `n` raw bytes.
    pub(crate) fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.input.len() < n {
            assert!(self.fill(), "closed while {n} bytes were expected");
        }
        self.input.split_to(n).to_vec()
    }

    /// The TTL (in deciseconds) of the next PING, skipping anything else.
    pub(crate) fn next_ping_ttl(&mut self) -> u16 {
        loop {
            match self.next_inbound().expect("closed before a PING") {
                Inbound::Command(body) => {
                    if let Ok(Command::Ping {
                        ttl_deciseconds, ..
                    }) = Command::parse(body)
                    {
                        return ttl_deciseconds;
                    }
                }
                Inbound::Message(_) => {}
            }
        }
    }

    /// The next message or command, `None` once the other side has closed.
    pub(crate) fn next_inbound(&mut self) -> Option<Inbound> {
        loop {
            if let Some(inbound) = self.decoder.decode(&mut self.input).expect("valid frames") {
                return Some(inbound);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}
