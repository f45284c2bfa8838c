//! CURVE over whole connections: the handshake, boxed traffic, and what a hostile peer tries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use monocoque_core::Message;

use super::*;
use crate::proto::{
    Command, Connection, ConnectionConfig, ConnectionEvent, DisconnectReason, HeartbeatConfig,
    SharedAuthenticator, SocketType, Subscription, USER_ID,
};

struct Side {
    conn: Connection,
    inbox: BytesMut,
    events: Vec<ConnectionEvent>,
    error: Option<DisconnectReason>,
    /// Everything this side wrote, as the wire saw it.
    wire: Vec<u8>,
}

impl Side {
    fn new(socket_type: SocketType, mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        Self::with_config(ConnectionConfig::new(socket_type), mechanism, now)
    }

    fn with_config(config: ConnectionConfig, mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        let config = config.heartbeat(HeartbeatConfig::every(Duration::from_millis(100)));
        Self {
            conn: Connection::new(config, mechanism, now),
            inbox: BytesMut::new(),
            events: Vec::new(),
            error: None,
            wire: Vec::new(),
        }
    }

    fn read(&mut self, now: Instant) {
        if self.error.is_some() {
            return;
        }
        loop {
            match self.conn.poll_input(&mut self.inbox, now) {
                Ok(Some(event)) => self.events.push(event),
                Ok(None) => return,
                Err(reason) => {
                    self.error = Some(reason);
                    return;
                }
            }
        }
    }

    fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ConnectionEvent::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Moves bytes between `a` and `b` until neither writes more.
fn drive(a: &mut Side, b: &mut Side, now: Instant) {
    for _ in 0..32 {
        let mut moved = false;
        while let Some(chunks) = a.conn.poll_transmit() {
            for c in chunks {
                a.wire.extend_from_slice(&c);
                b.inbox.extend_from_slice(&c);
            }
            moved = true;
        }
        while let Some(chunks) = b.conn.poll_transmit() {
            for c in chunks {
                b.wire.extend_from_slice(&c);
                a.inbox.extend_from_slice(&c);
            }
            moved = true;
        }
        a.read(now);
        b.read(now);
        if !moved {
            return;
        }
    }
}

fn server(keys: &CurveKeyPair, auth: AuthContext) -> Box<dyn Mechanism> {
    Box::new(CurveServer::new(keys.secret.clone(), auth))
}

fn client(keys: &CurveKeyPair, server: CurvePublicKey) -> Box<dyn Mechanism> {
    Box::new(CurveClient::new(keys.clone(), server))
}

fn authenticator(
    f: impl Fn(&AuthRequest<'_>) -> AuthDecision + Send + Sync + 'static,
) -> AuthContext {
    AuthContext {
        authenticator: Some(SharedAuthenticator(Arc::new(f))),
        domain: "global".into(),
        address: Some("10.0.0.7:4000".into()),
        deferred: None,
    }
}

fn established(side: &Side) -> bool {
    side.events
        .iter()
        .any(|e| matches!(e, ConnectionEvent::Established(_)))
}

#[test]
fn boxed_traffic_carries_messages_subscriptions_and_heartbeats_and_no_plaintext() {
    let now = Instant::now();
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let wanted = client_keys.public;
    let mut a = Side::new(
        SocketType::Pub,
        server(
            &server_keys,
            authenticator(move |r| match r.curve_key {
                Some(key) if *key == wanted && r.domain == "global" => AuthDecision::Allow {
                    user_id: "alice".into(),
                },
                _ => AuthDecision::Deny { status: 400 },
            }),
        ),
        now,
    );
    let mut b = Side::new(
        SocketType::Sub,
        client(&client_keys, server_keys.public),
        now,
    );
    drive(&mut a, &mut b, now);
    assert!(
        established(&a) && established(&b),
        "{:?} {:?}",
        a.error,
        b.error
    );
    let ConnectionEvent::Established(peer) = &a.events[0] else {
        panic!("first event");
    };
    assert_eq!(
        peer.metadata.get(USER_ID).map(|v| &v[..]),
        Some(&b"alice"[..])
    );
    assert_eq!(peer.mechanism, MechanismName::CURVE);

    let subscribe = Subscription::subscribe(Bytes::from_static(b"SECRET-TOPIC"));
    subscribe.encode_for(crate::proto::Version::V3_1, b.conn.transmit_buffer());
    let big = Bytes::from(vec![0x5a; 100_000]);
    for i in 0..50u8 {
        let message = Message::from_iter([
            Bytes::from_static(b"SECRET-TOPIC"),
            Bytes::from(format!("PLAINTEXT-PAYLOAD-{i}")),
        ]);
        a.conn.transmit_buffer().push_message(&message);
    }
    a.conn
        .transmit_buffer()
        .push_message(&Message::single(big.clone()));
    drive(&mut a, &mut b, now);
    assert!(
        a.error.is_none() && b.error.is_none(),
        "{:?} {:?}",
        a.error,
        b.error
    );
    assert!(a.events.contains(&ConnectionEvent::Subscription(subscribe)));
    let got = b.messages();
    assert_eq!(got.len(), 51);
    assert_eq!(&got[7].frames()[1][..], b"PLAINTEXT-PAYLOAD-7");
    assert_eq!(got[50].frames()[0], big);

    // Heartbeats go boxed too, and are answered.
    let later = now + Duration::from_millis(150);
    a.conn.handle_timeout(later).unwrap();
    b.conn.handle_timeout(later).unwrap();
    drive(&mut a, &mut b, later);
    assert!(
        a.error.is_none() && b.error.is_none(),
        "{:?} {:?}",
        a.error,
        b.error
    );

    for wire in [&a.wire, &b.wire] {
        for needle in [
            &b"SECRET-TOPIC"[..],
            b"PLAINTEXT-PAYLOAD",
            b"PING",
            b"PONG",
            b"\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a",
        ] {
            assert!(
                !wire.windows(needle.len()).any(|w| w == needle),
                "{:?} seen in clear",
                String::from_utf8_lossy(needle)
            );
        }
        // The metadata too: the socket types are boxed.
        assert!(!wire.windows(3).any(|w| w == b"SUB"));
    }
}

#[test]
fn a_client_with_the_wrong_server_key_is_refused_at_hello() {
    let now = Instant::now();
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Side::new(
        SocketType::Rep,
        server(&server_keys, AuthContext::default()),
        now,
    );
    let wrong = CurveKeyPair::generate().public;
    let mut b = Side::new(SocketType::Req, client(&client_keys, wrong), now);
    drive(&mut a, &mut b, now);
    assert_eq!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(&ProtocolError::Cryptographic { what: "HELLO" })
    );
    assert!(!established(&b));
}

#[test]
fn a_denied_key_gets_error_with_the_status_and_no_data_through() {
    let now = Instant::now();
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Side::new(
        SocketType::Pull,
        server(
            &server_keys,
            authenticator(|_| AuthDecision::Deny { status: 400 }),
        ),
        now,
    );
    let mut b = Side::new(
        SocketType::Push,
        client(&client_keys, server_keys.public),
        now,
    );
    drive(&mut a, &mut b, now);
    let status = |side: &Side| match side
        .error
        .as_ref()
        .and_then(DisconnectReason::protocol_error)
    {
        Some(ProtocolError::AuthenticationFailed { status }) => Some(*status),
        _ => None,
    };
    assert_eq!(status(&a), Some(400));
    assert_eq!(status(&b), Some(400));
    assert!(!established(&a) && !established(&b));
}

/// Runs a handshake and returns both sides established, for the traffic tests.
fn pair(now: Instant) -> (Side, Side) {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Side::new(
        SocketType::Pull,
        server(&server_keys, AuthContext::default()),
        now,
    );
    let mut b = Side::new(
        SocketType::Push,
        client(&client_keys, server_keys.public),
        now,
    );
    drive(&mut a, &mut b, now);
    assert!(established(&a) && established(&b));
    (a, b)
}

/// The next frame `side` would write, as raw bytes.
fn next_frame(side: &mut Side, message: &Message) -> Vec<u8> {
    side.conn.transmit_buffer().push_message(message);
    let mut bytes = Vec::new();
    while let Some(chunks) = side.conn.poll_transmit() {
        chunks.iter().for_each(|c| bytes.extend_from_slice(c));
    }
    bytes
}

#[test]
fn a_tampered_box_closes_the_connection() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let mut frame = next_frame(&mut b, &Message::from("pay 10"));
    let last = frame.len() - 1;
    frame[last] ^= 1;
    a.inbox.extend_from_slice(&frame);
    a.read(now);
    assert_eq!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(&ProtocolError::Cryptographic { what: "MESSAGE" })
    );
    assert!(a.messages().is_empty());
}

