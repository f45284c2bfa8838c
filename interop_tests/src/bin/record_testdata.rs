//! Records the exact bytes a real libzmq peer puts on the wire, as test vectors for
//! `monocoque-zmtp`.
//!
//! Usage: `record-testdata [OUTPUT_DIR]` (default `monocoque-zmtp/testdata`), normally through
//! `scripts/record_testdata.sh`.
//!
//! The recorder is a raw ZMTP 3.1 peer written by hand from RFC 37 with `std::net` only; it does
//! not use any monocoque crate, so the recordings are independent of monocoque's implementation.
//! For each recording it listens on `127.0.0.1:0`, lets a libzmq socket (through the `zmq` crate)
//! connect, sends its own 64-byte NULL greeting at once, reads libzmq's greeting and READY
//! command, answers with a READY of a compatible socket type and then captures what libzmq sends
//! next. Every read has a timeout, so nothing can hang forever.
//!
//! All files are written only after every recording succeeded, together with a generated
//! `README.md` that lists them with the libzmq version and the wire facts observed.

use std::fmt::{self, Display, Write as _};
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Output directory used when none is given on the command line (relative to the repo root).
const DEFAULT_OUT_DIR: &str = "monocoque-zmtp/testdata";

/// Longest a single read from libzmq may block.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest we wait for libzmq to connect to our listener.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Frame flag bit 0: more frames follow.
const FLAG_MORE: u8 = 0x01;
/// Frame flag bit 1: 8-byte big-endian size.
const FLAG_LONG: u8 = 0x02;
/// Frame flag bit 2: command frame.
const FLAG_COMMAND: u8 = 0x04;

/// Largest frame body the recorder accepts (guards against allocating for garbage sizes).
const MAX_BODY: u64 = 1 << 20;

/// The routing id given to the DEALER of `ready_dealer_identity.bin`.
const DEALER_IDENTITY: &[u8] = b"peer-1";

/// The context the recorder sends in its PING, which libzmq must echo in its PONG.
const PING_CONTEXT: &[u8] = b"ctx-42";

/// The topic of the subscription recordings.
const TOPIC: &[u8] = b"topic";

/// An error with a message saying what the recorder was doing.
///
/// Its `Debug` output is the plain message, so `main` returning it prints a readable line.
struct Failure(String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The recorder's result type.
type Result<T> = std::result::Result<T, Failure>;

/// Builds a [`Failure`] from a message.
fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(Failure(message.into()))
}

/// Adds what was being done to an error.
trait Context<T> {
    /// Wraps the error as a [`Failure`] reading `<what>: <error>`.
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| Failure(format!("{what}: {e}")))
    }
}

/// Our 64-byte NULL greeting for ZMTP 3.`minor`, built from RFC 37's grammar: signature
/// (`0xFF`, 8 padding bytes, `0x7F`), version, mechanism padded with NULs to 20 bytes, as-server,
/// 31 bytes of filler.
fn greeting(minor: u8) -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    // g[1..9]: padding, zero.
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = minor;
    g[12..16].copy_from_slice(b"NULL");
    // g[16..32]: rest of the mechanism, NULs; g[32]: as-server = 0; g[33..64]: filler.
    g
}

