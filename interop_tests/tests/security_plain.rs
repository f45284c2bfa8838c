//! PLAIN (RFC 24) against libzmq, monocoque as server and as client, over TCP and IPC, with
//! the server's authenticator (monocoque's in-process one, libzmq's ZAP handler) allowing the
//! right password and refusing a wrong one; and the refusals of a NULL peer against a PLAIN
//! server and of two PLAIN clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use monocoque::handle::Handle;
use monocoque::proto::{AuthDecision, AuthRequest, MechanismName, ProtocolError};
use monocoque::{Message, MonitorEventKind, SocketOptions, SocketType};
use monocoque_interop_tests::IpcPath;

const WAIT_MS: i32 = 10_000;

/// A libzmq socket of `kind` with PLAIN as `role` sets it up.
fn zmq_socket(context: &zmq::Context, kind: zmq::SocketType, role: Role) -> zmq::Socket {
    zmq_socket_with(context, kind, role, "secret")
}

fn zmq_socket_with(
    context: &zmq::Context,
    kind: zmq::SocketType,
    role: Role,
    password: &str,
) -> zmq::Socket {
    let socket = context.socket(kind).expect("a libzmq socket");
    socket.set_rcvtimeo(WAIT_MS).expect("rcvtimeo");
    socket.set_sndtimeo(WAIT_MS).expect("sndtimeo");
    socket.set_linger(0).expect("linger");
    match role {
        Role::Server => socket.set_plain_server(true).expect("plain server"),
        Role::Client => {
            socket
                .set_plain_username(Some("admin"))
                .expect("plain username");
            socket
                .set_plain_password(Some(password))
                .expect("plain password");
        }
        Role::Null => {}
    }
    socket
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Server,
    Client,
    Null,
}

