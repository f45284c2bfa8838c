//! Messages after the handshake, between monocoque's protocol core and libzmq 4.3 over loopback
//! TCP: encoding and decoding of single and multipart messages, empty frames, long frames and the
//! envelopes the REQ/REP/ROUTER patterns put on the wire.

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_interop_tests::{
    Binder, Monitor, ProtoPeer, accept_tcp, establish_tcp, libzmq_socket, listen_tcp,
};
use monocoque_zmtp::proto::{HandshakeConfig, SocketType};
use zmq::SocketEvent;

/// A 4 MiB frame: far beyond a short frame, and larger than any socket buffer.
const LARGE: usize = 4 * 1024 * 1024;

/// Bytes that differ from position to position, so a misplaced chunk would show.
fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<_>>()
        .into()
}

fn frames(message: &Message) -> Vec<Vec<u8>> {
    message.iter().map(|frame| frame.to_vec()).collect()
}

/// libzmq DEALER (with a routing id) talks to us as a ROUTER-typed peer: at the wire level the
/// routing id travels only in the handshake, and each message crosses unchanged both ways.
#[test]
fn libzmq_dealer_and_our_router_exchange_messages() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let dealer = libzmq_socket(&ctx, SocketType::Dealer).expect("socket");
        dealer.set_identity(b"dealer-7").expect("routing id");
        let (mut router, info) =
            establish_tcp(&dealer, HandshakeConfig::new(SocketType::Router), binder)
                .expect("handshake");
        assert_eq!(info.identity.as_deref(), Some(&b"dealer-7"[..]));

        dealer
            .send_multipart(["hello", "", "world"], 0)
            .expect("libzmq send");
        let got = router.recv_message().expect("recv");
        assert_eq!(
            got,
            Message::from_iter(["hello", "", "world"]),
            "{binder:?}"
        );

        router
            .send(&Message::from_iter(["reply", "two"]))
            .expect("send");
        assert_eq!(
            dealer.recv_multipart(0).expect("libzmq recv"),
            [b"reply".to_vec(), b"two".to_vec()],
            "{binder:?}"
        );
    }
}

/// Our DEALER's routing id, announced in READY, is what a libzmq ROUTER puts in front of our
/// messages, and what it routes its reply by.
#[test]
fn our_dealer_identity_routes_through_a_libzmq_router() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let router = libzmq_socket(&ctx, SocketType::Router).expect("socket");
        let config = HandshakeConfig::new(SocketType::Dealer).identity("mono-dealer");
        let (mut dealer, info) = establish_tcp(&router, config, binder).expect("handshake");
        assert_eq!(info.socket_type, SocketType::Router);

        dealer
            .send(&Message::from_iter(["", "request"]))
            .expect("send");
        assert_eq!(
            router.recv_multipart(0).expect("libzmq recv"),
            [b"mono-dealer".to_vec(), Vec::new(), b"request".to_vec()],
            "{binder:?}"
        );

        router
            .send_multipart(["mono-dealer", "", "response"], 0)
            .expect("libzmq send");
        assert_eq!(
            dealer.recv_message().expect("recv"),
            Message::from_iter(["", "response"]),
            "{binder:?}"
        );
    }
}

/// libzmq PUSH to us as PULL: many messages in order, multipart, empty frames and a 4 MiB frame,
/// whose bytes arrive spread over many reads.
#[test]
fn libzmq_push_to_our_pull() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let push = libzmq_socket(&ctx, SocketType::Push).expect("socket");
        let (mut pull, _) = establish_tcp(&push, HandshakeConfig::new(SocketType::Pull), binder)
            .expect("handshake");

        let large = pattern(LARGE, 0x5a);
        let expected = [
            Message::from("first"),
            Message::from_iter(["a", "bb", "ccc"]),
            Message::from(""),
            Message::from_iter(["", "", ""]),
            Message::from_iter([pattern(255, 1), pattern(256, 2)]),
            Message::from_iter([Bytes::from("head"), large.clone()]),
            Message::from("last"),
        ];
        for message in &expected {
            push.send_multipart(frames(message), 0)
                .expect("libzmq send");
        }
        for (i, want) in expected.iter().enumerate() {
            let got = pull.recv_message().expect("recv");
            assert!(got == *want, "{binder:?}: message {i} differs: got {got:?}");
        }
    }
}

