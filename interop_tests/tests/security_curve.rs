//! CURVE (RFC 25/26) and PLAIN (RFC 24) against a libzmq that has CURVE: pyzmq's, whose wheel
//! bundles libzmq 4.3.5 with libsodium. The `zmq` crate's libzmq is built without CURVE, so the
//! peer here is a Python program (`py/zmq_peer.py`) run as a subprocess and read line by line.
//!
//! `scripts/pyzmq-env.sh` sets up the Python environment on first use (once per test binary), so
//! a plain `cargo test` works on a fresh machine.
//!
//! Every wait is bounded: the peer's stdout is read through a thread and a channel with
//! `recv_timeout`, monocoque's receives and monitors under `compio::time::timeout`, and the peer
//! itself gives up after its own `--timeout`; a peer still running when its test ends is killed.

use std::cell::RefCell;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use monocoque::curve::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
use monocoque::proto::{AuthDecision, AuthRequest, ProtocolError};
use monocoque::{
    DealerSocket, Message, Monitor, MonitorEventKind, PubSocket, PullSocket, PushSocket, RepSocket,
    ReqSocket, RouterSocket, SocketOptions, SubSocket,
};
use monocoque_interop_tests::IpcPath;

/// The longest any one wait (a line from the peer, a message, a monitor event) may take.
const WAIT: Duration = Duration::from_secs(10);

/// The peer's own limit on all its waits: longer than ours, so that our failure message (with
/// what the peer said) comes first.
const PEER_TIMEOUT_SECS: &str = "20";

/// How long one round of a publish-until-received loop waits for the subscriber.
const ROUND: Duration = Duration::from_millis(10);

/// How long a refused peer is watched for a message that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

/// The python of the venv that `scripts/pyzmq-env.sh` sets up (once per test binary).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pyzmq-env.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/pyzmq-env.sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "scripts/pyzmq-env.sh failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let python = stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .expect("scripts/pyzmq-env.sh printed the python path last");
        PathBuf::from(python)
    })
}

fn unhex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the peer"))
        .collect()
}

/// The frames of a `RECV` line (without the `RECV`).
fn frames(recv: &str) -> Vec<Vec<u8>> {
    recv.split_whitespace().map(unhex).collect()
}

/// The command line of one pyzmq peer, built up option by option.
struct PeerArgs(Vec<String>);

impl PeerArgs {
    /// A peer with a socket of `kind` (`REQ`, `ROUTER`, ...) doing `action` (see the script).
    fn new(kind: &str, action: &str) -> Self {
        Self(vec![
            format!("--type={kind}"),
            format!("--action={action}"),
            format!("--timeout={PEER_TIMEOUT_SECS}"),
        ])
    }

    // Values go after `=`: a Z85 key may begin with `-`, which argparse would take for an option.
    fn arg(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.0.push(format!("--{name}={}", value.as_ref()));
        self
    }

    fn flag(mut self, name: &str) -> Self {
        self.0.push(format!("--{name}"));
        self
    }

    fn bind(self, endpoint: &str) -> Self {
        self.arg("bind", endpoint)
    }

    fn connect(self, endpoint: &str) -> Self {
        self.arg("connect", endpoint)
    }

    fn curve_server(self, keys: &CurveKeyPair) -> Self {
        self.arg("mechanism", "curve")
            .flag("curve-server")
            .arg("secret", keys.secret.to_z85().as_str())
            .arg("public", keys.public.to_z85())
    }

    fn curve_client(self, server: &CurvePublicKey, keys: &CurveKeyPair) -> Self {
        self.arg("mechanism", "curve")
            .arg("server-key", server.to_z85())
            .arg("secret", keys.secret.to_z85().as_str())
            .arg("public", keys.public.to_z85())
    }

    fn plain_server(self) -> Self {
        self.arg("mechanism", "plain").flag("plain-server")
    }

    fn plain_client(self, username: &str, password: &str) -> Self {
        self.arg("mechanism", "plain")
            .arg("username", username)
            .arg("password", password)
    }

    fn zap_curve_key(self, key: &CurvePublicKey) -> Self {
        self.arg("zap-curve-key", key.to_z85())
    }

