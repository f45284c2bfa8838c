//! CURVE between monocoque sockets: keys, the authenticator's decisions on both monitors, the
//! User-Id the application reads, ciphertext on the wire, and hostile peers that leave the
//! others untouched.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TCP_ANY, wait_until, within};
use monocoque::curve::CurveKeyPair;
use monocoque::proto::{AuthDecision, AuthRequest, MechanismName, ProtocolError};
use monocoque::{
    Message, Monitor, MonitorEventKind, OptionError, OptionName, PullSocket, PushSocket, RepSocket,
    ReqSocket, SocketOptions,
};

fn server(keys: &CurveKeyPair) -> SocketOptions {
    SocketOptions::new().curve_server(true).curve_keypair(keys)
}

fn client(keys: &CurveKeyPair, server: &CurveKeyPair) -> SocketOptions {
    SocketOptions::new()
        .curve_server_key(server.public)
        .curve_keypair(keys)
}

async fn outcome(monitor: &Monitor) -> MonitorEventKind {
    within("a handshake outcome", async {
        loop {
            let event = monitor.recv().await.expect("the monitor");
            if matches!(
                event.kind,
                MonitorEventKind::HandshakeSucceeded
                    | MonitorEventKind::HandshakeFailedAuth { .. }
                    | MonitorEventKind::HandshakeFailedProtocol { .. }
            ) {
                return event.kind;
            }
        }
    })
    .await
}

#[compio::test]
async fn req_rep_over_curve_with_the_user_id_on_the_peer_and_the_monitor() {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let allowed = client_keys.public;
    let rep = RepSocket::with_options(server(&server_keys).authenticator(
        move |request: &AuthRequest<'_>| match request.curve_key {
            Some(key) if *key == allowed => AuthDecision::Allow {
                user_id: "alice".into(),
            },
            _ => AuthDecision::Deny { status: 400 },
        },
    ))
    .unwrap();
    let events = rep.monitor();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let req = ReqSocket::with_options(client(&client_keys, &server_keys)).unwrap();
    req.connect(&endpoint).unwrap();
    req.send("ping").await.unwrap();
    assert_eq!(
        within("the request", rep.recv()).await.unwrap(),
        Message::from("ping")
    );
    rep.send("pong").await.unwrap();
    assert_eq!(
        within("the reply", req.recv()).await.unwrap(),
        Message::from("pong")
    );

    let peers = rep.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].user_id().map(|u| &u[..]), Some(&b"alice"[..]));
    assert_eq!(peers[0].info.mechanism, MechanismName::CURVE);
    assert_eq!(
        req.peers()[0].property("Socket-Type").map(|v| &v[..]),
        Some(&b"REP"[..])
    );
    let succeeded = within("the handshake event", async {
        loop {
            let event = events.recv().await.unwrap();
            if event.kind == MonitorEventKind::HandshakeSucceeded {
                return event;
            }
        }
    })
    .await;
    let metadata = succeeded
        .peer_metadata
        .expect("metadata on HandshakeSucceeded");
    assert_eq!(metadata.get("User-Id").map(|v| &v[..]), Some(&b"alice"[..]));
}

#[compio::test]
async fn without_an_authenticator_any_client_that_knows_the_server_key_gets_in() {
    let server_keys = CurveKeyPair::generate();
    let pull = PullSocket::with_options(server(&server_keys)).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    // A client that sets no keypair of its own gets a fresh one.
    let push = PushSocket::with_options(SocketOptions::new().curve_server_key(server_keys.public))
        .unwrap();
    push.connect(&endpoint).unwrap();
    push.send("anonymous").await.unwrap();
    assert_eq!(
        within("the message", pull.recv()).await.unwrap(),
        Message::from("anonymous")
    );
    assert_eq!(pull.peers()[0].user_id(), None);
}