/// Us as PUSH to a libzmq PULL: multipart, empty frames, a frame of exactly 255 and 256 bytes
/// (short and long header), and a 4 MiB frame shared with the write batch rather than copied.
#[test]
fn our_push_to_libzmq_pull() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let pull = libzmq_socket(&ctx, SocketType::Pull).expect("socket");
        let (mut push, _) = establish_tcp(&pull, HandshakeConfig::new(SocketType::Push), binder)
            .expect("handshake");

        let messages = [
            Message::from("one"),
            Message::from_iter(["x", "yy", "zzz", "wwww", "vvvvv"]),
            Message::from(""),
            Message::from_iter(["", ""]),
            Message::from_iter([pattern(255, 3), pattern(256, 4)]),
            Message::from_iter([pattern(LARGE, 0xa5), Bytes::from("tail")]),
            Message::from("done"),
        ];
        for message in &messages {
            push.send(message).expect("send");
        }
        for (i, message) in messages.iter().enumerate() {
            let got = pull.recv_multipart(0).expect("libzmq recv");
            assert!(
                got == frames(message),
                "{binder:?}: message {i} differs ({} frames received)",
                got.len()
            );
        }
    }
}

/// Our metadata is readable through libzmq's message properties (`zmq_msg_gets`): the
/// Socket-Type and an application property from our READY.
#[test]
fn our_metadata_is_visible_to_libzmq() {
    let ctx = zmq::Context::new();
    let pull = libzmq_socket(&ctx, SocketType::Pull).expect("socket");
    let config = HandshakeConfig::new(SocketType::Push)
        .property("X-Shard", "shard-3")
        .expect("property");
    let (mut push, _) = establish_tcp(&pull, config, Binder::Libzmq).expect("handshake");
    push.send(&Message::from("with metadata")).expect("send");
    let mut msg = pull.recv_msg(0).expect("libzmq recv");
    assert_eq!(msg.gets("Socket-Type"), Some("PUSH"));
    assert_eq!(msg.gets("X-Shard"), Some("shard-3"));
    assert_eq!(&msg[..], b"with metadata");
}

/// Us as REQ (adding the empty delimiter ourselves at this level) to a libzmq REP, which strips
/// it, and the reply back with the delimiter restored by REP.
#[test]
fn our_req_to_libzmq_rep() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let rep = libzmq_socket(&ctx, SocketType::Rep).expect("socket");
        let (mut req, _) =
            establish_tcp(&rep, HandshakeConfig::new(SocketType::Req), binder).expect("handshake");
        for round in 0..3 {
            let question = format!("question {round}");
            req.send(&Message::from_iter([
                Bytes::new(),
                Bytes::from(question.clone()),
            ]))
            .expect("send");
            assert_eq!(
                rep.recv_multipart(0).expect("libzmq recv"),
                [question.into_bytes()],
                "{binder:?}"
            );
            let answer = format!("answer {round}");
            rep.send(answer.as_str(), 0).expect("libzmq send");
            assert_eq!(
                req.recv_message().expect("recv"),
                Message::from_iter([Bytes::new(), Bytes::from(answer)]),
                "{binder:?}"
            );
        }
    }
}

/// libzmq REQ to us as REP: REQ puts the empty delimiter on the wire, and accepts our reply only
/// with it.
#[test]
fn libzmq_req_to_our_rep() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let req = libzmq_socket(&ctx, SocketType::Req).expect("socket");
        let (mut rep, _) =
            establish_tcp(&req, HandshakeConfig::new(SocketType::Rep), binder).expect("handshake");
        req.send_multipart(["part 1", "part 2"], 0)
            .expect("libzmq send");
        assert_eq!(
            rep.recv_message().expect("recv"),
            Message::from_iter(["", "part 1", "part 2"]),
            "{binder:?}"
        );
        rep.send(&Message::from_iter(["", "reply"])).expect("send");
        assert_eq!(
            req.recv_multipart(0).expect("libzmq recv"),
            [b"reply".to_vec()],
            "{binder:?}"
        );
    }
}