    fn zap_plain(self, username: &str, password: &str) -> Self {
        self.arg("zap-plain", format!("{username}={password}"))
    }

    fn monitor(self) -> Self {
        self.flag("monitor")
    }

    fn count(self, count: usize) -> Self {
        self.arg("count", count.to_string())
    }

    fn message(self, message: &str) -> Self {
        self.arg("message", message)
    }

    fn subscribe(self, topic: &str) -> Self {
        self.arg("subscribe", topic)
    }

    fn spawn(self) -> Peer {
        Peer::spawn(&self.0)
    }
}

/// A running pyzmq peer, killed when dropped.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Filled by a reader thread; behind a mutex so that a blocking task can wait on it.
    lines: Arc<Mutex<Receiver<String>>>,
    /// Whether the peer's stdout has ended.
    ended: bool,
    seen: RefCell<Vec<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Peer {
    fn spawn(args: &[String]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/zmq_peer.py");
        let mut child = Command::new(python())
            .arg("-u")
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the pyzmq peer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        thread::spawn({
            let stderr = stderr.clone();
            move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                if let Ok(mut stderr) = stderr.lock() {
                    stderr.push_str(&text);
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines: Arc::new(Mutex::new(lines)),
            ended: false,
            seen: RefCell::new(Vec::new()),
            stderr,
        }
    }

    /// The next line within `within`; `None` if none came (or the peer's output ended).
    ///
    /// The wait runs on compio's blocking pool, so monocoque's connections, on this thread,
    /// keep running meanwhile.
    async fn next_line(&mut self, within: Duration) -> Option<String> {
        if self.ended {
            return None;
        }
        let lines = self.lines.clone();
        let line = compio::runtime::spawn_blocking(move || {
            let lines = lines.lock().expect("the peer's line channel");
            lines.recv_timeout(within)
        })
        .await
        .expect("the task reading the peer's lines");
        match line {
            Ok(line) => {
                self.seen.borrow_mut().push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                None
            }
        }
    }

    /// The rest of the first line to come that is `word` or starts with `word `, within
    /// `within`; `None` if none came.
    async fn line_within(&mut self, word: &str, within: Duration) -> Option<String> {
        self.line_of_within(&[word], within)
            .await
            .map(|(_, rest)| rest)
    }

    /// The first line to come that is one of `words` or starts with one and a space, within
    /// `within`, as that word and the rest.
    async fn line_of_within<'w>(
        &mut self,
        words: &[&'w str],
        within: Duration,
    ) -> Option<(&'w str, String)> {
        let deadline = Instant::now() + within;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return None;
            }
            let line = self.next_line(remaining).await?;
            for word in words {
                if line == *word {
                    return Some((word, String::new()));
                }
                if let Some(rest) = line.strip_prefix(word).and_then(|r| r.strip_prefix(' ')) {
                    return Some((word, rest.to_owned()));
                }
            }
        }
    }

    /// [`line_of_within`](Self::line_of_within) [`WAIT`], or fails with what the peer said.
    async fn expect_one_of<'w>(&mut self, words: &[&'w str]) -> (&'w str, String) {
        match self.line_of_within(words, WAIT).await {
            Some(found) => found,
            None => panic!(
                "the pyzmq peer said none of {words:?} in time\n{}",
                self.report()
            ),
        }
    }

    /// [`line_within`](Self::line_within) [`WAIT`], or fails with everything the peer said.
    async fn expect(&mut self, word: &str) -> String {
        match self.line_within(word, WAIT).await {
            Some(rest) => rest,
            None => panic!(
                "the pyzmq peer did not say {word} in time\n{}",
                self.report()
            ),
        }
    }

    /// Fails if the peer says `word` within `within` (or has said it already).
    async fn expect_silence(&mut self, word: &str, within: Duration) {
        let said = |seen: &[String]| {
            seen.iter()
                .any(|line| line == word || line.starts_with(&format!("{word} ")))
        };
        let _ = self.line_within(word, within).await;
        let said_it = said(&self.seen.borrow());
        assert!(!said_it, "the peer said {word}\n{}", self.report());
    }

    /// The bound endpoint of a peer started with `--bind`.
    async fn endpoint(&mut self) -> String {
        self.expect("ENDPOINT").await
    }

    /// Tells a publishing peer to stop.
    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
    }

    /// Awaits `future` for at most [`WAIT`], or fails with what the peer said.
    async fn within<T>(&self, what: &str, future: impl Future<Output = T>) -> T {
        match compio::time::timeout(WAIT, future).await {
            Ok(value) => value,
            Err(_) => panic!("no {what} within {WAIT:?}\n{}", self.report()),
        }
    }

    /// Everything the peer printed so far, for failure messages.
    fn report(&self) -> String {
        let mut seen = self.seen.borrow_mut();
        if let Ok(lines) = self.lines.try_lock() {
            seen.extend(lines.try_iter());
        }
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!(
            "the pyzmq peer's stdout:\n  {}\nits stderr:\n{stderr}",
            seen.join("\n  ")
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Tcp,
    Ipc,
}

/// Endpoints to bind, on a port or path of their own: monocoque's (`:0`) and pyzmq's (`:*`),
/// with the IPC path that must outlive the test.
fn endpoints(transport: Transport) -> (String, String, Option<IpcPath>) {
    match transport {
        Transport::Tcp => (
            "tcp://127.0.0.1:0".to_owned(),
            "tcp://127.0.0.1:*".to_owned(),
            None,
        ),
        Transport::Ipc => {
            let path = IpcPath::new();
            (path.endpoint(), path.endpoint(), Some(path))
        }
    }
}

fn base() -> SocketOptions {
    SocketOptions::new().linger(Some(Duration::ZERO))
}

fn curve_server(keys: &CurveKeyPair) -> SocketOptions {
    base().curve_server(true).curve_keypair(keys)
}

fn curve_client(server: &CurvePublicKey, keys: &CurveKeyPair) -> SocketOptions {
    base().curve_server_key(*server).curve_keypair(keys)
}

/// Reads `monitor` until an event that `wanted` picks, within [`WAIT`].
async fn wait_event(
    monitor: &Monitor,
    peer: &Peer,
    wanted: impl Fn(&MonitorEventKind) -> bool,
) -> MonitorEventKind {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match compio::time::timeout(remaining, monitor.recv()).await {
            Ok(Some(event)) if wanted(&event.kind) => return event.kind,
            Ok(Some(event)) => seen.push(event.kind),
            Ok(None) => panic!("the monitor ended; it saw {seen:?}\n{}", peer.report()),
            Err(_) => panic!(
                "not the awaited monitor event within {WAIT:?}; saw {seen:?}\n{}",
                peer.report()
            ),
        }
    }
}

