//! The pieces of the hostile-peer catalogue (`tests/hostile_*.rs`).
//!
//! A [`Scene`] is a PULL socket under test, bound on an ephemeral TCP port, with a monitor and a
//! well-behaved monocoque PUSH peer that keeps sending numbered messages for the whole test. A
//! [`Mock`] is a raw TCP connection to that socket that writes hand-made ZMTP bytes. Each case
//! checks that the socket closes the mock's connection in bounded time, reports the right monitor
//! events for it, keeps every message of the good peer, in order, and keeps its memory bounded.
//!
//! Every wait here is bounded: a bug makes a test fail, never hang. Tests of one binary run one at
//! a time ([`run`]) because the memory figures are those of the whole process.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use compio::net::TcpStream;
use compio::runtime::JoinHandle;
use monocoque::DisconnectReason;
use monocoque::proto::ProtocolError;
use monocoque::{
    Message, Monitor, MonitorEvent, MonitorEventKind, PullSocket, PushSocket, SocketOptions,
};

/// The longest any single wait of a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// The handshake interval of the socket under test: short, so that stalled peers are dropped fast.
pub(crate) const HANDSHAKE_IVL: Duration = Duration::from_millis(200);

/// One mebibyte.
pub(crate) const MIB: u64 = 1 << 20;

/// How much the resident set may grow across one hostile connection.
pub(crate) const RSS_BOUND: u64 = 16 * MIB;

/// How often polling waits look at their condition.
const POLL: Duration = Duration::from_millis(1);

/// Good-peer messages that must arrive after the last hostile connection is gone.
const SERVED_AFTER: u32 = 20;

/// Frame flag: more frames follow.
pub(crate) const MORE: u8 = 0x01;
/// Frame flag: eight-octet size.
pub(crate) const LONG: u8 = 0x02;
/// Frame flag: command frame.
pub(crate) const COMMAND: u8 = 0x04;

/// Runs one test on a fresh compio runtime, one test of the binary at a time.
pub(crate) fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = compio::runtime::Runtime::new().expect("a compio runtime");
    runtime.block_on(test());
}

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

// ---------------------------------------------------------------------------------------------
// Memory figures.

/// The process's memory, from `/proc/self/status`, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now.
    pub(crate) rss: u64,
    /// `VmHWM`: the most ever resident.
    pub(crate) hwm: u64,
    /// `VmSize`: address space now (reservations count, touched or not).
    pub(crate) size: u64,
    /// `VmPeak`: the most address space ever.
    pub(crate) peak: u64,
}

impl Memory {
    /// The figures now.
    pub(crate) fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
                .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
        };
        Self {
            rss: field("VmRSS:"),
            hwm: field("VmHWM:"),
            size: field("VmSize:"),
            peak: field("VmPeak:"),
        }
    }

    /// The figures now, after resetting the peak resident set (`VmHWM`) to the current one, so
    /// that a later [`Memory::now`] shows the peak of the span in between (`/proc/self/clear_refs`,
    /// Linux 4.0 and later).
    pub(crate) fn baseline() -> Self {
        std::fs::write("/proc/self/clear_refs", "5")
            .expect("reset VmHWM through /proc/self/clear_refs");
        Self::now()
    }

    /// How much each figure grew since `before` (negative growth counts as none).
    pub(crate) fn since(&self, before: &Self) -> Growth {
        Growth {
            rss: self.rss.saturating_sub(before.rss),
            hwm: self.hwm.saturating_sub(before.hwm),
            size: self.size.saturating_sub(before.size),
            peak: self.peak.saturating_sub(before.peak),
        }
    }
}

/// Growth of the [`Memory`] figures over some span, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Growth {
    /// Resident set now versus before.
    pub(crate) rss: u64,
    /// Peak resident set.
    pub(crate) hwm: u64,
    /// Address space now versus before.
    pub(crate) size: u64,
    /// Peak address space.
    pub(crate) peak: u64,
}

