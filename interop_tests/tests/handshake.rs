//! monocoque's handshake against libzmq 4.3 over loopback TCP: every compatible pairing with
//! monocoque on each side and each side binding, and refusal of incompatible pairings by both.

use bytes::Bytes;
use monocoque_interop_tests::{Binder, Error, Monitor, establish_tcp, libzmq_socket, start_tcp};
use monocoque_zmtp::proto::{
    HandshakeConfig, IDENTITY, MechanismName, ProtocolError, SOCKET_TYPE, SocketType, Version,
};
use zmq::SocketEvent;

/// The events that end a handshake, one way or the other, as libzmq reports them.
const HANDSHAKE_OUTCOMES: [SocketEvent; 5] = [
    SocketEvent::HANDSHAKE_SUCCEEDED,
    SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
    SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    SocketEvent::HANDSHAKE_FAILED_AUTH,
    SocketEvent::DISCONNECTED,
];

/// The routing id given to a libzmq socket of `socket_type` in these tests.
fn libzmq_id(socket_type: SocketType) -> String {
    format!("libzmq-{socket_type}")
}

/// One handshake of monocoque as `ours` against libzmq as `theirs`, with `binder` listening.
///
/// Checks what each side learned: our PeerInfo (type, version, mechanism, identity, metadata) and
/// libzmq's verdict through its socket monitor.
fn handshake_once(ours: SocketType, theirs: SocketType, binder: Binder) {
    let what = format!("monocoque {ours} <-> libzmq {theirs}, {binder:?} binds");
    let ctx = zmq::Context::new();
    let socket = libzmq_socket(&ctx, theirs).expect("libzmq socket");
    if theirs.sends_identity() {
        socket
            .set_identity(libzmq_id(theirs).as_bytes())
            .expect("ZMQ_ROUTING_ID");
    }
    let monitor = Monitor::new(&ctx, &socket).expect("monitor");
    let config = HandshakeConfig::new(ours).identity(format!("mono-{ours}"));

    let (_peer, info) = establish_tcp(&socket, config, binder)
        .unwrap_or_else(|error| panic!("{what}: our handshake failed: {error}"));

    assert_eq!(info.socket_type, theirs, "{what}");
    assert_eq!(info.version, Version::V3_1, "{what}");
    assert_eq!(info.mechanism, MechanismName::NULL, "{what}");
    assert_eq!(
        info.metadata.get(SOCKET_TYPE).map(|v| &v[..]),
        Some(theirs.as_str().as_bytes()),
        "{what}"
    );
    if theirs.sends_identity() {
        assert_eq!(
            info.identity,
            Some(Bytes::from(libzmq_id(theirs))),
            "{what}"
        );
    } else {
        // libzmq leaves Identity out of READY for the other types altogether.
        assert_eq!(info.identity, None, "{what}");
        assert_eq!(info.metadata.get(IDENTITY), None, "{what}");
    }

    let (event, before) = monitor
        .wait_for(&HANDSHAKE_OUTCOMES)
        .unwrap_or_else(|error| panic!("{what}: no handshake outcome from libzmq: {error}"));
    assert!(
        event.is(SocketEvent::HANDSHAKE_SUCCEEDED),
        "{what}: libzmq reported {event:?} after {before:?}"
    );
}

/// Every arrangement of a compatible pair: each library on each side, each side binding.
fn handshake_all_ways(a: SocketType, b: SocketType) {
    let mut sides = vec![(a, b)];
    if a != b {
        sides.push((b, a));
    }
    for (ours, theirs) in sides {
        for binder in Binder::BOTH {
            handshake_once(ours, theirs, binder);
        }
    }
}

macro_rules! compatible_pair {
    ($($name:ident: $a:ident - $b:ident;)*) => {
        $(
            #[test]
            fn $name() {
                handshake_all_ways(SocketType::$a, SocketType::$b);
            }
        )*
    };
}

compatible_pair! {
    handshake_req_rep: Req - Rep;
    handshake_req_router: Req - Router;
    handshake_rep_dealer: Rep - Dealer;
    handshake_dealer_dealer: Dealer - Dealer;
    handshake_dealer_router: Dealer - Router;
    handshake_router_router: Router - Router;
    handshake_pub_sub: Pub - Sub;
    handshake_pub_xsub: Pub - Xsub;
    handshake_xpub_sub: Xpub - Sub;
    handshake_xpub_xsub: Xpub - Xsub;
    handshake_push_pull: Push - Pull;
    handshake_pair_pair: Pair - Pair;
}

/// Without ZMQ_ROUTING_ID, a libzmq DEALER still sends the Identity property, empty; the core
/// reports no identity for it.
#[test]
fn libzmq_without_routing_id_sends_an_empty_identity() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let socket = libzmq_socket(&ctx, SocketType::Dealer).expect("libzmq socket");
        let (_peer, info) =
            establish_tcp(&socket, HandshakeConfig::new(SocketType::Router), binder)
                .expect("handshake");
        assert_eq!(info.socket_type, SocketType::Dealer);
        assert_eq!(info.metadata.identity(), Some(&Bytes::new()), "{binder:?}");
        assert_eq!(info.identity, None, "{binder:?}");
    }
}

/// Incompatible pairings tried in the refusal tests (one per pattern family boundary).
const INCOMPATIBLE: [(SocketType, SocketType); 8] = [
    (SocketType::Req, SocketType::Req),
    (SocketType::Rep, SocketType::Rep),
    (SocketType::Req, SocketType::Dealer),
    (SocketType::Push, SocketType::Push),
    (SocketType::Push, SocketType::Sub),
    (SocketType::Pub, SocketType::Pub),
    (SocketType::Pair, SocketType::Router),
    (SocketType::Xsub, SocketType::Pull),
];

/// Both sides refuse an incompatible peer at the handshake: the core returns
/// `IncompatibleSocketType`, and libzmq closes the connection without sending anything after its
/// READY (no ERROR command) and without ever reporting a successful handshake.
#[test]
fn incompatible_pairings_are_refused_by_both_sides() {
    for (ours, theirs) in INCOMPATIBLE {
        for binder in Binder::BOTH {
            let what = format!("monocoque {ours} <-> libzmq {theirs}, {binder:?} binds");
            let ctx = zmq::Context::new();
            let socket = libzmq_socket(&ctx, theirs).expect("libzmq socket");
            let monitor = Monitor::new(&ctx, &socket).expect("monitor");
            let mut peer = start_tcp(&socket, HandshakeConfig::new(ours), binder).expect("connect");

            match peer.handshake() {
                Err(Error::Protocol(ProtocolError::IncompatibleSocketType { local, peer })) => {
                    assert_eq!((local, peer), (ours, theirs), "{what}");
                }
                other => panic!("{what}: expected IncompatibleSocketType, got {other:?}"),
            }
            // Our socket stays open: the close we see is libzmq's own decision.
            let after_ready = peer
                .expect_closed()
                .unwrap_or_else(|error| panic!("{what}: libzmq kept the connection: {error}"));
            assert_eq!(after_ready, 0, "{what}: libzmq sent bytes after its READY");
            let (event, before) = monitor
                .wait_for(&HANDSHAKE_OUTCOMES)
                .unwrap_or_else(|error| panic!("{what}: no outcome from libzmq: {error}"));
            assert!(
                event.is(SocketEvent::DISCONNECTED),
                "{what}: libzmq reported {event:?} after {before:?}"
            );
        }
    }
}