/// The events `monitor` holds now, none of which may be a successful handshake.
fn assert_no_handshake(monitor: &Monitor, peer: &Peer) {
    let mut seen = Vec::new();
    while let Some(event) = monitor.try_recv() {
        seen.push(event.kind);
    }
    assert!(
        !seen.contains(&MonitorEventKind::HandshakeSucceeded),
        "a refused handshake succeeded on monocoque's side: {seen:?}\n{}",
        peer.report()
    );
}

/// Whether the event ends a handshake, either way.
fn handshake_outcome(kind: &MonitorEventKind) -> bool {
    matches!(
        kind,
        MonitorEventKind::HandshakeFailedAuth { .. }
            | MonitorEventKind::HandshakeFailedProtocol { .. }
            | MonitorEventKind::HandshakeSucceeded
    )
}

// --- CURVE, monocoque as the server, pyzmq as the client -----------------------------------------

/// A pyzmq REQ, CURVE client, asks a monocoque REP, CURVE server: over TCP and over IPC.
#[compio::test]
async fn curve_pyzmq_req_asks_monocoque_rep() {
    for transport in [Transport::Tcp, Transport::Ipc] {
        let (endpoint, _, _path) = endpoints(transport);
        let server = CurveKeyPair::generate();
        let rep = RepSocket::with_options(curve_server(&server)).expect("REP");
        let bound = rep.bind(&endpoint).await.expect("bind").to_string();
        let mut peer = PeerArgs::new("REQ", "request")
            .connect(&bound)
            .curve_client(&server.public, &CurveKeyPair::generate())
            .message("ping")
            .count(3)
            .spawn();
        for i in 0..3 {
            let request = peer.within("request", rep.recv()).await.expect("request");
            assert_eq!(request, Message::from(format!("ping {i}")), "{transport:?}");
            rep.send(format!("pong {i}")).await.expect("reply");
            let reply = peer.expect("RECV").await;
            assert_eq!(
                frames(&reply),
                [format!("pong {i}").into_bytes()],
                "{transport:?}"
            );
        }
        peer.expect("DONE").await;
    }
}