impl Growth {
    /// Fails the test if the resident set grew by `bound` or more.
    pub(crate) fn assert_rss_below(&self, bound: u64, case: &str) {
        assert!(
            self.rss < bound && self.hwm < bound,
            "{case}: memory grew too much: {self} (bound {} MiB)",
            bound / MIB
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

impl fmt::Display for Growth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSS +{:.2} MiB (peak +{:.2}), VmSize +{:.1} MiB (peak +{:.1})",
            mib(self.rss),
            mib(self.hwm),
            mib(self.size),
            mib(self.peak)
        )
    }
}

/// Prints one line of figures for a case (shown with `--nocapture`).
pub(crate) fn report(case: &str, closed: &Closed, growth: &Growth) {
    eprintln!(
        "hostile | {case:<52} | closed after {:>9.1?} by {:<5} | {growth}",
        closed.after, closed.how
    );
}

// ---------------------------------------------------------------------------------------------
// Hand-made ZMTP bytes.

/// A 64-byte greeting: signature, `major.minor`, a mechanism name NUL-padded to 20 bytes, as-server.
pub(crate) fn greeting(major: u8, minor: u8, mechanism: &[u8], as_server: bool) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[0] = 0xFF;
    bytes[9] = 0x7F;
    bytes[10] = major;
    bytes[11] = minor;
    bytes[12..12 + mechanism.len()].copy_from_slice(mechanism);
    bytes[32] = u8::from(as_server);
    bytes
}

/// The greeting of a ZMTP 3.1 NULL client.
pub(crate) fn null_greeting() -> Vec<u8> {
    greeting(3, 1, b"NULL", false)
}

/// A frame: the short form up to 255 bytes, the long form above.
pub(crate) fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = if body.len() > 255 {
        long_header(flags, body.len() as u64)
    } else {
        vec![flags, body.len() as u8]
    };
    out.extend_from_slice(body);
    out
}

/// The header of a long frame declaring `len` body bytes.
pub(crate) fn long_header(flags: u8, len: u64) -> Vec<u8> {
    let mut out = vec![flags | LONG];
    out.extend_from_slice(&len.to_be_bytes());
    out
}

/// One metadata property: `name_len name value_len(4, big-endian) value`.
pub(crate) fn property(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![name.len() as u8];
    out.extend_from_slice(name);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A READY command body carrying `properties` (already encoded).
pub(crate) fn ready_body(properties: &[u8]) -> Vec<u8> {
    let mut out = b"\x05READY".to_vec();
    out.extend_from_slice(properties);
    out
}

/// A READY command frame announcing `socket_type`.
pub(crate) fn ready(socket_type: &str) -> Vec<u8> {
    frame(
        COMMAND,
        &ready_body(&property(b"Socket-Type", socket_type.as_bytes())),
    )
}

/// A two-frame message `["mock", tag]`: the scene tells messages whose first frame is `mock` apart
/// from the good peer's, and records their last frame.
pub(crate) fn mock_message(tag: &str) -> Vec<u8> {
    let mut out = frame(MORE, b"mock");
    out.extend_from_slice(&frame(0, tag.as_bytes()));
    out
}

/// The complete frames in `bytes` (flags, body); a trailing partial frame is left out.
pub(crate) fn parse_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    loop {
        let Some(&flags) = bytes.first() else {
            return frames;
        };
        let (header, len) = if flags & LONG != 0 {
            let Some(size) = bytes.get(1..9) else {
                return frames;
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(size);
            (9, u64::from_be_bytes(be) as usize)
        } else {
            let Some(&size) = bytes.get(1) else {
                return frames;
            };
            (2, usize::from(size))
        };
        let Some(body) = bytes.get(header..header + len) else {
            return frames;
        };
        frames.push((flags, body.to_vec()));
        bytes = &bytes[header + len..];
    }
}

// ---------------------------------------------------------------------------------------------
// The hostile side.

/// How a connection ended, seen from the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// An orderly close: the read returned 0.
    Eof,
    /// The connection was reset (the socket closed with our bytes unread).
    Reset,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eof => "FIN",
            Self::Reset => "RST",
        })
    }
}