/// Encodes a command frame: flags (`0x04`, or `0x06` when the body exceeds 255 bytes), size, then
/// `name_len name data`.
fn command(name: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let name_len = u8::try_from(name.len()).context("command name longer than 255 bytes")?;
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name_len);
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    let mut frame = Vec::with_capacity(9 + body.len());
    if let Ok(short) = u8::try_from(body.len()) {
        frame.push(FLAG_COMMAND);
        frame.push(short);
    } else {
        frame.push(FLAG_COMMAND | FLAG_LONG);
        frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// A READY command carrying only `Socket-Type`.
fn ready(socket_type: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let name = b"Socket-Type";
    data.push(name.len() as u8);
    data.extend_from_slice(name);
    let len = u32::try_from(socket_type.len()).context("socket type too long")?;
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(socket_type.as_bytes());
    command(b"READY", &data)
}

/// A PING command: TTL (big-endian u16, deciseconds) then context.
fn ping(ttl_deciseconds: u16, context: &[u8]) -> Result<Vec<u8>> {
    let mut data = ttl_deciseconds.to_be_bytes().to_vec();
    data.extend_from_slice(context);
    command(b"PING", &data)
}

/// One frame exactly as read from the wire.
struct Frame {
    /// Flags, size and body, byte for byte.
    raw: Vec<u8>,
    /// Offset of the body in `raw` (2 for short frames, 9 for long ones).
    body_start: usize,
}

impl Frame {
    /// Splits the first frame off `bytes`; `None` if `bytes` holds no complete frame.
    fn parse(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let flags = *bytes.first()?;
        let (size, body_start) = if flags & FLAG_LONG != 0 {
            let size: [u8; 8] = bytes.get(1..9)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(size)).ok()?, 9usize)
        } else {
            (usize::from(*bytes.get(1)?), 2)
        };
        let end = body_start.checked_add(size)?;
        let raw = bytes.get(..end)?.to_vec();
        Some((Self { raw, body_start }, &bytes[end..]))
    }

    /// The flags byte.
    fn flags(&self) -> u8 {
        self.raw[0]
    }

    /// The frame body.
    fn body(&self) -> &[u8] {
        &self.raw[self.body_start..]
    }

    /// For a command frame, its name and data (`None` for messages or a malformed name).
    fn command(&self) -> Option<(&[u8], &[u8])> {
        if self.flags() & FLAG_COMMAND == 0 {
            return None;
        }
        let body = self.body();
        let name_len = usize::from(*body.first()?);
        let name = body.get(1..1 + name_len)?;
        Some((name, &body[1 + name_len..]))
    }

    /// True when this is the command `name`.
    fn is_command(&self, name: &[u8]) -> bool {
        self.command().is_some_and(|(n, _)| n == name)
    }
}

/// Parses READY metadata: `name_len(1) name value_len(4, big-endian) value`, repeated.
fn properties(mut data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut props = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        let name = rest.get(..name_len)?;
        let rest = &rest[name_len..];
        let value_len: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let value_len = usize::try_from(u32::from_be_bytes(value_len)).ok()?;
        let value = rest.get(4..4 + value_len)?;
        props.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        data = &rest[4 + value_len..];
    }
    Some(props)
}

/// Shows bytes as a quoted string, printable ASCII as is and everything else as `\xNN`,
/// shortened to `limit` bytes.
fn show(bytes: &[u8], limit: usize) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(limit) {
        if b == b' ' || (b.is_ascii_graphic() && b != b'"' && b != b'\\') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    if bytes.len() > limit {
        let _ = write!(out, "...");
    }
    out
}

/// Describes a 64-byte greeting field by field.
fn describe_greeting(g: &[u8]) -> String {
    let mechanism: Vec<u8> = g[12..32].iter().copied().take_while(|&b| b != 0).collect();
    format!(
        "greeting: signature ff+padding {}+7f, version {}.{}, mechanism {}, as-server {}",
        show(&g[1..9], 8),
        g[10],
        g[11],
        show(&mechanism, 20),
        g[32]
    )
}

/// Describes a sequence of frames, one clause per frame.
fn describe_frames(mut bytes: &[u8]) -> String {
    let mut parts = Vec::new();
    while !bytes.is_empty() {
        let Some((frame, rest)) = Frame::parse(bytes) else {
            parts.push(format!("{} trailing bytes", bytes.len()));
            break;
        };
        parts.push(describe_frame(&frame));
        bytes = rest;
    }
    parts.join("; ")
}