#[compio::test]
async fn a_denied_key_is_refused_on_both_monitors_and_delivers_nothing() {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let pull = PullSocket::with_options(
        server(&server_keys)
            .authenticator(|_: &AuthRequest<'_>| AuthDecision::Deny { status: 400 }),
    )
    .unwrap();
    let server_events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(client(&client_keys, &server_keys)).unwrap();
    let client_events = push.monitor();
    push.connect(&endpoint).unwrap();
    push.send("must not arrive").await.unwrap();
    assert_eq!(
        outcome(&server_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    assert_eq!(
        outcome(&client_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    let waited = compio::time::timeout(Duration::from_millis(200), pull.recv()).await;
    assert!(waited.is_err(), "a refused client's message arrived");
}

#[compio::test]
async fn the_wrong_server_key_fails_the_handshake_on_the_server() {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let pull = PullSocket::with_options(server(&server_keys)).unwrap();
    let events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(client(&client_keys, &CurveKeyPair::generate())).unwrap();
    push.connect(&endpoint).unwrap();
    assert_eq!(
        outcome(&events).await,
        MonitorEventKind::HandshakeFailedProtocol {
            error: ProtocolError::Cryptographic { what: "HELLO" }
        }
    );
}

#[compio::test]
async fn bad_key_options_are_refused_when_the_socket_is_made() {
    let no_secret = PullSocket::with_options(SocketOptions::new().curve_server(true));
    assert!(matches!(
        no_secret.err(),
        Some(OptionError::InvalidValue {
            option: OptionName::CurveServer,
            ..
        })
    ));
    let keys = CurveKeyPair::generate();
    let mismatched = SocketOptions::new()
        .curve_server(true)
        .curve_secret_key(keys.secret)
        .curve_public_key(CurveKeyPair::generate().public);
    assert!(PullSocket::with_options(mismatched).is_err());
}

/// Copies bytes between one accepted connection and `upstream`, keeping what went each way.
struct Relay {
    endpoint: String,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the test's own socket");
        let endpoint = format!(
            "tcp://{}",
            listener.local_addr().expect("the test's own socket")
        );
        let upstream = upstream.trim_start_matches("tcp://").to_owned();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let Ok((downstream, _)) = listener.accept() else {
                return;
            };
            let upstream = TcpStream::connect(upstream).expect("the test's own socket");
            let pump = |mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Vec<u8>>>| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        log.lock()
                            .expect("the test's own socket")
                            .extend_from_slice(&buf[..n]);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                })
            };
            let a = pump(
                downstream.try_clone().expect("the test's own socket"),
                upstream.try_clone().expect("the test's own socket"),
                log.clone(),
            );
            let b = pump(upstream, downstream, log);
            let _ = (a.join(), b.join());
        });
        Self { endpoint, seen }
    }
}

#[compio::test]
async fn curve_traffic_on_the_wire_carries_no_plaintext() {
    const PAYLOAD: &str = "the launch code is 0000";
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let rep = RepSocket::with_options(server(&server_keys)).unwrap();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let relay = Relay::start(&endpoint);
    let req =
        ReqSocket::with_options(client(&client_keys, &server_keys).routing_id("SECRET-IDENTITY"))
            .unwrap();
    req.connect(&relay.endpoint).unwrap();
    for _ in 0..10 {
        req.send(PAYLOAD).await.unwrap();
        let request = within("the request", rep.recv()).await.unwrap();
        assert_eq!(request, Message::from(PAYLOAD));
        rep.send(request).await.unwrap();
        assert_eq!(
            within("the reply", req.recv()).await.unwrap(),
            Message::from(PAYLOAD)
        );
    }
    let seen = relay.seen.lock().unwrap().clone();
    // Both greetings went through the relay: it saw the traffic.
    assert!(seen.windows(5).filter(|w| w == b"CURVE").count() >= 2);
    for needle in [
        PAYLOAD.as_bytes(),
        b"SECRET-IDENTITY",
        b"Socket-Type",
        b"REQ",
    ] {
        assert!(
            !seen.windows(needle.len()).any(|w| w == needle),
            "{:?} crossed the wire in clear",
            String::from_utf8_lossy(needle)
        );
    }
}

/// Raw bytes from a peer that never completes a CURVE handshake, or breaks one.
fn hostile(endpoint: &str, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let address = endpoint.trim_start_matches("tcp://").to_owned();
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("the test's own socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("the test's own socket");
        let _ = stream.write_all(&bytes);
        // Until the server closes on us (or the bound).
        let mut sink = [0u8; 4096];
        while let Ok(1..) = stream.read(&mut sink) {}
    })
}