/// A pyzmq DEALER, CURVE client, talks to a monocoque ROUTER, CURVE server.
#[compio::test]
async fn curve_pyzmq_dealer_talks_to_monocoque_router() {
    let server = CurveKeyPair::generate();
    let router = RouterSocket::with_options(curve_server(&server)).expect("ROUTER");
    let bound = router
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();
    let mut peer = PeerArgs::new("DEALER", "request")
        .connect(&bound)
        .curve_client(&server.public, &CurveKeyPair::generate())
        .message("job")
        .count(3)
        .spawn();
    for i in 0..3 {
        let mut request = peer
            .within("request", router.recv())
            .await
            .expect("request");
        let routing_id = request.pop_front().expect("the routing id");
        assert_eq!(request, Message::from(format!("job {i}")));
        router
            .send(Message::single(routing_id).with(format!("done {i}")))
            .await
            .expect("reply");
        assert_eq!(
            frames(&peer.expect("RECV").await),
            [format!("done {i}").into_bytes()]
        );
    }
    peer.expect("DONE").await;
}

/// A monocoque PUB, CURVE server, publishes to a pyzmq SUB, CURVE client, until it has one.
#[compio::test]
async fn curve_monocoque_pub_reaches_pyzmq_sub() {
    let server = CurveKeyPair::generate();
    let publisher = PubSocket::with_options(curve_server(&server)).expect("PUB");
    let bound = publisher
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();
    let mut peer = PeerArgs::new("SUB", "recv")
        .connect(&bound)
        .curve_client(&server.public, &CurveKeyPair::generate())
        .subscribe("news")
        .spawn();
    let deadline = Instant::now() + WAIT;
    let mut round = 0;
    let received = loop {
        assert!(
            Instant::now() < deadline,
            "the subscriber got nothing within {WAIT:?}\n{}",
            peer.report()
        );
        publisher
            .send(format!("other {round}"))
            .await
            .expect("publish");
        publisher
            .send(format!("news {round}"))
            .await
            .expect("publish");
        round += 1;
        if let Some(received) = peer.line_within("RECV", ROUND).await {
            break received;
        }
    };
    let received = frames(&received);
    assert_eq!(received.len(), 1);
    assert!(
        received[0].starts_with(b"news "),
        "{:?}",
        String::from_utf8_lossy(&received[0])
    );
    peer.expect("DONE").await;
}

/// The CURVE roles do not follow bind and connect: a monocoque PUSH, CURVE server, connects to
/// a pyzmq PULL, CURVE client, that binds.
#[compio::test]
async fn curve_monocoque_server_connects_to_pyzmq_client() {
    let server = CurveKeyPair::generate();
    let mut peer = PeerArgs::new("PULL", "recv")
        .bind("tcp://127.0.0.1:*")
        .curve_client(&server.public, &CurveKeyPair::generate())
        .spawn();
    let endpoint = peer.endpoint().await;
    let push = PushSocket::with_options(curve_server(&server)).expect("PUSH");
    push.connect(&endpoint).expect("connect");
    peer.within("send", push.send("upstream"))
        .await
        .expect("send");
    assert_eq!(frames(&peer.expect("RECV").await), [b"upstream".to_vec()]);
}

// --- CURVE, pyzmq as the server, monocoque as the client -----------------------------------------

