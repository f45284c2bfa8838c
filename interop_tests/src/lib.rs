//! Interoperability tests of monocoque against a real libzmq peer.
//!
//! This crate is not published. It links libzmq through the `zmq` crate, which builds libzmq from
//! the sources it bundles, so no system package is needed (the first build takes a few minutes).
//!
//! It holds two things:
//!
//! - the `record-testdata` binary (`src/bin/record_testdata.rs`), a raw ZMTP 3.1 peer written by
//!   hand from RFC 37 that records the exact bytes libzmq puts on the wire and saves them under
//!   `monocoque-zmtp/testdata/` (re-record with `scripts/record_testdata.sh`);
//! - this library: a small blocking driver, [`ProtoPeer`], that runs monocoque's sans-IO protocol
//!   core (`monocoque_zmtp::proto`) over a real `std` TCP or Unix socket, plus helpers to set up
//!   libzmq sockets, endpoints and monitors. The tests in `tests/` use it to run monocoque's
//!   handshake and codec against libzmq 4.3.
//!
//! Everything that waits has a deadline (by default [`IO_TIMEOUT`]), so a test that goes wrong
//! fails with an error instead of hanging. Nothing here sleeps: waiting is always a blocking read,
//! accept or receive with a timeout.
//!
//! ```no_run
//! use monocoque_interop_tests::{ProtoPeer, accept_tcp, libzmq_socket, listen_tcp};
//! use monocoque_zmtp::proto::{HandshakeConfig, SocketType};
//!
//! let ctx = zmq::Context::new();
//! let (listener, endpoint) = listen_tcp().expect("listen");
//! let push = libzmq_socket(&ctx, SocketType::Push).expect("socket");
//! push.connect(&endpoint).expect("connect");
//! let stream = accept_tcp(&listener).expect("accept");
//! let (mut pull, peer) = ProtoPeer::establish(stream, HandshakeConfig::new(SocketType::Pull)).expect("handshake");
//! assert_eq!(peer.socket_type, SocketType::Push);
//! push.send("hello", 0).expect("send");
//! assert_eq!(pull.recv_message().expect("recv").frames(), &["hello"]);
//! ```

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monocoque_core::Message;
use monocoque_zmtp::proto::{
    Command, Handshake, HandshakeConfig, Inbound, MessageDecoder, Null, PeerInfo, ProtocolError,
    SocketType, WriteBuffer,
};

/// How long any single wait (handshake, receive, accept, libzmq send or receive) may take before
/// it fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 64 * 1024;

/// Everything that can go wrong while driving a connection or setting up libzmq.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed (other than a timeout or an orderly close).
    Io(io::Error),
    /// monocoque's protocol core rejected what the peer sent.
    Protocol(ProtocolError),
    /// A libzmq call failed.
    Zmq(zmq::Error),
    /// The peer closed the connection (end of stream).
    Closed,
    /// Nothing arrived in time; says what was awaited.
    Timeout(&'static str),
    /// Something arrived, but not what the caller asked for.
    Unexpected(String),
}