/// Describes one frame: its flags, size form and decoded body.
fn describe_frame(frame: &Frame) -> String {
    let flags = frame.flags();
    let size = if flags & FLAG_LONG != 0 {
        "long"
    } else {
        "short"
    };
    let len = frame.body().len();
    match frame.command() {
        Some((name, data)) => {
            let detail = match name {
                b"READY" => match properties(data) {
                    Some(props) => props
                        .iter()
                        .map(|(n, v)| format!("{n}={}", show(v, 32)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    None => format!("malformed metadata {}", show(data, 32)),
                },
                b"PING" if data.len() >= 2 => format!(
                    "ttl={} ds context={}",
                    u16::from_be_bytes([data[0], data[1]]),
                    show(&data[2..], 16)
                ),
                b"PONG" => format!("context={}", show(data, 16)),
                b"SUBSCRIBE" | b"CANCEL" => format!("topic={}", show(data, 32)),
                b"ERROR" => match data.split_first() {
                    Some((_, reason)) => format!("reason={}", show(reason, 64)),
                    None => "empty".to_owned(),
                },
                _ => show(data, 16),
            };
            format!(
                "command {} (flags {flags:#04x}, {size} size {len}) {detail}",
                String::from_utf8_lossy(name)
            )
        }
        None => {
            let more = if flags & FLAG_MORE != 0 { " MORE" } else { "" };
            format!(
                "message frame (flags {flags:#04x}{more}, {size} size {len}) {}",
                show(frame.body(), 12)
            )
        }
    }
}

/// The TCP side of a connection from libzmq to the recorder.
struct Peer {
    /// The accepted stream, blocking, with read and write timeouts.
    stream: TcpStream,
}

/// How the peer's side of the connection ended in [`Peer::read_until_close`].
enum Ending {
    /// Orderly close (EOF).
    Closed,
    /// Connection reset.
    Reset,
    /// Still open when the read timed out.
    StillOpen,
}

impl Peer {
    /// Waits (up to [`ACCEPT_TIMEOUT`]) for the libzmq socket to connect.
    fn accept(listener: &TcpListener) -> Result<Self> {
        listener
            .set_nonblocking(true)
            .context("making the listener non-blocking")?;
        let deadline = Instant::now() + ACCEPT_TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return fail("libzmq did not connect within 5 s");
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return fail(format!("accepting libzmq's connection: {e}")),
            }
        };
        stream
            .set_nonblocking(false)
            .context("making the stream blocking")?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .context("setting the read timeout")?;
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .context("setting the write timeout")?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        Ok(Self { stream })
    }

    /// Writes `bytes` to libzmq.
    fn send(&mut self, bytes: &[u8], what: &str) -> Result<()> {
        self.stream
            .write_all(bytes)
            .context(format!("writing {what}"))
    }

    /// Reads exactly `buf.len()` bytes; libzmq may deliver them in several pieces.
    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.stream
            .read_exact(buf)
            .context(format!("reading {what} from libzmq (timeout 5 s)"))
    }

    /// Reads libzmq's 64-byte greeting.
    fn read_greeting(&mut self) -> Result<[u8; 64]> {
        let mut g = [0u8; 64];
        self.read_exact(&mut g, "the greeting")?;
        Ok(g)
    }

    /// Reads one frame (flags, size, body).
    fn read_frame(&mut self, what: &str) -> Result<Frame> {
        let mut raw = vec![0u8; 2];
        self.read_exact(&mut raw, what)?;
        let flags = raw[0];
        if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0 {
            return fail(format!("{what}: reserved flag bits set in {flags:#04x}"));
        }
        let (size, body_start) = if flags & FLAG_LONG != 0 {
            raw.resize(9, 0);
            self.read_exact(&mut raw[2..], what)?;
            let size: [u8; 8] = raw[1..9].try_into().context("slicing the 8-byte size")?;
            (u64::from_be_bytes(size), 9)
        } else {
            (u64::from(raw[1]), 2)
        };
        if size > MAX_BODY {
            return fail(format!("{what}: frame size {size} is implausibly large"));
        }
        let size = usize::try_from(size).context("frame size")?;
        raw.resize(body_start + size, 0);
        self.read_exact(&mut raw[body_start..], what)?;
        Ok(Frame { raw, body_start })
    }

    /// Reads everything libzmq still sends until it closes, resets or goes quiet for
    /// [`IO_TIMEOUT`].
    fn read_until_close(&mut self) -> Result<(Vec<u8>, Ending)> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok((bytes, Ending::Closed)),
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok((bytes, Ending::Reset));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok((bytes, Ending::StillOpen));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return fail(format!("reading after the handshake: {e}")),
            }
        }
    }
}

