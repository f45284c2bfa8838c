//! ZMTP 3.1 heartbeats between monocoque's protocol core and libzmq 4.3 over loopback TCP:
//! PING/PONG both ways, libzmq's TTL and timeout rules, and the core's `Heartbeat` state machine
//! driving a live connection.

use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_interop_tests::{Binder, Error, Monitor, establish_tcp, libzmq_socket};
use monocoque_zmtp::proto::{
    Command, HandshakeConfig, Heartbeat, HeartbeatConfig, Inbound, MAX_PING_CONTEXT, SocketType,
};
use zmq::SocketEvent;

fn ping(ttl_deciseconds: u16, context: &'static [u8]) -> Command {
    Command::Ping {
        ttl_deciseconds,
        context: Bytes::from_static(context),
    }
}

/// libzmq answers each PING with a PONG echoing its context (empty, short, the 16-byte maximum)
/// and cuts a longer context to 16 bytes rather than refusing it.
#[test]
fn libzmq_answers_our_pings_with_the_context() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Dealer).expect("socket");
        let (mut ours, _) =
            establish_tcp(&theirs, HandshakeConfig::new(SocketType::Dealer), binder)
                .expect("handshake");
        let contexts: [&'static [u8]; 4] = [
            b"",
            b"ctx-1234",
            b"0123456789abcdef",
            b"0123456789abcdefOVERFLOW",
        ];
        let mut heartbeat = Heartbeat::new(HeartbeatConfig::default(), Instant::now());
        for context in contexts {
            ours.send_command(&ping(0, context)).expect("send PING");
            let pong = ours.recv_command().expect("recv");
            let echoed = &context[..context.len().min(MAX_PING_CONTEXT)];
            assert_eq!(
                pong,
                Command::Pong(Bytes::copy_from_slice(echoed)),
                "{binder:?}: context {context:?}"
            );
            // The core answers the same PING exactly as libzmq does.
            let ours_pong = heartbeat.on_ping(0, &Bytes::from_static(context), Instant::now());
            assert_eq!(ours_pong, pong);
        }
    }
}

/// A libzmq socket with ZMQ_HEARTBEAT_IVL sends PINGs that parse as `Command::Ping`, with the
/// ZMQ_HEARTBEAT_TTL in deciseconds and an empty context; the PONG the core's `Heartbeat` builds
/// for them is accepted and the PINGs keep coming.
#[test]
fn libzmq_heartbeats_parse_as_pings() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Router).expect("socket");
        theirs.set_heartbeat_ivl(50).expect("ZMQ_HEARTBEAT_IVL");
        theirs.set_heartbeat_ttl(2_000).expect("ZMQ_HEARTBEAT_TTL");
        let (mut ours, _) =
            establish_tcp(&theirs, HandshakeConfig::new(SocketType::Dealer), binder)
                .expect("handshake");
        let mut heartbeat = Heartbeat::new(HeartbeatConfig::default(), Instant::now());
        for _ in 0..3 {
            let command = ours.recv_command().expect("recv");
            let Command::Ping {
                ttl_deciseconds,
                context,
            } = &command
            else {
                panic!("{binder:?}: expected PING, got {command:?}");
            };
            assert_eq!(*ttl_deciseconds, 20, "{binder:?}");
            assert!(context.is_empty(), "{binder:?}: {context:?}");
            heartbeat.on_traffic();
            let pong = heartbeat.on_ping(*ttl_deciseconds, context, Instant::now());
            assert_eq!(pong, Command::Pong(Bytes::new()));
            ours.send_command(&pong).expect("send PONG");
        }
    }
}