/// PAIR both ways, with messages crossing in flight.
#[test]
fn pair_exchanges_both_ways() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Pair).expect("socket");
        let (mut ours, _) = establish_tcp(&theirs, HandshakeConfig::new(SocketType::Pair), binder)
            .expect("handshake");
        for i in 0..10 {
            ours.send(&Message::from(format!("ours {i}")))
                .expect("send");
            theirs
                .send(format!("theirs {i}").as_str(), 0)
                .expect("libzmq send");
        }
        for i in 0..10 {
            assert_eq!(
                theirs.recv_bytes(0).expect("libzmq recv"),
                format!("ours {i}").into_bytes()
            );
            assert_eq!(
                ours.recv_message().expect("recv"),
                Message::from(format!("theirs {i}"))
            );
        }
    }
}

/// Messages a connecting libzmq PUSH queued before the connection existed are sent right after
/// the handshake, possibly in the same read as its READY; the driver's decoder picks them up
/// from the bytes the handshake left over.
#[test]
fn messages_queued_before_the_connection_follow_the_handshake() {
    let ctx = zmq::Context::new();
    let push = libzmq_socket(&ctx, SocketType::Push).expect("socket");
    let (listener, endpoint) = listen_tcp().expect("listen");
    push.connect(&endpoint).expect("connect");
    for i in 0..100 {
        push.send(format!("queued {i}").as_str(), 0)
            .expect("libzmq send");
    }
    let stream = accept_tcp(&listener).expect("accept");
    let (mut pull, _) =
        ProtoPeer::establish(stream, HandshakeConfig::new(SocketType::Pull)).expect("handshake");
    for i in 0..100 {
        assert_eq!(
            pull.recv_message().expect("recv"),
            Message::from(format!("queued {i}"))
        );
    }
}

/// A libzmq ROUTER routes to our ROUTER-typed peer by the identity in our READY, and sees our
/// messages prefixed with it (ZMQ_ROUTER_MANDATORY makes a wrong routing id an error instead of a
/// silent drop).
#[test]
fn libzmq_router_routes_to_our_router_by_identity() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Router).expect("socket");
        theirs
            .set_router_mandatory(true)
            .expect("ZMQ_ROUTER_MANDATORY");
        theirs.set_identity(b"their-router").expect("routing id");
        let monitor = Monitor::new(&ctx, &theirs).expect("monitor");
        let config = HandshakeConfig::new(SocketType::Router).identity("our-router");
        let (mut ours, info) = establish_tcp(&theirs, config, binder).expect("handshake");
        assert_eq!(info.identity.as_deref(), Some(&b"their-router"[..]));
        // Once libzmq reports the handshake, its next send attaches and identifies the peer.
        let (event, before) = monitor
            .wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED, SocketEvent::DISCONNECTED])
            .expect("handshake outcome");
        assert!(event.is(SocketEvent::HANDSHAKE_SUCCEEDED), "{before:?}");

        assert_eq!(
            theirs.send_multipart(["nobody", "lost"], 0),
            Err(zmq::Error::EHOSTUNREACH)
        );
        theirs
            .send_multipart(["our-router", "routed"], 0)
            .expect("libzmq send");
        assert_eq!(
            ours.recv_message().expect("recv"),
            Message::from("routed"),
            "{binder:?}"
        );
        ours.send(&Message::from("answer")).expect("send");
        assert_eq!(
            theirs.recv_multipart(0).expect("libzmq recv"),
            [b"our-router".to_vec(), b"answer".to_vec()],
            "{binder:?}"
        );
    }
}