/// A libzmq socket connected to the recorder, past the NULL handshake.
struct Session {
    /// The libzmq socket (linger 0, so dropping it never blocks).
    socket: zmq::Socket,
    /// Our end of its TCP connection.
    peer: Peer,
    /// libzmq's greeting.
    greeting: [u8; 64],
    /// libzmq's READY frame.
    ready: Frame,
}

/// How the recorder sets up one connection.
struct Setup<'a> {
    /// The libzmq socket type.
    kind: zmq::SocketType,
    /// The minor version in our greeting (1 for ZMTP 3.1, 0 for 3.0).
    minor: u8,
    /// The `Socket-Type` of the READY we answer with.
    reply_type: &'a str,
}

/// Connects a fresh libzmq socket to a fresh listener and completes the NULL handshake.
fn open(
    ctx: &zmq::Context,
    setup: &Setup<'_>,
    configure: impl FnOnce(&zmq::Socket) -> zmq::Result<()>,
) -> Result<Session> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    let port = listener
        .local_addr()
        .context("reading the listener's port")?
        .port();

    let socket = ctx
        .socket(setup.kind)
        .context(format!("creating a libzmq {:?} socket", setup.kind))?;
    socket.set_linger(0).context("setting ZMQ_LINGER")?;
    socket.set_sndtimeo(5000).context("setting ZMQ_SNDTIMEO")?;
    socket.set_rcvtimeo(5000).context("setting ZMQ_RCVTIMEO")?;
    configure(&socket).context("configuring the libzmq socket")?;
    socket
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .context("connecting the libzmq socket")?;

    let mut peer = Peer::accept(&listener)?;
    // Refuse libzmq's reconnects once this recording is done.
    drop(listener);

    peer.send(&greeting(setup.minor), "our greeting")?;
    let greeting = peer.read_greeting()?;
    if greeting[0] != 0xFF || greeting[9] != 0x7F || greeting[10] != 3 {
        return fail(format!(
            "libzmq's greeting is not ZMTP 3: {}",
            show(&greeting, 64)
        ));
    }
    if &greeting[12..32] != b"NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" {
        return fail("libzmq's greeting does not announce the NULL mechanism");
    }

    let ready_frame = peer.read_frame("libzmq's READY")?;
    if !ready_frame.is_command(b"READY") {
        return fail(format!(
            "expected a READY command, got {}",
            describe_frame(&ready_frame)
        ));
    }
    let reply = ready(setup.reply_type)?;
    peer.send(&reply, "our READY")?;
    Ok(Session {
        socket,
        peer,
        greeting,
        ready: ready_frame,
    })
}

/// `n` bytes of the pattern `i % 251`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// One recorded file.
struct Recording {
    /// File name inside the output directory.
    file: &'static str,
    /// The bytes as libzmq sent them.
    bytes: Vec<u8>,
    /// What the recording is, in words.
    what: String,
    /// The bytes decoded, one clause per frame.
    decoded: String,
}

/// Everything recorded in one run, plus the observations for the README.
struct Run {
    /// libzmq's version as `major.minor.patch`.
    version: String,
    /// The files, in recording order.
    recordings: Vec<Recording>,
    /// Wire facts observed, one sentence each.
    facts: Vec<String>,
    /// A file that this run found nothing to write for (removed if present).
    absent: Vec<&'static str>,
}

impl Run {
    /// Adds a file of frames.
    fn frames(&mut self, file: &'static str, bytes: Vec<u8>, what: impl Into<String>) {
        let decoded = describe_frames(&bytes);
        self.recordings.push(Recording {
            file,
            bytes,
            what: what.into(),
            decoded,
        });
    }
}