/// The socket closed the mock's connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    /// Time from the mock's last write to seeing the close.
    pub(crate) after: Duration,
    /// FIN or RST.
    pub(crate) how: End,
}

/// What became of a [`Mock::try_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// All written.
    Done,
    /// The connection is closed.
    Failed,
    /// The socket stopped reading.
    Stalled,
}

/// A raw TCP peer writing hand-made bytes.
#[derive(Debug)]
pub(crate) struct Mock {
    stream: TcpStream,
    /// The mock's own address: the peer address in the socket's monitor events.
    pub(crate) addr: SocketAddr,
    /// Everything the socket sent to the mock.
    pub(crate) received: Vec<u8>,
    last_write: Instant,
}

impl Mock {
    /// Connects to `to`.
    pub(crate) async fn connect(to: SocketAddr) -> Self {
        let stream = within("mock connect", TcpStream::connect(to))
            .await
            .expect("the mock connects");
        // Each write leaves at once: close latencies are the socket's, not Nagle's.
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let addr = stream.local_addr().expect("the mock's address");
        Self {
            stream,
            addr,
            received: Vec::new(),
            last_write: Instant::now(),
        }
    }

    /// Connects to `to` with a receive buffer of only a few KiB, so that whatever the socket
    /// sends and the mock does not read soon stays on the socket's side.
    pub(crate) async fn connect_small_window(to: SocketAddr) -> Self {
        let socket = compio::net::TcpSocket::new_v4()
            .await
            .expect("a TCP socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = within("mock connect", socket.connect(to))
            .await
            .expect("the mock connects");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let addr = stream.local_addr().expect("the mock's address");
        Self {
            stream,
            addr,
            received: Vec::new(),
            last_write: Instant::now(),
        }
    }

    /// Another handle on the same connection (for writing while another task reads).
    pub(crate) fn stream(&self) -> TcpStream {
        self.stream.clone()
    }

    /// Writes all of `bytes`; fails once the socket has closed the connection.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let BufResult(result, _) =
            within("a mock write", self.stream.write_all(bytes.to_vec())).await;
        self.last_write = Instant::now();
        result
    }

    /// Writes all of `bytes` unless the socket stops taking them for `limit` (it may stop reading
    /// a peer it no longer wants to serve) or closes the connection.
    pub(crate) async fn try_send(&mut self, bytes: &[u8], limit: Duration) -> Sent {
        let outcome = compio::time::timeout(limit, self.stream.write_all(bytes.to_vec())).await;
        self.last_write = Instant::now();
        match outcome {
            Ok(BufResult(Ok(()), _)) => Sent::Done,
            Ok(BufResult(Err(_), _)) => Sent::Failed,
            Err(_) => Sent::Stalled,
        }
    }

    /// Writes each chunk in turn, stopping at the first that fails (the socket may close the
    /// connection before all of an attack is written).
    pub(crate) async fn send_all(&mut self, chunks: &[Vec<u8>]) {
        for chunk in chunks {
            if self.send(chunk).await.is_err() {
                return;
            }
        }
    }

    /// Closes the mock's sending direction (FIN), keeping the reading one open. A connection the
    /// socket has already reset cannot be shut down; that is no failure here.
    pub(crate) async fn shutdown(&mut self) {
        let _ = within("the mock's shutdown", self.stream.shutdown()).await;
        self.last_write = Instant::now();
    }

    async fn read_some(&mut self) -> io::Result<usize> {
        let BufResult(read, buf) = self.stream.read(Vec::with_capacity(64 * 1024)).await;
        if let Ok(n) = read {
            self.received.extend_from_slice(&buf[..n]);
        }
        read
    }