/// Answering libzmq's PINGs keeps the connection up well past ZMQ_HEARTBEAT_TIMEOUT, while
/// leaving them unanswered gets the connection closed.
#[test]
fn libzmq_heartbeat_timeout_depends_on_our_answers() {
    const TIMEOUT: Duration = Duration::from_millis(750);
    for answer in [true, false] {
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Pair).expect("socket");
        theirs.set_heartbeat_ivl(50).expect("ZMQ_HEARTBEAT_IVL");
        let timeout_ms = i32::try_from(TIMEOUT.as_millis()).expect("small");
        theirs
            .set_heartbeat_timeout(timeout_ms)
            .expect("ZMQ_HEARTBEAT_TIMEOUT");
        let monitor = Monitor::new(&ctx, &theirs).expect("monitor");
        let (mut ours, _) = establish_tcp(
            &theirs,
            HandshakeConfig::new(SocketType::Pair),
            Binder::Libzmq,
        )
        .expect("handshake");

        if !answer {
            ours.expect_closed()
                .expect("libzmq closes a silent connection");
            let (event, before) = monitor
                .wait_for(&[SocketEvent::DISCONNECTED])
                .expect("DISCONNECTED");
            assert!(event.is(SocketEvent::DISCONNECTED), "{before:?}");
            continue;
        }

        // Two timeouts' worth of PINGs, each answered at once; the loop is bounded by time
        // (each receive by the read timeout).
        let start = Instant::now();
        let mut pings = 0;
        while start.elapsed() < 2 * TIMEOUT {
            match ours.recv().expect("recv") {
                Inbound::Command(body) => {
                    let Command::Ping { context, .. } = Command::parse(body).expect("parse") else {
                        panic!("expected PING");
                    };
                    pings += 1;
                    ours.send_command(&Command::Pong(context)).expect("PONG");
                }
                Inbound::Message(message) => panic!("unexpected {message:?}"),
            }
        }
        assert!(pings >= 10, "only {pings} PINGs");
        // Still the same connection: a message crosses both ways.
        ours.send(&Message::from("still here")).expect("send");
        assert_eq!(theirs.recv_bytes(0).expect("libzmq recv"), b"still here");
        theirs.send("and here", 0).expect("libzmq send");
        loop {
            match ours.recv().expect("recv") {
                Inbound::Message(message) => {
                    assert_eq!(message, Message::from("and here"));
                    break;
                }
                // PINGs keep coming meanwhile.
                Inbound::Command(body) => {
                    assert!(matches!(Command::parse(body), Ok(Command::Ping { .. })))
                }
            }
        }
    }
}

/// libzmq honours the TTL in our PING: with no traffic from us after it, it closes the
/// connection once the TTL has passed.
#[test]
fn libzmq_honours_the_ttl_of_our_ping() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, SocketType::Pull).expect("socket");
    let (mut ours, _) = establish_tcp(
        &theirs,
        HandshakeConfig::new(SocketType::Push),
        Binder::Libzmq,
    )
    .expect("handshake");
    let sent = Instant::now();
    // 3 deciseconds: 300 ms.
    ours.send_command(&ping(3, b"ttl")).expect("send PING");
    assert_eq!(
        ours.recv_command().expect("recv"),
        Command::Pong(Bytes::from_static(b"ttl"))
    );
    ours.expect_closed().expect("libzmq closes after the TTL");
    // libzmq's timers read a millisecond clock that it caches for up to a millisecond, so its
    // 300 ms can end a little early on ours (299.6 ms was seen).
    assert!(
        sent.elapsed() >= Duration::from_millis(295),
        "closed after {:?}, before the TTL",
        sent.elapsed()
    );
}

/// The core's `Heartbeat` drives PINGs on a live connection to libzmq (which has no heartbeat of
/// its own configured): each PING it asks for is answered by a PONG that counts as traffic, so it
/// never reports a timeout.
#[test]
fn our_heartbeat_schedule_against_libzmq() {
    const INTERVAL: Duration = Duration::from_millis(30);
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, SocketType::Router).expect("socket");
    let (mut ours, _) = establish_tcp(
        &theirs,
        HandshakeConfig::new(SocketType::Dealer),
        Binder::Monocoque,
    )
    .expect("handshake");
    let config = HeartbeatConfig::every(INTERVAL)
        .ttl(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let mut heartbeat = Heartbeat::new(config, Instant::now());
    let (mut pings, mut pongs) = (0, 0);
    // Bounded: every round either sends a PING, takes a PONG or times out in its read, and the
    // core's timeout (2 s) fails the loop if PONGs stop.
    while pongs < 5 {
        let now = Instant::now();
        if let Some(command) = heartbeat.poll(now).expect("peer alive") {
            assert!(matches!(
                command,
                Command::Ping {
                    ttl_deciseconds: 20,
                    ..
                }
            ));
            ours.send_command(&command).expect("send PING");
            pings += 1;
            continue;
        }
        let wait = heartbeat
            .next_deadline()
            .expect("a PING is scheduled")
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        match ours.recv_within(wait) {
            Ok(Inbound::Command(body)) => {
                assert_eq!(Command::parse(body), Ok(Command::Pong(Bytes::new())));
                heartbeat.on_traffic();
                pongs += 1;
            }
            Ok(Inbound::Message(message)) => panic!("unexpected {message:?}"),
            Err(Error::Timeout(_)) => {}
            Err(error) => panic!("receive failed: {error}"),
        }
    }
    assert!(pings >= pongs, "{pings} PINGs, {pongs} PONGs");
}