/// A monocoque REQ, CURVE client, asks a pyzmq REP, CURVE server, that echoes.
#[compio::test]
async fn curve_monocoque_req_asks_pyzmq_rep() {
    let server = CurveKeyPair::generate();
    let mut peer = PeerArgs::new("REP", "echo")
        .bind("tcp://127.0.0.1:*")
        .curve_server(&server)
        .count(3)
        .spawn();
    let endpoint = peer.endpoint().await;
    let req = ReqSocket::with_options(curve_client(&server.public, &CurveKeyPair::generate()))
        .expect("REQ");
    req.connect(&endpoint).expect("connect");
    for i in 0..3 {
        let request = Message::from(format!("ping {i}")).with("two frames");
        peer.within("send", req.send(request.clone()))
            .await
            .expect("send");
        let reply = peer.within("reply", req.recv()).await.expect("reply");
        assert_eq!(reply, request);
    }
    peer.expect("DONE").await;
}

/// A monocoque DEALER, CURVE client, talks to a pyzmq ROUTER, CURVE server, that echoes: over
/// TCP and over IPC.
#[compio::test]
async fn curve_monocoque_dealer_talks_to_pyzmq_router() {
    for transport in [Transport::Tcp, Transport::Ipc] {
        let (_, endpoint, _path) = endpoints(transport);
        let server = CurveKeyPair::generate();
        let mut peer = PeerArgs::new("ROUTER", "echo")
            .bind(&endpoint)
            .curve_server(&server)
            .count(3)
            .spawn();
        let endpoint = peer.endpoint().await;
        let dealer = DealerSocket::with_options(
            curve_client(&server.public, &CurveKeyPair::generate()).routing_id("dealer-1"),
        )
        .expect("DEALER");
        dealer.connect(&endpoint).expect("connect");
        for i in 0..3 {
            peer.within("send", dealer.send(format!("job {i}")))
                .await
                .expect("send");
            let reply = peer.within("reply", dealer.recv()).await.expect("reply");
            assert_eq!(reply, Message::from(format!("job {i}")), "{transport:?}");
            assert_eq!(
                frames(&peer.expect("RECV").await),
                [b"dealer-1".to_vec(), format!("job {i}").into_bytes()],
                "{transport:?}"
            );
        }
        peer.expect("DONE").await;
    }
}

/// A pyzmq PUB, CURVE server, publishes until a monocoque SUB, CURVE client, has a message:
/// over TCP and over IPC.
#[compio::test]
async fn curve_pyzmq_pub_reaches_monocoque_sub() {
    for transport in [Transport::Tcp, Transport::Ipc] {
        let (_, endpoint, _path) = endpoints(transport);
        let server = CurveKeyPair::generate();
        let mut peer = PeerArgs::new("PUB", "publish")
            .bind(&endpoint)
            .curve_server(&server)
            .message("news")
            .spawn();
        let endpoint = peer.endpoint().await;
        let sub = SubSocket::with_options(curve_client(&server.public, &CurveKeyPair::generate()))
            .expect("SUB");
        sub.subscribe("news");
        sub.connect(&endpoint).expect("connect");
        let message = peer.within("publication", sub.recv()).await.expect("recv");
        assert!(
            message.frames().len() == 1 && message.frames()[0].starts_with(b"news "),
            "{message:?} over {transport:?}"
        );
        peer.stop();
        peer.expect("DONE").await;
    }
}

// --- Wrong server keys ---------------------------------------------------------------------------

/// A monocoque client with the wrong server key: pyzmq's server cannot open its HELLO and
/// reports a cryptographic protocol error; nothing is delivered.
#[compio::test]
async fn curve_monocoque_client_with_a_wrong_server_key_is_refused_by_pyzmq() {
    let server = CurveKeyPair::generate();
    let mut peer = PeerArgs::new("PULL", "recv")
        .bind("tcp://127.0.0.1:*")
        .curve_server(&server)
        .monitor()
        .spawn();
    let endpoint = peer.endpoint().await;
    let wrong = CurveKeyPair::generate().public;
    let push =
        PushSocket::with_options(curve_client(&wrong, &CurveKeyPair::generate())).expect("PUSH");
    let monitor = push.monitor();
    push.connect(&endpoint).expect("connect");
    // Queued for a connection that never completes, or refused outright: either is fine.
    let _ = push.try_send("must not arrive");
    let failure = peer.expect("EVENT_HANDSHAKE_FAILED_PROTOCOL").await;
    assert!(
        failure.ends_with(" ZMTP_CRYPTOGRAPHIC"),
        "{failure}\n{}",
        peer.report()
    );
    peer.expect_silence("RECV", QUIET).await;
    peer.expect_silence("EVENT_HANDSHAKE_SUCCEEDED", Duration::ZERO)
        .await;
    assert_no_handshake(&monitor, &peer);
}