    /// Reads until `done` holds for what was received, failing if the connection closes first.
    pub(crate) async fn read_until(&mut self, what: &str, mut done: impl FnMut(&[u8]) -> bool) {
        within(what, async {
            while !done(&self.received) {
                match self.read_some().await {
                    Ok(0) => {
                        panic!("the socket closed the connection while the mock waited for {what}")
                    }
                    Ok(_) => {}
                    Err(error) => {
                        panic!("the mock's read failed ({error}) while it waited for {what}")
                    }
                }
            }
        })
        .await;
    }

    /// A complete NULL handshake as a `socket_type` peer: our greeting and READY out, the
    /// socket's greeting and READY in and checked.
    pub(crate) async fn handshake(&mut self, socket_type: &str) {
        let mut hello = null_greeting();
        hello.extend_from_slice(&ready(socket_type));
        self.send(&hello).await.expect("send a greeting and READY");
        self.read_until("the socket's greeting and READY", |r| {
            r.len() >= 64 && !parse_frames(&r[64..]).is_empty()
        })
        .await;
        let greeting = &self.received[..64];
        assert_eq!((greeting[0], greeting[9]), (0xFF, 0x7F), "signature");
        assert_eq!((greeting[10], greeting[11]), (3, 1), "version");
        assert_eq!(&greeting[12..16], b"NULL", "mechanism");
        let (flags, body) = &parse_frames(&self.received[64..])[0];
        assert_eq!(
            *flags & COMMAND,
            COMMAND,
            "the socket's first frame is a command"
        );
        assert!(
            body.starts_with(b"\x05READY"),
            "the socket's first command is READY"
        );
    }

    /// The command frames the socket sent after its greeting.
    pub(crate) fn commands(&self) -> Vec<Vec<u8>> {
        parse_frames(self.received.get(64..).unwrap_or_default())
            .into_iter()
            .filter(|(flags, _)| flags & COMMAND != 0)
            .map(|(_, body)| body)
            .collect()
    }