/// The eleven socket types: recording file, libzmq type, its `Socket-Type` name, and the
/// compatible type the recorder answers with.
const TYPES: [(&str, zmq::SocketType, &str, &str); 11] = [
    ("ready_pair.bin", zmq::PAIR, "PAIR", "PAIR"),
    ("ready_pub.bin", zmq::PUB, "PUB", "SUB"),
    ("ready_sub.bin", zmq::SUB, "SUB", "PUB"),
    ("ready_xpub.bin", zmq::XPUB, "XPUB", "SUB"),
    ("ready_xsub.bin", zmq::XSUB, "XSUB", "PUB"),
    ("ready_push.bin", zmq::PUSH, "PUSH", "PULL"),
    ("ready_pull.bin", zmq::PULL, "PULL", "PUSH"),
    ("ready_req.bin", zmq::REQ, "REQ", "REP"),
    ("ready_rep.bin", zmq::REP, "REP", "REQ"),
    ("ready_dealer.bin", zmq::DEALER, "DEALER", "DEALER"),
    ("ready_router.bin", zmq::ROUTER, "ROUTER", "DEALER"),
];

/// No extra socket options.
fn defaults(_: &zmq::Socket) -> zmq::Result<()> {
    Ok(())
}

/// Records the greeting and the READY of every socket type.
fn record_handshakes(ctx: &zmq::Context, run: &mut Run) -> Result<()> {
    let dealer = Setup {
        kind: zmq::DEALER,
        minor: 1,
        reply_type: "DEALER",
    };
    let session = open(ctx, &dealer, defaults)?;
    run.recordings.push(Recording {
        file: "greeting_null.bin",
        bytes: session.greeting.to_vec(),
        what: "the 64-byte greeting of a DEALER (no routing id)".to_owned(),
        decoded: describe_greeting(&session.greeting),
    });
    run.facts.push(format!(
        "Greeting padding (bytes 1..9): a DEALER without routing id sends {}; \
         receivers must ignore these bytes.",
        show(&session.greeting[1..9], 8)
    ));
    drop(session);

    let mut with_identity = Vec::new();
    let mut without_identity = Vec::new();
    for (file, kind, name, reply_type) in TYPES {
        let setup = Setup {
            kind,
            minor: 1,
            reply_type,
        };
        let session = open(ctx, &setup, defaults)?;
        let props = session
            .ready
            .command()
            .and_then(|(_, data)| properties(data))
            .ok_or_else(|| Failure(format!("{name}: malformed READY metadata")))?;
        let socket_type = props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Socket-Type"))
            .map(|(_, v)| v.as_slice());
        if socket_type != Some(name.as_bytes()) {
            return fail(format!(
                "{name}: READY says Socket-Type {}",
                show(socket_type.unwrap_or_default(), 32)
            ));
        }
        if props
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Identity"))
        {
            with_identity.push(name);
        } else {
            without_identity.push(name);
        }
        run.frames(
            file,
            session.ready.raw.clone(),
            format!("the READY command of a {name} (no options set)"),
        );
    }
    run.facts.push(format!(
        "READY carries an Identity property (empty unless ZMQ_ROUTING_ID is set) for {}; \
         no Identity for {}.",
        with_identity.join(", "),
        without_identity.join(", ")
    ));

    let setup = Setup {
        kind: zmq::DEALER,
        minor: 1,
        reply_type: "ROUTER",
    };
    let session = open(ctx, &setup, |s| s.set_identity(DEALER_IDENTITY))?;
    run.frames(
        "ready_dealer_identity.bin",
        session.ready.raw.clone(),
        format!(
            "the READY command of a DEALER with ZMQ_ROUTING_ID {}",
            show(DEALER_IDENTITY, 16)
        ),
    );
    run.facts.push(format!(
        "With the {}-byte routing id {} the greeting padding is {}.",
        DEALER_IDENTITY.len(),
        show(DEALER_IDENTITY, 16),
        show(&session.greeting[1..9], 8)
    ));
    Ok(())
}