impl Error {
    /// Whether the peer is gone: an orderly close, or a reset (libzmq closing a socket with
    /// unread input makes the kernel send RST instead of FIN).
    pub fn is_disconnect(&self) -> bool {
        match self {
            Self::Closed => true,
            Self::Io(error) => matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "i/o error: {error}"),
            Self::Protocol(error) => write!(f, "protocol error: {error}"),
            Self::Zmq(error) => write!(f, "libzmq error: {error}"),
            Self::Closed => f.write_str("the peer closed the connection"),
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Self::Unexpected(what) => write!(f, "unexpected: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            Self::Protocol(error) => Some(error),
            Self::Zmq(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<ProtocolError> for Error {
    fn from(error: ProtocolError) -> Self {
        Self::Protocol(error)
    }
}

impl From<zmq::Error> for Error {
    fn from(error: zmq::Error) -> Self {
        Self::Zmq(error)
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A blocking byte stream whose reads and writes can time out: the transports [`ProtoPeer`] runs
/// over.
pub trait Transport: Read + Write {
    /// Sets how long a read may block (`None`: forever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Sets how long a write may block (`None`: forever).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_write_timeout(self, timeout)
    }
}

impl Transport for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_write_timeout(self, timeout)
    }
}

/// One ZMTP connection driven by monocoque's sans-IO protocol core over a blocking stream.
///
/// [`start`](Self::start) writes our greeting at once; [`handshake`](Self::handshake) reads until
/// the handshake completes (however the peer's bytes are split across reads); then
/// [`send`](Self::send), [`send_command`](Self::send_command) and [`recv`](Self::recv) carry
/// traffic. This is the wire level only: no socket-type semantics are applied (a REQ peer must add
/// its own empty delimiter frame, a ROUTER peer sees no routing-id frame, PINGs are not answered
/// automatically but handed to the caller).
///
/// Every wait is bounded by the peer's timeout ([`IO_TIMEOUT`] unless
/// [`set_timeout`](Self::set_timeout) changed it).
#[derive(Debug)]
pub struct ProtoPeer<S> {
    stream: S,
    handshake: Handshake,
    out: WriteBuffer,
    input: BytesMut,
    decoder: MessageDecoder,
    timeout: Duration,
}

impl<S: Transport> ProtoPeer<S> {
    /// Starts a handshake on `stream` with the NULL mechanism and writes our greeting.
    pub fn start(stream: S, config: HandshakeConfig) -> Result<Self> {
        let mut out = WriteBuffer::new();
        let handshake = Handshake::new(config, Box::new(Null::new()), Instant::now(), &mut out);
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut peer = Self {
            stream,
            handshake,
            out,
            input: BytesMut::new(),
            decoder: MessageDecoder::new(None),
            timeout: IO_TIMEOUT,
        };
        peer.flush()?;
        Ok(peer)
    }

    /// [`start`](Self::start) followed by [`handshake`](Self::handshake).
    pub fn establish(stream: S, config: HandshakeConfig) -> Result<(Self, PeerInfo)> {
        let mut peer = Self::start(stream, config)?;
        let info = peer.handshake()?;
        Ok((peer, info))
    }

    /// Reads until the handshake completes and returns what it learned about the peer.
    ///
    /// Whatever the core queues is written out, including the ERROR command it queues when it
    /// refuses the peer; the refusal itself is returned as [`Error::Protocol`]. Calling this again
    /// after completion returns the same peer without reading.
    pub fn handshake(&mut self) -> Result<PeerInfo> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let outcome = self
                .handshake
                .receive(&mut self.input, &mut self.out)
                .map(|peer| peer.cloned());
            let flushed = self.flush();
            match outcome {
                Ok(Some(peer)) => {
                    flushed?;
                    return Ok(peer);
                }
                Ok(None) => flushed?,
                // The refusal matters more than whether the ERROR command could be written.
                Err(error) => return Err(error.into()),
            }
            self.handshake.handle_timeout(Instant::now())?;
            self.fill(deadline, "the peer's handshake")?;
        }
    }

    /// What the handshake learned about the peer, once it has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.handshake.peer()
    }

    /// Sets how long each later wait may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a multipart message (exactly these frames, no envelope added).
    pub fn send(&mut self, message: &Message) -> Result<()> {
        self.ensure_ready()?;
        self.out.push_message(message);
        self.flush()
    }

    /// Sends a command frame.
    pub fn send_command(&mut self, command: &Command) -> Result<()> {
        self.ensure_ready()?;
        self.out.push_command(command);
        self.flush()
    }

    /// Receives the next message or command, waiting at most the peer's timeout.
    pub fn recv(&mut self) -> Result<Inbound> {
        self.recv_within(self.timeout)
    }