fn curve_greeting() -> Vec<u8> {
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    let mut mechanism = [0u8; 20];
    mechanism[..5].copy_from_slice(b"CURVE");
    greeting.extend_from_slice(&mechanism);
    greeting.push(0);
    greeting.extend_from_slice(&[0; 31]);
    greeting
}

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(body);
    frame
}

#[compio::test]
async fn hostile_handshakes_close_only_their_own_connections() {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let pull = PullSocket::with_options(server(&server_keys)).unwrap();
    let events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let good = PushSocket::with_options(client(&client_keys, &server_keys)).unwrap();
    good.connect(&endpoint).unwrap();
    good.send("before").await.unwrap();
    assert_eq!(
        within("the first message", pull.recv()).await.unwrap(),
        Message::from("before")
    );

    // A short HELLO, a HELLO whose box was made for another server, an INITIATE before any
    // HELLO.
    let mut short_hello = curve_greeting();
    short_hello.extend(command_frame(b"\x05HELLO\x01\x00"));
    let mut forged_hello = curve_greeting();
    let mut body = b"\x05HELLO\x01\x00".to_vec();
    body.resize(200, 0x42);
    forged_hello.extend(vec![0x04, 200]);
    forged_hello.extend(body);
    let mut early_initiate = curve_greeting();
    let mut body = b"\x08INITIATE".to_vec();
    body.resize(250, 0);
    early_initiate.extend(command_frame(&body));
    let attackers: Vec<_> = [short_hello, forged_hello, early_initiate]
        .into_iter()
        .map(|bytes| hostile(&endpoint, bytes))
        .collect();

    let mut failures = Vec::new();
    within("three refusals", async {
        while failures.len() < 3 {
            let event = events.recv().await.unwrap();
            if let MonitorEventKind::HandshakeFailedProtocol { error } = event.kind {
                failures.push(error);
            }
        }
    })
    .await;
    assert!(failures.contains(&ProtocolError::MalformedCommandBody { command: "HELLO" }));
    assert!(failures.contains(&ProtocolError::Cryptographic { what: "HELLO" }));
    assert!(
        failures
            .iter()
            .any(|e| matches!(e, ProtocolError::UnexpectedCommand { .. })),
        "{failures:?}"
    );
    for attacker in attackers {
        attacker.join().unwrap();
    }

    good.send("after").await.unwrap();
    assert_eq!(
        within("the good client's next message", pull.recv())
            .await
            .unwrap(),
        Message::from("after")
    );
    wait_until("one peer left", || pull.peers().len() == 1).await;
}

#[compio::test]
async fn connections_past_the_pending_handshake_limit_are_closed_until_places_free_up() {
    let server_keys = CurveKeyPair::generate();
    let pull = PullSocket::with_options(
        server(&server_keys)
            .max_pending_handshakes(10)
            .max_pending_handshakes_per_address(2),
    )
    .unwrap();
    let events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let address = endpoint.trim_start_matches("tcp://").to_owned();
    // Two connections that say nothing hold this address's two places.
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    let mut accepted = 0;
    within("two accepts", async {
        while accepted < 2 {
            if events.recv().await.unwrap().kind == MonitorEventKind::Accepted {
                accepted += 1;
            }
        }
    })
    .await;
    // A third is closed before it can send anything.
    let mut third = TcpStream::connect(&address).unwrap();
    third.set_read_timeout(Some(common::WAIT)).unwrap();
    let refused = within("the refusal", async {
        loop {
            if let MonitorEventKind::AcceptFailed { error } = events.recv().await.unwrap().kind {
                return error;
            }
        }
    })
    .await;
    assert!(refused.contains("from this address"), "{refused}");
    let mut byte = [0u8; 1];
    assert_eq!(
        third.read(&mut byte).unwrap_or(0),
        0,
        "the third was served"
    );

    // Once the silent ones go, a real client gets in.
    drop(silent);
    let push = PushSocket::with_options(SocketOptions::new().curve_server_key(server_keys.public))
        .unwrap();
    push.connect(&endpoint).unwrap();
    push.send("after the flood").await.unwrap();
    assert_eq!(
        within("the message", pull.recv()).await.unwrap(),
        Message::from("after the flood")
    );
}