/// Reads the `count` frames of one message and returns their bytes back to back.
fn read_message(peer: &mut Peer, count: usize, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for i in 0..count {
        let frame = peer.read_frame(what)?;
        if frame.flags() & FLAG_COMMAND != 0 {
            return fail(format!(
                "{what}: expected a message frame, got {}",
                describe_frame(&frame)
            ));
        }
        let more = frame.flags() & FLAG_MORE != 0;
        if more != (i + 1 < count) {
            return fail(format!(
                "{what}: frame {i} has MORE={more}, expected {count} frames"
            ));
        }
        bytes.extend_from_slice(&frame.raw);
    }
    Ok(bytes)
}

/// Records the message frames.
fn record_messages(ctx: &zmq::Context, run: &mut Run) -> Result<()> {
    let push = Setup {
        kind: zmq::PUSH,
        minor: 1,
        reply_type: "PULL",
    };
    let mut session = open(ctx, &push, defaults)?;
    session
        .socket
        .send("hello", 0)
        .context("sending \"hello\" from the PUSH")?;
    let bytes = read_message(&mut session.peer, 1, "the one-frame message")?;
    run.frames(
        "msg_single.bin",
        bytes,
        "a PUSH sending the one-frame message \"hello\"",
    );

    let dealer = Setup {
        kind: zmq::DEALER,
        minor: 1,
        reply_type: "DEALER",
    };
    let mut session = open(ctx, &dealer, defaults)?;
    let frames: [Vec<u8>; 3] = [b"id".to_vec(), Vec::new(), pattern(300)];
    session
        .socket
        .send_multipart(frames, 0)
        .context("sending the 3-frame message from the DEALER")?;
    let bytes = read_message(&mut session.peer, 3, "the 3-frame message")?;
    run.frames(
        "msg_multipart.bin",
        bytes,
        "a DEALER sending 3 frames: \"id\", an empty frame, 300 bytes of i % 251",
    );

    let mut session = open(ctx, &push, defaults)?;
    session
        .socket
        .send(pattern(65536), 0)
        .context("sending the 65536-byte frame from the PUSH")?;
    let bytes = read_message(&mut session.peer, 1, "the 65536-byte message")?;
    run.frames(
        "msg_long_65536.bin",
        bytes,
        "a PUSH sending one 65536-byte frame of i % 251",
    );
    Ok(())
}

/// Records PING (from a heartbeating DEALER) and PONG (its answer to our PING).
fn record_heartbeats(ctx: &zmq::Context, run: &mut Run) -> Result<()> {
    let dealer = Setup {
        kind: zmq::DEALER,
        minor: 1,
        reply_type: "DEALER",
    };
    let mut session = open(ctx, &dealer, |s| {
        s.set_heartbeat_ivl(100)?;
        s.set_heartbeat_ttl(2000)?;
        s.set_heartbeat_timeout(60_000)
    })?;
    let frame = session.peer.read_frame("libzmq's PING")?;
    let Some((b"PING", data)) = frame.command() else {
        return fail(format!("expected a PING, got {}", describe_frame(&frame)));
    };
    if data.len() < 2 {
        return fail("libzmq's PING has no TTL field");
    }
    let ttl = u16::from_be_bytes([data[0], data[1]]);
    run.facts.push(format!(
        "PING TTL: ZMQ_HEARTBEAT_TTL 2000 ms goes on the wire as {ttl} (big-endian u16 bytes \
         {:02x} {:02x}), i.e. deciseconds; libzmq's PING context is {} bytes long.",
        data[0],
        data[1],
        data.len() - 2
    ));
    run.frames(
        "ping.bin",
        frame.raw,
        "the PING of a DEALER with ZMQ_HEARTBEAT_IVL 100 ms, ZMQ_HEARTBEAT_TTL 2000 ms, \
         ZMQ_HEARTBEAT_TIMEOUT 60000 ms",
    );

    let mut session = open(ctx, &dealer, defaults)?;
    session.peer.send(&ping(0, PING_CONTEXT)?, "our PING")?;
    let frame = session.peer.read_frame("libzmq's PONG")?;
    match frame.command() {
        Some((b"PONG", context)) if context == PING_CONTEXT => {}
        _ => {
            return fail(format!(
                "expected a PONG echoing {}, got {}",
                show(PING_CONTEXT, 16),
                describe_frame(&frame)
            ));
        }
    }
    run.frames(
        "pong.bin",
        frame.raw,
        format!(
            "the PONG a DEALER (no heartbeat options) answers to our PING with TTL 0 and \
             context {}",
            show(PING_CONTEXT, 16)
        ),
    );
    Ok(())
}