    /// Waits until the socket closes the connection (a read returns 0 or fails with a reset),
    /// failing the test after [`WAIT`].
    pub(crate) async fn closed(&mut self) -> Closed {
        let how = within("the socket closes the hostile connection", async {
            loop {
                match self.read_some().await {
                    Ok(0) => return End::Eof,
                    Ok(_) => {}
                    Err(error) => {
                        assert!(
                            matches!(
                                error.kind(),
                                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                            ),
                            "the mock's read failed with {error}, not a close"
                        );
                        return End::Reset;
                    }
                }
            }
        })
        .await;
        Closed {
            after: self.last_write.elapsed(),
            how,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The socket under test and its well-behaved peer.

#[derive(Debug, Default)]
struct Traffic {
    /// Messages the good peer has sent (numbered from 0).
    sent: Cell<u32>,
    /// Good-peer messages received, each checked to be the next number.
    received: Cell<u32>,
    stop: Cell<bool>,
    /// What went wrong with the good traffic.
    faults: RefCell<Vec<String>>,
    /// The tags of the messages that came from mocks (`["mock", ..., tag]`).
    from_mocks: RefCell<Vec<Bytes>>,
}

/// A PULL socket under test, its monitor, and a good PUSH peer sending numbered messages.
pub(crate) struct Scene {
    // Tasks first: they are cancelled before the sockets they use are dropped.
    sender: JoinHandle<()>,
    receiver: JoinHandle<()>,
    traffic: Rc<Traffic>,
    /// The socket under test.
    pub(crate) pull: Rc<PullSocket>,
    push: Rc<PushSocket>,
    /// Where the socket listens.
    pub(crate) addr: SocketAddr,
    monitor: Monitor,
    /// Every monitor event so far.
    log: Vec<MonitorEvent>,
    good_peer: String,
}

impl Scene {
    /// The socket with `options` (plus nothing else), its good peer connected and its traffic
    /// flowing.
    pub(crate) async fn start(options: SocketOptions) -> Self {
        let pull = Rc::new(PullSocket::with_options(options).expect("options apply to PULL"));
        let monitor = pull.monitor();
        let endpoint = within("bind", pull.bind("tcp://127.0.0.1:0"))
            .await
            .expect("bind an ephemeral port")
            .to_string();
        let addr: SocketAddr = endpoint
            .trim_start_matches("tcp://")
            .parse()
            .expect("a TCP endpoint");
        let push = Rc::new(PushSocket::new());
        push.connect(&endpoint).expect("connect the good peer");
        let traffic = Rc::new(Traffic::default());
        let sender = compio::runtime::spawn(send_numbers(push.clone(), traffic.clone()));
        let receiver = compio::runtime::spawn(receive_numbers(pull.clone(), traffic.clone()));
        let mut scene = Self {
            sender,
            receiver,
            traffic,
            pull,
            push,
            addr,
            monitor,
            log: Vec::new(),
            good_peer: String::new(),
        };
        let good = scene
            .wait_event("the good peer's handshake", |e| {
                e.kind == MonitorEventKind::HandshakeSucceeded
            })
            .await;
        scene.good_peer = good.peer_address.expect("the good peer's address");
        scene.wait_received(10).await;
        scene
    }

    /// Good-peer messages received so far.
    pub(crate) fn received(&self) -> u32 {
        self.traffic.received.get()
    }

    /// Waits until at least `n` good-peer messages have arrived.
    pub(crate) async fn wait_received(&self, n: u32) {
        let traffic = self.traffic.clone();
        wait_until(&format!("{n} messages of the good peer arrived"), || {
            traffic.received.get() >= n
        })
        .await;
        self.assert_no_fault();
    }

    /// Waits until a mock's message `["mock", tag]` has arrived.
    pub(crate) async fn wait_mock_message(&self, tag: &str) {
        let traffic = self.traffic.clone();
        wait_until(&format!("the mock's message {tag:?} arrived"), || {
            traffic
                .from_mocks
                .borrow()
                .iter()
                .any(|m| m == tag.as_bytes())
        })
        .await;
    }

    /// The mock messages received so far, by tag.
    pub(crate) fn mock_messages(&self) -> Vec<Bytes> {
        self.traffic.from_mocks.borrow().clone()
    }

    fn assert_no_fault(&self) {
        let faults = self.traffic.faults.borrow();
        assert!(
            faults.is_empty(),
            "the good peer's traffic broke: {faults:?}"
        );
    }

    /// Takes the monitor events that are waiting into the log.
    pub(crate) fn drain_monitor(&mut self) {
        while let Some(event) = self.monitor.try_recv() {
            self.log.push(event);
        }
    }

    /// Every monitor event logged so far.
    pub(crate) fn log(&self) -> &[MonitorEvent] {
        &self.log
    }

    /// Waits until `done` holds for the event log, for at most [`WAIT`].
    pub(crate) async fn wait_log(&mut self, what: &str, done: impl Fn(&[MonitorEvent]) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain_monitor();
            if done(&self.log) {
                return;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!("timed out after {WAIT:?} waiting for {what}");
            };
            match compio::time::timeout(left, self.monitor.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => panic!("the monitor stopped while waiting for {what}"),
                Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
            }
        }
    }

    /// The first logged event matching `matches`, waiting for it for at most [`WAIT`].
    pub(crate) async fn wait_event(
        &mut self,
        what: &str,
        matches: impl Fn(&MonitorEvent) -> bool,
    ) -> MonitorEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain_monitor();
            if let Some(event) = self.log.iter().find(|e| matches(e)) {
                return event.clone();
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; events so far: {:#?}",
                    self.log
                );
            };
            match compio::time::timeout(left, self.monitor.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => panic!("the monitor stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {WAIT:?} waiting for {what}; events so far: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// The logged events of the connection from `peer`.
    pub(crate) fn events_of(&self, peer: SocketAddr) -> Vec<MonitorEventKind> {
        let peer = peer.to_string();
        self.log
            .iter()
            .filter(|e| e.peer_address.as_deref() == Some(&peer))
            .map(|e| e.kind.clone())
            .collect()
    }

    /// Waits for the Disconnected event of `peer`, then checks its events are exactly `expected`.
    pub(crate) async fn expect_events(&mut self, peer: SocketAddr, expected: &[MonitorEventKind]) {
        let address = peer.to_string();
        self.wait_event(&format!("the Disconnected event of {peer}"), |e| {
            e.peer_address.as_deref() == Some(&address)
                && matches!(e.kind, MonitorEventKind::Disconnected { .. })
        })
        .await;
        assert_eq!(
            self.events_of(peer),
            expected,
            "monitor events of the hostile connection {peer}"
        );
    }

    /// After a mock's flood: waits until its message `["mock", tag]` arrives (`"delivered"`) or its
    /// connection ends (`"refused"`), whichever comes first.
    pub(crate) async fn delivered_or_refused(
        &mut self,
        peer: SocketAddr,
        tag: &str,
    ) -> &'static str {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain_monitor();
            if self
                .traffic
                .from_mocks
                .borrow()
                .iter()
                .any(|m| m == tag.as_bytes())
            {
                return "delivered";
            }
            if self
                .events_of(peer)
                .iter()
                .any(|e| matches!(e, MonitorEventKind::Disconnected { .. }))
            {
                return "refused";
            }
            assert!(
                Instant::now() < deadline,
                "after {WAIT:?}, the mock's message {tag:?} was neither delivered nor refused"
            );
            compio::time::sleep(POLL).await;
        }
    }

    /// Waits until the mock connection `peer` has completed its handshake.
    pub(crate) async fn wait_handshake(&mut self, peer: SocketAddr) {
        let address = peer.to_string();
        self.wait_event(&format!("the handshake of {peer}"), |e| {
            e.peer_address.as_deref() == Some(&address)
                && e.kind == MonitorEventKind::HandshakeSucceeded
        })
        .await;
    }

    /// Ends the test: only the good peer is left connected, it is still served, and every message
    /// it sent arrived, in order, none lost. Returns how many it sent.
    pub(crate) async fn finish(mut self) -> u32 {
        let pull = self.pull.clone();
        wait_until("only the good peer is connected", || {
            pull.connected_peers() == 1
        })
        .await;
        self.wait_received(self.received() + SERVED_AFTER).await;
        self.traffic.stop.set(true);
        let sender = &self.sender;
        wait_until("the good peer stopped sending", || sender.is_finished()).await;
        let sent = self.traffic.sent.get();
        self.wait_received(sent).await;
        assert_eq!(
            self.received(),
            sent,
            "the good peer's messages, all of them"
        );
        self.drain_monitor();
        let good = self.good_peer.clone();
        let good_events: Vec<_> = self
            .log
            .iter()
            .filter(|e| e.peer_address.as_deref() == Some(&good))
            .map(|e| &e.kind)
            .collect();
        assert_eq!(
            good_events,
            [
                &MonitorEventKind::Accepted,
                &MonitorEventKind::HandshakeSucceeded
            ],
            "the good peer's connection was never disturbed"
        );
        sent
    }
}

async fn send_numbers(push: Rc<PushSocket>, traffic: Rc<Traffic>) {
    let mut n = 0u32;
    while !traffic.stop.get() {
        let message = Message::single(Bytes::copy_from_slice(&n.to_be_bytes()));
        if let Err(error) = push.send(message).await {
            traffic
                .faults
                .borrow_mut()
                .push(format!("the good peer's send {n} failed: {error:?}"));
            return;
        }
        n += 1;
        traffic.sent.set(n);
        if n % 8 == 0 {
            // A steady stream, not a flood: the scene measures memory.
            compio::time::sleep(POLL).await;
        }
    }
}

async fn receive_numbers(pull: Rc<PullSocket>, traffic: Rc<Traffic>) {
    loop {
        let message = match pull.recv().await {
            Ok(message) => message,
            Err(error) => {
                traffic
                    .faults
                    .borrow_mut()
                    .push(format!("recv failed: {error:?}"));
                return;
            }
        };
        if message.len() >= 2 && &message[0][..] == b"mock" {
            let tag = message.last().cloned().unwrap_or_default();
            traffic.from_mocks.borrow_mut().push(tag);
            continue;
        }
        let expected = traffic.received.get();
        let number = match message.frames() {
            [frame] if frame.len() == 4 => {
                Some(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
            }
            _ => None,
        };
        if number != Some(expected) {
            traffic.faults.borrow_mut().push(format!(
                "expected the good peer's message {expected}, got {message:?}"
            ));
        }
        traffic.received.set(expected + 1);
    }
}

/// The socket options of most cases: a short handshake interval, nothing else.
pub(crate) fn options() -> SocketOptions {
    SocketOptions::new().handshake_timeout(Some(HANDSHAKE_IVL))
}

// ---------------------------------------------------------------------------------------------
// The cases' common shapes.

/// The events of a connection whose handshake failed with `error`.
pub(crate) fn handshake_failed(error: ProtocolError) -> Vec<MonitorEventKind> {
    let reason = DisconnectReason::from_protocol(error.clone());
    vec![
        MonitorEventKind::Accepted,
        MonitorEventKind::HandshakeFailedProtocol { error },
        MonitorEventKind::Disconnected { reason },
    ]
}

/// The events of a connection that completed its handshake and then ended with `reason`.
pub(crate) fn ended_after_handshake(reason: DisconnectReason) -> Vec<MonitorEventKind> {
    vec![
        MonitorEventKind::Accepted,
        MonitorEventKind::HandshakeSucceeded,
        MonitorEventKind::Disconnected { reason },
    ]
}

/// The events of a connection closed for `error` after its handshake.
pub(crate) fn failed_after_handshake(error: &ProtocolError) -> Vec<MonitorEventKind> {
    ended_after_handshake(DisconnectReason::from_protocol(error.clone()))
}

/// A fault before the handshake completes: a mock writes `attack`; the socket must close the
/// connection and report exactly Accepted, HandshakeFailedProtocol { `error` }, Disconnected.
pub(crate) async fn handshake_fault(
    scene: &mut Scene,
    case: &str,
    attack: &[Vec<u8>],
    error: ProtocolError,
) -> (Mock, Closed) {
    let before = Memory::baseline();
    let mut mock = Mock::connect(scene.addr).await;
    mock.send_all(attack).await;
    let closed = mock.closed().await;
    scene
        .expect_events(mock.addr, &handshake_failed(error))
        .await;
    let growth = Memory::now().since(&before);
    report(case, &closed, &growth);
    growth.assert_rss_below(RSS_BOUND, case);
    (mock, closed)
}

/// A fault after a valid handshake: a mock completes the handshake as a PUSH, sends one good
/// message (which must arrive), then writes `attack`; the socket must close the connection and
/// report Accepted, HandshakeSucceeded, Disconnected { "protocol error: `error`" }.
pub(crate) async fn traffic_fault(
    scene: &mut Scene,
    case: &str,
    attack: &[Vec<u8>],
    error: ProtocolError,
) -> (Mock, Closed) {
    let before = Memory::baseline();
    let mut mock = Mock::connect(scene.addr).await;
    mock.handshake("PUSH").await;
    scene.wait_handshake(mock.addr).await;
    let tag = format!("{case}: before the fault");
    mock.send(&mock_message(&tag))
        .await
        .expect("send a good message");
    scene.wait_mock_message(&tag).await;
    mock.send_all(attack).await;
    let closed = mock.closed().await;
    scene
        .expect_events(mock.addr, &failed_after_handshake(&error))
        .await;
    let growth = Memory::now().since(&before);
    report(case, &closed, &growth);
    growth.assert_rss_below(RSS_BOUND, case);
    (mock, closed)
}