    /// Receives the next message or command, waiting at most `timeout`. A timeout loses nothing:
    /// bytes already read stay buffered for the next call.
    pub fn recv_within(&mut self, timeout: Duration) -> Result<Inbound> {
        self.ensure_ready()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(inbound) = self.decoder.decode(&mut self.input)? {
                return Ok(inbound);
            }
            self.fill(deadline, "traffic from the peer")?;
        }
    }

    /// Receives the next message; a command arriving first is an [`Error::Unexpected`].
    pub fn recv_message(&mut self) -> Result<Message> {
        match self.recv()? {
            Inbound::Message(message) => Ok(message),
            Inbound::Command(body) => Err(Error::Unexpected(format!(
                "command {:?} where a message was expected",
                Command::parse(body.clone()).map_err(|_| body)
            ))),
        }
    }

    /// Receives and parses the next command; a message arriving first is an
    /// [`Error::Unexpected`].
    pub fn recv_command(&mut self) -> Result<Command> {
        match self.recv()? {
            Inbound::Command(body) => Ok(Command::parse(body)?),
            Inbound::Message(message) => Err(Error::Unexpected(format!(
                "message {message:?} where a command was expected"
            ))),
        }
    }

    /// Reads and discards until the peer closes the connection (end of stream or reset), and
    /// returns how many bytes were discarded. Fails with [`Error::Timeout`] if the connection is
    /// still open after the peer's timeout.
    pub fn expect_closed(&mut self) -> Result<usize> {
        let deadline = Instant::now() + self.timeout;
        let mut discarded = self.input.len();
        self.input.clear();
        loop {
            match self.fill(deadline, "the peer to close the connection") {
                Ok(()) => {
                    discarded += self.input.len();
                    self.input.clear();
                }
                Err(error) if error.is_disconnect() => return Ok(discarded),
                Err(error) => return Err(error),
            }
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Gives the stream back, dropping anything buffered.
    pub fn into_stream(self) -> S {
        self.stream
    }

    fn ensure_ready(&self) -> Result<()> {
        if self.handshake.is_done() {
            Ok(())
        } else {
            Err(Error::Unexpected(
                "traffic before the handshake completed".to_owned(),
            ))
        }
    }

    /// Writes everything queued in `out`, with one vectored write per kernel call.
    fn flush(&mut self) -> Result<()> {
        let chunks = self.out.take_chunks();
        let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|chunk| IoSlice::new(chunk)).collect();
        let mut remaining = &mut slices[..];
        while !remaining.is_empty() {
            match self.stream.write_vectored(remaining) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => IoSlice::advance_slices(&mut remaining, n),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if is_timeout(&error) => {
                    return Err(Error::Timeout("the peer to take our bytes"));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(self.stream.flush()?)
    }

    /// Appends at least one byte read from the stream to `input`, or fails at `deadline`.
    fn fill(&mut self, deadline: Instant, waiting_for: &'static str) -> Result<()> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout(waiting_for));
        }
        self.stream.set_read_timeout(Some(remaining))?;
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let read = loop {
            match self.stream.read(&mut self.input[start..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = *read.as_ref().unwrap_or(&0);
        self.input.truncate(start + n);
        match read {
            Ok(0) => Err(Error::Closed),
            Ok(_) => Ok(()),
            Err(error) if is_timeout(&error) => Err(Error::Timeout(waiting_for)),
            Err(error) => Err(error.into()),
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Listens on `127.0.0.1` on a port the kernel picks and returns the listener with the endpoint
/// libzmq connects to (`tcp://127.0.0.1:PORT`).
pub fn listen_tcp() -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("tcp://{}", listener.local_addr()?);
    Ok((listener, endpoint))
}

/// Accepts one connection within [`IO_TIMEOUT`] (with `TCP_NODELAY` set, as libzmq does).
pub fn accept_tcp(listener: &TcpListener) -> Result<TcpStream> {
    accept_tcp_within(listener, IO_TIMEOUT)
}

/// Accepts one connection within `timeout` (with `TCP_NODELAY` set), or fails with
/// [`Error::Timeout`].
pub fn accept_tcp_within(listener: &TcpListener, timeout: Duration) -> Result<TcpStream> {
    let addr = listener.local_addr()?;
    let stream = accept_within(
        timeout,
        || listener.accept().map(|(stream, _)| stream),
        move || {
            let _ = TcpStream::connect(addr);
        },
    )?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects to a `tcp://HOST:PORT` endpoint (as [`bind_tcp`] returns) within [`IO_TIMEOUT`].
pub fn connect_tcp(endpoint: &str) -> Result<TcpStream> {
    let addr: SocketAddr = endpoint
        .strip_prefix("tcp://")
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| Error::Unexpected(format!("not a tcp://IP:PORT endpoint: {endpoint}")))?;
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Blocks in `accept` for at most `timeout`.
///
/// `std` has no accept timeout, so a watchdog thread waits on a channel for that long and, if the
/// accept has not returned by then, calls `poke` (which connects to the listener itself) to wake
/// it up; the accept then reports a timeout. No polling, no sleeping.
fn accept_within<S>(
    timeout: Duration,
    accept: impl FnOnce() -> io::Result<S>,
    poke: impl FnOnce() + Send + 'static,
) -> Result<S> {
    let (done, wait) = mpsc::channel::<()>();
    let fired = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let fired = Arc::clone(&fired);
        thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                fired.store(true, Ordering::SeqCst);
                poke();
            }
        })
    };
    let accepted = accept();
    drop(done);
    let _ = watchdog.join();
    if fired.load(Ordering::SeqCst) {
        return Err(Error::Timeout("a connection to our listener"));
    }
    Ok(accepted?)
}

/// A unique Unix socket path under [`std::env::temp_dir`], removed when dropped.
///
/// The name holds the process id and a per-process counter, so tests running in parallel (and
/// several test binaries at once) never collide.
#[derive(Debug)]
pub struct IpcPath {
    path: PathBuf,
}

impl IpcPath {
    /// A fresh path; a stale file left there by an earlier crashed run is removed.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("monocoque-interop-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self { path }
    }

    /// The file system path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The libzmq endpoint, `ipc:///…`.
    pub fn endpoint(&self) -> String {
        format!("ipc://{}", self.path.display())
    }

    /// Listens on the path.
    pub fn listen(&self) -> Result<UnixListener> {
        Ok(UnixListener::bind(&self.path)?)
    }

    /// Accepts one connection on `listener` (which listens on this path) within [`IO_TIMEOUT`].
    pub fn accept(&self, listener: &UnixListener) -> Result<UnixStream> {
        let path = self.path.clone();
        accept_within(
            IO_TIMEOUT,
            || listener.accept().map(|(stream, _)| stream),
            move || {
                let _ = UnixStream::connect(path);
            },
        )
    }

    /// Connects to the path (libzmq must be bound to [`endpoint`](Self::endpoint)).
    pub fn connect(&self) -> Result<UnixStream> {
        Ok(UnixStream::connect(&self.path)?)
    }
}

impl Default for IpcPath {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IpcPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The `zmq` crate's name for a socket type (`None` for a type libzmq 4.3 does not have).
pub fn zmq_type(socket_type: SocketType) -> Option<zmq::SocketType> {
    Some(match socket_type {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Xpub => zmq::XPUB,
        SocketType::Xsub => zmq::XSUB,
        SocketType::Push => zmq::PUSH,
        SocketType::Pull => zmq::PULL,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        // `SocketType` is non-exhaustive; a type added later has no counterpart here yet.
        _ => return None,
    })
}

/// A libzmq socket for tests: linger 0, and sends and receives that give up after
/// [`IO_TIMEOUT`] (with `EAGAIN`).
pub fn libzmq_socket(ctx: &zmq::Context, socket_type: SocketType) -> Result<zmq::Socket> {
    let kind = zmq_type(socket_type)
        .ok_or_else(|| Error::Unexpected(format!("no libzmq socket type for {socket_type}")))?;
    let socket = ctx.socket(kind)?;
    let millis = i32::try_from(IO_TIMEOUT.as_millis()).unwrap_or(i32::MAX);
    socket.set_linger(0)?;
    socket.set_rcvtimeo(millis)?;
    socket.set_sndtimeo(millis)?;
    Ok(socket)
}

/// Binds a libzmq socket to `tcp://127.0.0.1:*` and returns the endpoint it got, read back with
/// `ZMQ_LAST_ENDPOINT`.
pub fn bind_tcp(socket: &zmq::Socket) -> Result<String> {
    socket.bind("tcp://127.0.0.1:*")?;
    socket
        .get_last_endpoint()?
        .map_err(|raw| Error::Unexpected(format!("non-UTF-8 last endpoint {raw:?}")))
}

/// The events a [`Monitor`] asks libzmq for: every one the `zmq` crate can name.
const MONITORED_EVENTS: [zmq::SocketEvent; 15] = [
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

/// One event from a libzmq socket monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event, when the `zmq` crate has a name for it.
    pub kind: Option<zmq::SocketEvent>,
    /// The raw event number (`ZMQ_EVENT_*`).
    pub raw: u16,
    /// The event's value (a file descriptor, an errno or a protocol error code, by event).
    pub value: u32,
    /// The endpoint the event is about.
    pub endpoint: String,
}

impl Event {
    /// Whether this is the given event.
    pub fn is(&self, kind: zmq::SocketEvent) -> bool {
        self.raw == kind.to_raw()
    }
}

/// Watches a libzmq socket's connection events (`zmq_socket_monitor`), to see what libzmq
/// thought of a handshake.
///
/// Create it before the watched socket binds or connects, so that no event is missed.
pub struct Monitor {
    socket: zmq::Socket,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Monitor {
    /// Starts monitoring `watched` (a socket of `ctx`).
    pub fn new(ctx: &zmq::Context, watched: &zmq::Socket) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://monitor-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mask = MONITORED_EVENTS
            .iter()
            .fold(0i32, |mask, event| mask | i32::from(event.to_raw()));
        watched.monitor(&endpoint, mask)?;
        let socket = ctx.socket(zmq::PAIR)?;
        socket.set_linger(0)?;
        socket.connect(&endpoint)?;
        Ok(Self { socket })
    }

    /// The next event, waiting at most `timeout`.
    pub fn next_within(&self, timeout: Duration) -> Result<Event> {
        let millis = i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        self.socket.set_rcvtimeo(millis)?;
        let frames = match self.socket.recv_multipart(0) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) => return Err(Error::Timeout("a libzmq monitor event")),
            Err(error) => return Err(error.into()),
        };
        let (Some(head), Some(endpoint)) = (frames.first(), frames.get(1)) else {
            return Err(Error::Unexpected(format!(
                "monitor event of {} frames",
                frames.len()
            )));
        };
        let (Some(raw), Some(value)) = (head.get(0..2), head.get(2..6)) else {
            return Err(Error::Unexpected(format!("monitor event header {head:?}")));
        };
        let raw = u16::from_ne_bytes([raw[0], raw[1]]);
        let value = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
        Ok(Event {
            kind: MONITORED_EVENTS
                .iter()
                .copied()
                .find(|event| event.to_raw() == raw),
            raw,
            value,
            endpoint: String::from_utf8_lossy(endpoint).into_owned(),
        })
    }

    /// Reads events until one of `wanted` arrives (within [`IO_TIMEOUT`] in all) and returns it
    /// with the events seen before it.
    pub fn wait_for(&self, wanted: &[zmq::SocketEvent]) -> Result<(Event, Vec<Event>)> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut before = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout("a libzmq monitor event"));
            }
            let event = self.next_within(remaining)?;
            if wanted.iter().any(|kind| event.is(*kind)) {
                return Ok((event, before));
            }
            before.push(event);
        }
    }
}