/// Names the form a subscription frame took.
fn subscription_form(frame: &Frame) -> String {
    match frame.command() {
        Some((name, _)) => format!("the {} command", String::from_utf8_lossy(name)),
        None => match frame.body().first() {
            Some(&b) => format!("a message whose first byte is {b:#04x}"),
            None => "an empty message".to_owned(),
        },
    }
}

/// Records SUBSCRIBE and CANCEL from a SUB, against a ZMTP 3.1 and a ZMTP 3.0 greeting.
fn record_subscriptions(ctx: &zmq::Context, run: &mut Run) -> Result<()> {
    let sub31 = Setup {
        kind: zmq::SUB,
        minor: 1,
        reply_type: "PUB",
    };
    let mut session = open(ctx, &sub31, defaults)?;
    session
        .socket
        .set_subscribe(TOPIC)
        .context("subscribing the SUB")?;
    let subscribe = session.peer.read_frame("the subscription")?;
    session
        .socket
        .set_unsubscribe(TOPIC)
        .context("unsubscribing the SUB")?;
    let cancel = session.peer.read_frame("the cancellation")?;
    run.facts.push(format!(
        "To a ZMTP 3.1 peer a SUB subscribes with {} and cancels with {}.",
        subscription_form(&subscribe),
        subscription_form(&cancel)
    ));
    run.frames(
        "subscribe.bin",
        subscribe.raw,
        format!(
            "a SUB subscribing to {} over ZMTP 3.1 (our greeting says 3.1)",
            show(TOPIC, 16)
        ),
    );
    run.frames(
        "cancel.bin",
        cancel.raw,
        format!(
            "the same SUB then unsubscribing from {} over ZMTP 3.1",
            show(TOPIC, 16)
        ),
    );

    let sub30 = Setup { minor: 0, ..sub31 };
    let mut session = open(ctx, &sub30, defaults)?;
    session
        .socket
        .set_subscribe(TOPIC)
        .context("subscribing the SUB")?;
    let subscribe = session.peer.read_frame("the ZMTP 3.0 subscription")?;
    session
        .socket
        .set_unsubscribe(TOPIC)
        .context("unsubscribing the SUB")?;
    let cancel = session.peer.read_frame("the ZMTP 3.0 cancellation")?;
    run.facts.push(format!(
        "To a ZMTP 3.0 peer (greeting minor version 0) a SUB subscribes with {} and cancels \
         with {}.",
        subscription_form(&subscribe),
        subscription_form(&cancel)
    ));
    run.frames(
        "subscribe_zmtp30.bin",
        subscribe.raw,
        format!(
            "a SUB subscribing to {} when our greeting says ZMTP 3.0",
            show(TOPIC, 16)
        ),
    );
    run.frames(
        "cancel_zmtp30.bin",
        cancel.raw,
        format!(
            "the same SUB then unsubscribing from {} over ZMTP 3.0",
            show(TOPIC, 16)
        ),
    );
    Ok(())
}