#[test]
fn a_replayed_or_reordered_message_closes_the_connection() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let first = next_frame(&mut b, &Message::from("pay 10"));
    let second = next_frame(&mut b, &Message::from("pay 20"));
    a.inbox.extend_from_slice(&first);
    a.inbox.extend_from_slice(&first);
    a.read(now);
    assert_eq!(a.messages(), [Message::from("pay 10")]);
    assert!(matches!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(ProtocolError::InvalidNonce { .. })
    ));

    let (mut a, mut b) = pair(now);
    let first = next_frame(&mut b, &Message::from("pay 10"));
    let second_again = next_frame(&mut b, &Message::from("pay 20"));
    assert_ne!(second, second_again); // fresh keys, fresh boxes
    a.inbox.extend_from_slice(&second_again);
    a.inbox.extend_from_slice(&first);
    a.read(now);
    assert_eq!(a.messages(), [Message::from("pay 20")]);
    assert!(matches!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(ProtocolError::InvalidNonce { .. })
    ));
}

#[test]
fn a_captured_hello_and_initiate_replayed_to_a_new_connection_are_refused() {
    let now = Instant::now();
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Side::new(
        SocketType::Pull,
        server(&server_keys, AuthContext::default()),
        now,
    );
    let mut b = Side::new(
        SocketType::Push,
        client(&client_keys, server_keys.public),
        now,
    );
    drive(&mut a, &mut b, now);
    assert!(established(&a));
    // What the client wrote: greeting, HELLO, INITIATE. An attacker replays it all.
    let captured = b.wire.clone();
    let mut replay = Side::new(
        SocketType::Pull,
        server(&server_keys, AuthContext::default()),
        now,
    );
    replay.inbox.extend_from_slice(&captured);
    replay.read(now);
    assert_eq!(
        replay
            .error
            .as_ref()
            .and_then(DisconnectReason::protocol_error),
        Some(&ProtocolError::Cryptographic {
            what: "INITIATE cookie"
        })
    );
    assert!(!established(&replay));
}

#[test]
fn short_or_malformed_handshake_commands_are_typed_errors() {
    let now = Instant::now();
    let server_keys = CurveKeyPair::generate();
    let feed = |body: &[u8]| {
        let mut side = Side::new(
            SocketType::Pull,
            server(&server_keys, AuthContext::default()),
            now,
        );
        side.inbox
            .extend_from_slice(&Greeting::new(MechanismName::CURVE, false).encode());
        let mut out = crate::proto::WriteBuffer::new();
        out.push_command_body(&Bytes::copy_from_slice(body));
        side.inbox.extend_from_slice(&out.take_contiguous());
        side.read(now);
        side.error
            .as_ref()
            .and_then(DisconnectReason::protocol_error)
            .cloned()
    };
    assert_eq!(
        feed(b"\x05HELLO\x01\x00"),
        Some(ProtocolError::MalformedCommandBody { command: "HELLO" })
    );
    let mut hello = vec![0u8; HELLO_LEN];
    hello[..6].copy_from_slice(HELLO);
    hello[6] = 1;
    assert_eq!(
        feed(&hello),
        Some(ProtocolError::Cryptographic { what: "HELLO" })
    );
    hello[6] = 2;
    assert_eq!(
        feed(&hello),
        Some(ProtocolError::MalformedCommandBody { command: "HELLO" })
    );
    assert!(matches!(
        feed(b"\x08INITIATE"),
        Some(ProtocolError::UnexpectedCommand { .. })
    ));
    assert!(matches!(
        feed(
            &Command::Ping {
                ttl_deciseconds: 0,
                context: Bytes::new()
            }
            .to_bytes()
        ),
        Some(ProtocolError::UnexpectedCommand { .. })
    ));
}

#[test]
fn after_the_handshake_a_frame_in_clear_is_refused() {
    let now = Instant::now();
    let (mut a, _b) = pair(now);
    let mut out = crate::proto::WriteBuffer::new();
    out.push_message(&Message::from("not boxed"));
    a.inbox.extend_from_slice(&out.take_contiguous());
    a.read(now);
    assert!(matches!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(ProtocolError::UnexpectedCommand { .. })
    ));
    assert!(a.messages().is_empty());
}