/// Which end of a connection listens (binds) and which connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binder {
    /// monocoque listens with a `std` listener; libzmq connects.
    Monocoque,
    /// libzmq binds; monocoque connects with a `std` stream.
    Libzmq,
}

impl Binder {
    /// Both arrangements, for tests that try each.
    pub const BOTH: [Self; 2] = [Self::Monocoque, Self::Libzmq];
}

/// Connects `libzmq` (configured, not yet bound or connected) to a monocoque peer over loopback
/// TCP and writes our greeting; the handshake is left to [`ProtoPeer::handshake`].
pub fn start_tcp(
    libzmq: &zmq::Socket,
    config: HandshakeConfig,
    binder: Binder,
) -> Result<ProtoPeer<TcpStream>> {
    let stream = match binder {
        Binder::Monocoque => {
            let (listener, endpoint) = listen_tcp()?;
            libzmq.connect(&endpoint)?;
            accept_tcp(&listener)?
        }
        Binder::Libzmq => connect_tcp(&bind_tcp(libzmq)?)?,
    };
    ProtoPeer::start(stream, config)
}

/// [`start_tcp`] and the handshake: a connected monocoque peer and what it learned of libzmq.
pub fn establish_tcp(
    libzmq: &zmq::Socket,
    config: HandshakeConfig,
    binder: Binder,
) -> Result<(ProtoPeer<TcpStream>, PeerInfo)> {
    let mut peer = start_tcp(libzmq, config, binder)?;
    let info = peer.handshake()?;
    Ok((peer, info))
}

/// Like [`start_tcp`], over a Unix socket at `path` (`ipc://` for libzmq).
pub fn start_ipc(
    libzmq: &zmq::Socket,
    config: HandshakeConfig,
    binder: Binder,
    path: &IpcPath,
) -> Result<ProtoPeer<UnixStream>> {
    let stream = match binder {
        Binder::Monocoque => {
            let listener = path.listen()?;
            libzmq.connect(&path.endpoint())?;
            path.accept(&listener)?
        }
        Binder::Libzmq => {
            libzmq.bind(&path.endpoint())?;
            path.connect()?
        }
    };
    ProtoPeer::start(stream, config)
}

/// [`start_ipc`] and the handshake.
pub fn establish_ipc(
    libzmq: &zmq::Socket,
    config: HandshakeConfig,
    binder: Binder,
    path: &IpcPath,
) -> Result<(ProtoPeer<UnixStream>, PeerInfo)> {
    let mut peer = start_ipc(libzmq, config, binder, path)?;
    let info = peer.handshake()?;
    Ok((peer, info))
}