/// Records what a DEALER does when our READY announces the incompatible type PUB.
fn record_incompatible(ctx: &zmq::Context, run: &mut Run) -> Result<()> {
    let setup = Setup {
        kind: zmq::DEALER,
        minor: 1,
        reply_type: "PUB",
    };
    let mut session = open(ctx, &setup, defaults)?;
    let (bytes, ending) = session.peer.read_until_close()?;
    let ending = match ending {
        Ending::Closed => "closes the connection (EOF)",
        Ending::Reset => "resets the connection",
        Ending::StillOpen => "keeps the connection open (no close within 5 s)",
    };
    if bytes.is_empty() {
        run.facts.push(format!(
            "When our READY says Socket-Type PUB to a DEALER, libzmq sends nothing (no ERROR \
             command) and {ending}; so there is no error_incompatible.bin."
        ));
        run.absent.push("error_incompatible.bin");
    } else {
        run.facts.push(format!(
            "When our READY says Socket-Type PUB to a DEALER, libzmq sends {} and {ending}.",
            describe_frames(&bytes)
        ));
        run.frames(
            "error_incompatible.bin",
            bytes,
            format!(
                "everything a DEALER sends after our READY says Socket-Type PUB; then it \
                 {ending}"
            ),
        );
    }
    Ok(())
}

/// The generated `README.md` for the output directory.
fn readme(run: &Run) -> String {
    let mut out = String::new();
    let v = &run.version;
    let _ = writeln!(out, "# libzmq wire recordings\n");
    let _ = writeln!(
        out,
        "Exact bytes sent by a real libzmq {v} peer (the libzmq bundled by the `zmq` crate), \
         recorded by `interop_tests/src/bin/record_testdata.rs`, a raw ZMTP peer written from \
         RFC 37 without any monocoque code. Unit tests load them with `include_bytes!`.\n"
    );
    let _ = writeln!(
        out,
        "Re-record from the repository root with `scripts/record_testdata.sh` (runs `cargo run \
         -p monocoque-interop-tests --bin record-testdata -- monocoque-zmtp/testdata`). The \
         recordings are deterministic: the same libzmq version writes the same bytes on every \
         run. This file is generated by the recorder; edit the recorder, not this file.\n"
    );
    let _ = writeln!(out, "## Files\n");
    for r in &run.recordings {
        let _ = writeln!(
            out,
            "- `{}` ({} bytes, libzmq {v}): {}. Decoded: {}.",
            r.file,
            r.bytes.len(),
            r.what,
            r.decoded
        );
    }
    let _ = writeln!(out, "\n## Wire facts observed (libzmq {v})\n");
    for fact in &run.facts {
        let _ = writeln!(out, "- {fact}");
    }
    out
}

/// Records everything into `out_dir`.
fn record(out_dir: &Path) -> Result<()> {
    let (major, minor, patch) = zmq::version();
    let mut run = Run {
        version: format!("{major}.{minor}.{patch}"),
        recordings: Vec::new(),
        facts: Vec::new(),
        absent: Vec::new(),
    };
    println!(
        "recording from libzmq {} into {}",
        run.version,
        out_dir.display()
    );

    let ctx = zmq::Context::new();
    record_handshakes(&ctx, &mut run)?;
    record_messages(&ctx, &mut run)?;
    record_heartbeats(&ctx, &mut run)?;
    record_subscriptions(&ctx, &mut run)?;
    record_incompatible(&ctx, &mut run)?;

    fs::create_dir_all(out_dir).context(format!("creating {}", out_dir.display()))?;
    for r in &run.recordings {
        let path = out_dir.join(r.file);
        fs::write(&path, &r.bytes).context(format!("writing {}", path.display()))?;
        println!("{:<26} {:>6} bytes  {}", r.file, r.bytes.len(), r.decoded);
    }
    for file in &run.absent {
        let path = out_dir.join(file);
        if path.exists() {
            fs::remove_file(&path).context(format!("removing stale {}", path.display()))?;
        }
        println!("{file:<26} not written (libzmq sent nothing)");
    }
    let path = out_dir.join("README.md");
    fs::write(&path, readme(&run)).context(format!("writing {}", path.display()))?;
    for fact in &run.facts {
        println!("fact: {fact}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let out_dir = args
        .next()
        .map_or_else(|| PathBuf::from(DEFAULT_OUT_DIR), PathBuf::from);
    if args.next().is_some() {
        return fail("usage: record-testdata [OUTPUT_DIR]");
    }
    record(&out_dir).map_err(|e| Failure(format!("record-testdata: {e}")))
}