#[test]
fn a_deferred_server_waits_for_the_zap_decision_and_reads_nothing_meanwhile() {
    let now = Instant::now();
    for allow in [true, false] {
        let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
        let deferred = AuthContext {
            deferred: Some(|| true),
            domain: "d".into(),
            ..AuthContext::default()
        };
        let mut a = Side::new(SocketType::Pull, server(&server_keys, deferred), now);
        let mut b = Side::new(
            SocketType::Push,
            client(&client_keys, server_keys.public),
            now,
        );
        drive(&mut a, &mut b, now);
        assert!(!established(&a) && !established(&b));
        let query = a.conn.take_auth_query().expect("the server asks");
        assert_eq!(query.curve_key, Some(client_keys.public));
        assert_eq!(
            (query.domain.as_str(), query.mechanism),
            ("d", MechanismName::CURVE)
        );
        assert_eq!(a.conn.take_auth_query(), None, "asked once");
        let decision = if allow {
            AuthDecision::Allow {
                user_id: "zap-user".into(),
            }
        } else {
            AuthDecision::Deny { status: 400 }
        };
        let resumed = a.conn.resume_auth(decision);
        assert_eq!(resumed.is_ok(), allow);
        drive(&mut a, &mut b, now);
        if allow {
            let ConnectionEvent::Established(peer) = &a.events[0] else {
                panic!("{:?}", a.events);
            };
            assert_eq!(
                peer.metadata.get(USER_ID).map(|v| &v[..]),
                Some(&b"zap-user"[..])
            );
            assert!(established(&b));
        } else {
            assert!(matches!(
                b.error.as_ref().and_then(DisconnectReason::protocol_error),
                Some(ProtocolError::AuthenticationFailed { status: 400 })
            ));
        }
    }
}

#[test]
fn a_client_cannot_name_its_own_user_id() {
    let now = Instant::now();
    for given in [None, Some("alice")] {
        let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
        let auth = match given {
            None => AuthContext::default(),
            Some(user) => authenticator(move |_| AuthDecision::Allow {
                user_id: user.into(),
            }),
        };
        let mut a = Side::new(SocketType::Pull, server(&server_keys, auth), now);
        let forged = crate::proto::HandshakeConfig::new(SocketType::Push)
            .property("user-id", "root")
            .unwrap();
        let mut b = Side::with_config(
            ConnectionConfig::new(SocketType::Push).with_handshake(forged),
            client(&client_keys, server_keys.public),
            now,
        );
        drive(&mut a, &mut b, now);
        let ConnectionEvent::Established(peer) = &a.events[0] else {
            panic!("{:?}", a.error);
        };
        assert_eq!(
            peer.metadata.get(USER_ID).map(|v| &v[..]),
            given.map(str::as_bytes),
            "the client's own User-Id came through"
        );
    }
}

#[test]
fn a_try_later_refusal_closes_without_an_error_so_the_client_retries() {
    let now = Instant::now();
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Side::new(
        SocketType::Pull,
        server(
            &server_keys,
            authenticator(|_| AuthDecision::Deny { status: 300 }),
        ),
        now,
    );
    let mut b = Side::new(
        SocketType::Push,
        client(&client_keys, server_keys.public),
        now,
    );
    drive(&mut a, &mut b, now);
    assert!(matches!(
        a.error.as_ref().and_then(DisconnectReason::protocol_error),
        Some(ProtocolError::AuthenticationFailed { status: 300 })
    ));
    // No ERROR reached the client: to it the server just closes, and it will reconnect.
    assert!(b.error.is_none() && !established(&b));
}

#[test]
fn a_more_flag_set_outside_the_box_does_not_join_messages() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    let mut first = next_frame(&mut b, &Message::from("one"));
    let second = next_frame(&mut b, &Message::from("two"));
    first[0] |= 0x01; // the outer MORE, which no MAC covers
    a.inbox.extend_from_slice(&first);
    a.inbox.extend_from_slice(&second);
    a.read(now);
    assert_eq!(a.messages(), [Message::from("one"), Message::from("two")]);
}