/// Allows user `admin` with password `secret`, as user id `the admin`.
fn check(request: &AuthRequest<'_>) -> AuthDecision {
    match (request.username, request.password) {
        (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow {
            user_id: "the admin".into(),
        },
        _ => AuthDecision::Deny { status: 400 },
    }
}

fn options(role: Role) -> SocketOptions {
    options_with(role, "secret")
}

fn options_with(role: Role, password: &str) -> SocketOptions {
    let options = SocketOptions::new().linger(Some(Duration::ZERO));
    match role {
        Role::Server => options.plain_server(true).authenticator(check),
        Role::Client => options
            .plain_username("admin")
            .plain_password(password.to_owned()),
        Role::Null => options,
    }
}

/// libzmq's ZAP handler (RFC 27) in `context`, answering with [`check`], until dropped.
struct Zap {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Zap {
    fn start(context: &zmq::Context) -> Self {
        let handler = context.socket(zmq::REP).expect("a ZAP socket");
        handler.set_rcvtimeo(20).expect("rcvtimeo");
        handler
            .bind("inproc://zeromq.zap.01")
            .expect("the ZAP endpoint");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(request) = handler.recv_multipart(0) else {
                        continue;
                    };
                    // version, request id, domain, address, identity, mechanism, user, password
                    let plain = AuthRequest::plain("", None, &request[6], &request[7]);
                    let (status, user_id) = match check(&plain) {
                        AuthDecision::Allow { user_id } => ("200", user_id.to_vec()),
                        AuthDecision::Deny { status } => {
                            (if status == 400 { "400" } else { "500" }, Vec::new())
                        }
                    };
                    let reply = [
                        b"1.0".to_vec(),
                        request[1].clone(),
                        status.as_bytes().to_vec(),
                        b"".to_vec(),
                        user_id,
                        b"".to_vec(),
                    ];
                    handler.send_multipart(reply, 0).expect("a ZAP reply");
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Zap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn endpoints() -> Vec<(String, Option<IpcPath>)> {
    let ipc = IpcPath::new();
    vec![
        ("tcp://127.0.0.1:*".to_owned(), None),
        (ipc.endpoint(), Some(ipc)),
    ]
}

/// A libzmq REQ with PLAIN credentials asks a monocoque REP that is the PLAIN server.
#[test]
fn a_libzmq_plain_client_talks_to_a_monocoque_plain_server() {
    for (endpoint, _path) in endpoints() {
        let rep = Handle::new(
            monocoque::handle::Context::global().expect("context"),
            SocketType::Rep,
            options(Role::Server),
        )
        .expect("REP");
        let bound = rep
            .bind(&endpoint.replace(":*", ":0"))
            .expect("bind")
            .to_string();
        let zmq = zmq::Context::new();
        let req = zmq_socket(&zmq, zmq::REQ, Role::Client);
        req.connect(&bound).expect("connect");
        for i in 0..3 {
            req.send(format!("ping {i}").as_bytes(), 0).expect("send");
            let request = rep.recv_timeout(Duration::from_secs(10)).expect("request");
            assert_eq!(request, Message::from(format!("ping {i}")));
            rep.send(format!("pong {i}")).expect("reply");
            let reply = req.recv_bytes(0).expect("reply within the wait");
            assert_eq!(reply, format!("pong {i}").as_bytes(), "over {endpoint}");
        }
        rep.stop();
    }
}

/// A monocoque DEALER with PLAIN credentials talks to a libzmq ROUTER that is the PLAIN server.
#[test]
fn a_monocoque_plain_client_talks_to_a_libzmq_plain_server() {
    for (endpoint, _path) in endpoints() {
        let zmq = zmq::Context::new();
        let _zap = Zap::start(&zmq);
        let router = zmq_socket(&zmq, zmq::ROUTER, Role::Server);
        router.bind(&endpoint).expect("bind");
        let bound = router
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8");
        let dealer = Handle::new(
            monocoque::handle::Context::global().expect("context"),
            SocketType::Dealer,
            options(Role::Client),
        )
        .expect("DEALER");
        let events = dealer.monitor().expect("monitor");
        dealer.connect(&bound).expect("connect");
        dealer.send("hello").expect("send");
        let frames = router.recv_multipart(0).unwrap_or_else(|e| {
            let mut seen = Vec::new();
            while let Some(event) = events.try_recv() {
                seen.push(format!("{:?}", event.kind));
            }
            panic!("nothing within the wait ({e}); monocoque saw {seen:?}")
        });
        assert_eq!(frames[1], b"hello", "over {endpoint}");
        router
            .send_multipart([frames[0].clone(), b"welcome".to_vec()], 0)
            .expect("reply");
        let reply = dealer.recv_timeout(Duration::from_secs(10)).expect("reply");
        assert_eq!(reply, Message::from("welcome"));
        dealer.stop();
    }
}

/// Waits until the connection ends without a completed handshake: a handshake failure, or the
/// peer closing first (libzmq reads a whole greeting before sending the rest of its own, so a
/// mismatch it sees first closes the connection before we learn its mechanism).
fn refusal(monitor: &monocoque::Monitor) -> MonitorEventKind {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match monitor.try_recv() {
            Some(event) => match event.kind {
                kind @ (MonitorEventKind::HandshakeFailedProtocol { .. }
                | MonitorEventKind::HandshakeFailedAuth { .. }
                | MonitorEventKind::Disconnected { .. }) => return kind,
                MonitorEventKind::HandshakeSucceeded => panic!("a handshake succeeded: {event:?}"),
                other => seen.push(other),
            },
            None => thread::sleep(Duration::from_millis(1)),
        }
    }
    panic!("no handshake failure within the wait; saw {seen:?}");
}

/// A libzmq peer with NULL against a monocoque PLAIN server, and a libzmq PLAIN client against a
/// monocoque PLAIN client: each connection is refused with the reason, and no message crosses.
#[test]
fn mismatched_mechanisms_and_roles_are_refused() {
    let cases = [
        (Role::Server, Role::Null, "mechanism"),
        (Role::Client, Role::Client, "role"),
    ];
    for (mono_role, zmq_role, what) in cases {
        let pull = Handle::new(
            monocoque::handle::Context::global().expect("context"),
            SocketType::Pull,
            options(mono_role),
        )
        .expect("PULL");
        let monitor = pull.monitor().expect("monitor");
        let bound = pull.bind("tcp://127.0.0.1:0").expect("bind").to_string();
        let zmq = zmq::Context::new();
        let push = zmq_socket(&zmq, zmq::PUSH, zmq_role);
        push.connect(&bound).expect("connect");
        let _ = push.send("must not arrive".as_bytes(), zmq::DONTWAIT);
        let kind = refusal(&monitor);
        match what {
            // Whichever side sees the mismatch first: ours, or libzmq closing first.
            "mechanism" => assert!(
                matches!(
                    &kind,
                    MonitorEventKind::HandshakeFailedProtocol {
                        error: ProtocolError::MechanismMismatch {
                            local: MechanismName::PLAIN,
                            peer: MechanismName::NULL
                        }
                    } | MonitorEventKind::Disconnected { .. }
                ),
                "{kind:?}"
            ),
            // libzmq's greeting does not say its role: the second client's HELLO does, to
            // whichever side reads the other's first.
            _ => assert!(
                matches!(
                    &kind,
                    MonitorEventKind::HandshakeFailedProtocol {
                        error: ProtocolError::UnexpectedCommand { .. }
                    } | MonitorEventKind::Disconnected { .. }
                ),
                "{kind:?}"
            ),
        }
        assert_eq!(
            pull.recv_timeout(Duration::from_millis(200)),
            Err(monocoque::RecvError::TimedOut),
            "a message crossed a refused {what}"
        );
        pull.stop();
    }
}

/// A wrong password, each way: monocoque's server refuses a libzmq client (status 400 on its
/// monitor, nothing delivered), and libzmq's ZAP handler refuses a monocoque client (status 400
/// on the client's monitor, from the server's ERROR).
#[test]
fn a_wrong_password_is_refused_each_way() {
    // monocoque server, libzmq client.
    let pull = Handle::new(
        monocoque::handle::Context::global().expect("context"),
        SocketType::Pull,
        options(Role::Server),
    )
    .expect("PULL");
    let monitor = pull.monitor().expect("monitor");
    let bound = pull.bind("tcp://127.0.0.1:0").expect("bind").to_string();
    let zmq = zmq::Context::new();
    let push = zmq_socket_with(&zmq, zmq::PUSH, Role::Client, "guess");
    push.connect(&bound).expect("connect");
    let _ = push.send("must not arrive".as_bytes(), zmq::DONTWAIT);
    assert_eq!(
        refusal(&monitor),
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    assert_eq!(
        pull.recv_timeout(Duration::from_millis(200)),
        Err(monocoque::RecvError::TimedOut)
    );
    pull.stop();

    // libzmq server with its ZAP handler, monocoque client.
    let zmq = zmq::Context::new();
    let _zap = Zap::start(&zmq);
    let pull = zmq_socket(&zmq, zmq::PULL, Role::Server);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let bound = pull.get_last_endpoint().expect("endpoint").expect("utf-8");
    let push = Handle::new(
        monocoque::handle::Context::global().expect("context"),
        SocketType::Push,
        options_with(Role::Client, "guess"),
    )
    .expect("PUSH");
    let monitor = push.monitor().expect("monitor");
    push.connect(&bound).expect("connect");
    push.send("must not arrive").expect("queued");
    // libzmq sends this ERROR as `^RROR\x03400` (its C string `"\x05ERROR"` lost the `E` to
    // the hex escape); we read it as the refusal it is.
    let kind = refusal(&monitor);
    assert_eq!(kind, MonitorEventKind::HandshakeFailedAuth { status: 400 });
    pull.set_rcvtimeo(200).expect("rcvtimeo");
    assert!(
        pull.recv_bytes(0).is_err(),
        "a refused client's message arrived"
    );
    push.stop();
}