/// A pyzmq client with the wrong server key: monocoque's server cannot open its HELLO and
/// reports a protocol failure; nothing is delivered.
#[compio::test]
async fn curve_pyzmq_client_with_a_wrong_server_key_is_refused_by_monocoque() {
    let server = CurveKeyPair::generate();
    let pull = PullSocket::with_options(curve_server(&server)).expect("PULL");
    let monitor = pull.monitor();
    let bound = pull
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();
    let wrong = CurveKeyPair::generate().public;
    let peer = PeerArgs::new("PUSH", "send")
        .connect(&bound)
        .curve_client(&wrong, &CurveKeyPair::generate())
        .monitor()
        .spawn();
    let kind = wait_event(&monitor, &peer, handshake_outcome).await;
    assert!(
        matches!(
            kind,
            MonitorEventKind::HandshakeFailedProtocol {
                error: ProtocolError::Cryptographic { .. }
            }
        ),
        "{kind:?}\n{}",
        peer.report()
    );
    assert!(
        compio::time::timeout(QUIET, pull.recv()).await.is_err(),
        "a message crossed a refused handshake\n{}",
        peer.report()
    );
}

// --- ZAP: pyzmq's authenticator judging monocoque's client key -----------------------------------

/// pyzmq's ThreadAuthenticator allows key A only; a monocoque client with key B is denied (400
/// on both monitors), and nothing is delivered.
#[compio::test]
async fn curve_pyzmq_zap_denies_an_unknown_monocoque_client_key() {
    let server = CurveKeyPair::generate();
    let (allowed, other) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut peer = PeerArgs::new("PULL", "recv")
        .bind("tcp://127.0.0.1:*")
        .curve_server(&server)
        .zap_curve_key(&allowed.public)
        .monitor()
        .spawn();
    let endpoint = peer.endpoint().await;
    let push = PushSocket::with_options(curve_client(&server.public, &other)).expect("PUSH");
    let monitor = push.monitor();
    push.connect(&endpoint).expect("connect");
    let _ = push.try_send("must not arrive");
    let kind = wait_event(&monitor, &peer, handshake_outcome).await;
    assert_eq!(
        kind,
        MonitorEventKind::HandshakeFailedAuth { status: 400 },
        "{}",
        peer.report()
    );
    assert_eq!(peer.expect("EVENT_HANDSHAKE_FAILED_AUTH").await, "400");
    peer.expect_silence("RECV", QUIET).await;
}

/// The same authenticator lets key A in; libzmq gives its messages the User-Id the
/// authenticator chose (pyzmq's: the key in Z85).
#[compio::test]
async fn curve_pyzmq_zap_allows_a_known_monocoque_client_key() {
    let server = CurveKeyPair::generate();
    let allowed = CurveKeyPair::generate();
    let mut peer = PeerArgs::new("PULL", "recv")
        .bind("tcp://127.0.0.1:*")
        .curve_server(&server)
        .zap_curve_key(&CurveKeyPair::generate().public)
        .zap_curve_key(&allowed.public)
        .monitor()
        .spawn();
    let endpoint = peer.endpoint().await;
    let push = PushSocket::with_options(curve_client(&server.public, &allowed)).expect("PUSH");
    let monitor = push.monitor();
    push.connect(&endpoint).expect("connect");
    peer.within("send", push.send("let me in"))
        .await
        .expect("send");
    assert_eq!(frames(&peer.expect("RECV").await), [b"let me in".to_vec()]);
    assert_eq!(peer.expect("USER_ID").await, allowed.public.to_z85());
    assert_eq!(
        wait_event(&monitor, &peer, handshake_outcome).await,
        MonitorEventKind::HandshakeSucceeded
    );
}

// --- monocoque's authenticator judging pyzmq's client key ----------------------------------------

/// An authenticator that lets in `allowed` only, as user `trusted`, and records every key it
/// was asked about.
fn key_checker(
    allowed: CurvePublicKey,
) -> (
    impl Fn(&AuthRequest<'_>) -> AuthDecision + Send + Sync + 'static,
    Arc<Mutex<Vec<CurvePublicKey>>>,
) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let check = {
        let asked = asked.clone();
        move |request: &AuthRequest<'_>| {
            if let Some(key) = request.curve_key {
                asked.lock().expect("the keys asked about").push(*key);
            }
            if request.curve_key == Some(&allowed) {
                AuthDecision::Allow {
                    user_id: "trusted".into(),
                }
            } else {
                AuthDecision::Deny { status: 400 }
            }
        }
    };
    (check, asked)
}

/// monocoque's authenticator denies a pyzmq client's key: the client's monitor reports an
/// authentication failure with status 400, and nothing is delivered.
#[compio::test]
async fn curve_monocoque_authenticator_denies_a_pyzmq_client_key() {
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let (check, asked) = key_checker(CurveKeyPair::generate().public);
    let pull = PullSocket::with_options(curve_server(&server).authenticator(check)).expect("PULL");
    let bound = pull
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();
    let mut peer = PeerArgs::new("PUSH", "send")
        .connect(&bound)
        .curve_client(&server.public, &client)
        .monitor()
        .spawn();
    assert_eq!(peer.expect("EVENT_HANDSHAKE_FAILED_AUTH").await, "400");
    assert!(
        compio::time::timeout(QUIET, pull.recv()).await.is_err(),
        "a denied client's message arrived\n{}",
        peer.report()
    );
    assert!(
        asked.lock().expect("keys").contains(&client.public),
        "the authenticator was not asked about the client's key\n{}",
        peer.report()
    );
}

/// monocoque's authenticator allows a pyzmq client's key: the message arrives, the
/// authenticator was asked about exactly that key, and the application reads the User-Id it
/// gave among the peer's properties.
#[compio::test]
async fn curve_monocoque_authenticator_allows_a_pyzmq_client_key() {
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let (check, asked) = key_checker(client.public);
    let pull = PullSocket::with_options(curve_server(&server).authenticator(check)).expect("PULL");
    let bound = pull
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();
    let mut peer = PeerArgs::new("PUSH", "send")
        .connect(&bound)
        .curve_client(&server.public, &client)
        .message("signed")
        .monitor()
        .spawn();
    let message = peer.within("message", pull.recv()).await.expect("recv");
    assert_eq!(message, Message::from("signed 0"));
    peer.expect("EVENT_HANDSHAKE_SUCCEEDED").await;
    assert_eq!(*asked.lock().expect("keys"), [client.public]);
    let peers = pull.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].user_id().map(|u| &u[..]), Some(&b"trusted"[..]));
}

// --- PLAIN against libzmq 4.3.5 ------------------------------------------------------------------

/// Allows user `admin` with password `secret`.
fn password_check(request: &AuthRequest<'_>) -> AuthDecision {
    match (request.username, request.password) {
        (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow {
            user_id: "the admin".into(),
        },
        _ => AuthDecision::Deny { status: 400 },
    }
}

/// pyzmq PLAIN clients against a monocoque PLAIN server: the right password gets through, a
/// wrong one is refused with 400 on both sides.
#[compio::test]
async fn plain_pyzmq_client_against_monocoque_server() {
    let pull = PullSocket::with_options(base().plain_server(true).authenticator(password_check))
        .expect("PULL");
    let monitor = pull.monitor();
    let bound = pull
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind")
        .to_string();

    let mut peer = PeerArgs::new("PUSH", "send")
        .connect(&bound)
        .plain_client("admin", "secret")
        .message("plain")
        .monitor()
        .spawn();
    let message = peer.within("message", pull.recv()).await.expect("recv");
    assert_eq!(message, Message::from("plain 0"));
    peer.expect("EVENT_HANDSHAKE_SUCCEEDED").await;
    assert_eq!(
        wait_event(&monitor, &peer, handshake_outcome).await,
        MonitorEventKind::HandshakeSucceeded
    );
    drop(peer);

    let mut peer = PeerArgs::new("PUSH", "send")
        .connect(&bound)
        .plain_client("admin", "guess")
        .monitor()
        .spawn();
    assert_eq!(
        wait_event(&monitor, &peer, handshake_outcome).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    // libzmq's PLAIN client looks for the ERROR name as `"\x05ERROR"` in C, which the hex
    // escape makes `^RROR`: our RFC 23 ERROR is an unexpected command to it.
    let (event, value) = peer
        .expect_one_of(&[
            "EVENT_HANDSHAKE_FAILED_AUTH",
            "EVENT_HANDSHAKE_FAILED_PROTOCOL",
        ])
        .await;
    assert!(
        (event, value.as_str()) == ("EVENT_HANDSHAKE_FAILED_AUTH", "400")
            || value.ends_with(" ZMTP_UNEXPECTED_COMMAND"),
        "{event} {value}\n{}",
        peer.report()
    );
    assert!(
        compio::time::timeout(QUIET, pull.recv()).await.is_err(),
        "a refused client's message arrived\n{}",
        peer.report()
    );
}

/// A monocoque PLAIN client against pyzmq's PLAIN server and ZAP handler: the right password
/// gets through (as User-Id `admin`), a wrong one is refused with 400 on both sides.
#[compio::test]
async fn plain_monocoque_client_against_pyzmq_server() {
    for (password, allowed) in [("secret", true), ("guess", false)] {
        let mut peer = PeerArgs::new("PULL", "recv")
            .bind("tcp://127.0.0.1:*")
            .plain_server()
            .zap_plain("admin", "secret")
            .monitor()
            .spawn();
        let endpoint = peer.endpoint().await;
        let push = PushSocket::with_options(
            base()
                .plain_username("admin")
                .plain_password(password.to_owned()),
        )
        .expect("PUSH");
        let monitor = push.monitor();
        push.connect(&endpoint).expect("connect");
        if allowed {
            peer.within("send", push.send("plain")).await.expect("send");
            assert_eq!(frames(&peer.expect("RECV").await), [b"plain".to_vec()]);
            assert_eq!(peer.expect("USER_ID").await, "admin");
        } else {
            let _ = push.try_send("must not arrive");
            // libzmq's PLAIN (not its CURVE) sends its ERROR as `^RROR\x03400`: read as the
            // refusal it is.
            let kind = wait_event(&monitor, &peer, handshake_outcome).await;
            assert_eq!(
                kind,
                MonitorEventKind::HandshakeFailedAuth { status: 400 },
                "{}",
                peer.report()
            );
            assert_eq!(peer.expect("EVENT_HANDSHAKE_FAILED_AUTH").await, "400");
            peer.expect_silence("RECV", QUIET).await;
        }
    }
}

// --- Keys ----------------------------------------------------------------------------------------

/// Keypairs that libzmq generates (`zmq_curve_keypair`) read as monocoque's keys, and the
/// public key monocoque derives from the secret one is libzmq's (`zmq_curve_public`).
#[compio::test]
async fn libzmq_keypairs_are_monocoque_keys() {
    const PAIRS: usize = 16;
    let mut peer = PeerArgs::new("PAIR", "keypair").count(PAIRS).spawn();
    for _ in 0..PAIRS {
        let public = peer.expect("PUBLIC").await;
        let secret = peer.expect("SECRET").await;
        let derived = peer.expect("DERIVED").await;
        let public_key = CurvePublicKey::from_z85(&public).expect("libzmq's public key");
        let secret_key = CurveSecretKey::from_z85(&secret).expect("libzmq's secret key");
        assert_eq!(public_key.to_z85(), public);
        assert_eq!(*secret_key.to_z85(), secret);
        assert_eq!(secret_key.public_key(), public_key);
        assert_eq!(secret_key.public_key().to_z85(), derived);
    }
    peer.expect("DONE").await;
}
