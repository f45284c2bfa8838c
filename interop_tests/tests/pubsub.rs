//! Subscriptions between monocoque's protocol core and libzmq 4.3 over loopback TCP: our
//! SUBSCRIBE/CANCEL commands obeyed by a libzmq PUB, and libzmq's subscriptions as our XPUB-typed
//! peer receives them.

use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_interop_tests::{
    Binder, Error, IO_TIMEOUT, Monitor, ProtoPeer, Transport, establish_tcp, libzmq_socket,
    start_tcp,
};
use monocoque_zmtp::proto::{Command, HandshakeConfig, Inbound, SocketType, Subscription};
use zmq::SocketEvent;

/// How long one round of the publishing loop waits for a message before publishing again.
const ROUND: Duration = Duration::from_millis(20);

/// Publishes `(miss, hit)` pairs from `publisher` until a message starting with `hit` reaches
/// `subscriber`, and returns the messages received before and including it.
///
/// libzmq applies a subscription only when its PUB socket next processes commands (on a send), so
/// the first messages may be published before it takes effect; hence the loop. It is bounded by
/// [`IO_TIMEOUT`] and never sleeps: each round blocks in a read for at most [`ROUND`].
fn publish_until<S: Transport>(
    publisher: &zmq::Socket,
    subscriber: &mut ProtoPeer<S>,
    miss: &str,
    hit: &str,
) -> Vec<Message> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut received = Vec::new();
    for round in 0.. {
        assert!(
            Instant::now() < deadline,
            "no {hit:?} message after {round} rounds; received {received:?}"
        );
        publisher
            .send(format!("{miss} {round}").as_str(), 0)
            .expect("libzmq send");
        publisher
            .send(format!("{hit} {round}").as_str(), 0)
            .expect("libzmq send");
        loop {
            match subscriber.recv_within(ROUND) {
                Ok(Inbound::Message(message)) => {
                    let is_hit = message
                        .first()
                        .is_some_and(|f| f.starts_with(hit.as_bytes()));
                    received.push(message);
                    if is_hit {
                        return received;
                    }
                }
                Ok(Inbound::Command(body)) => panic!("unexpected command {body:?}"),
                Err(Error::Timeout(_)) => break,
                Err(error) => panic!("receive failed: {error}"),
            }
        }
    }
    unreachable!("the loop only ends by returning or failing")
}

/// Us as SUB: a SUBSCRIBE command makes a libzmq PUB send us matching messages only, and a
/// CANCEL stops them.
#[test]
fn our_sub_subscribes_and_cancels_at_a_libzmq_pub() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let publisher = libzmq_socket(&ctx, SocketType::Pub).expect("socket");
        let (mut sub, info) =
            establish_tcp(&publisher, HandshakeConfig::new(SocketType::Sub), binder)
                .expect("handshake");
        assert!(info.version.has_subscribe_commands());

        sub.send_command(&Subscription::subscribe("weather").to_command())
            .expect("subscribe");
        let received = publish_until(&publisher, &mut sub, "news", "weather");
        assert!(
            received
                .iter()
                .all(|m| m.frames()[0].starts_with(b"weather")),
            "{binder:?}: a message that does not match got through: {received:?}"
        );
        // The subscription is in force now: a non-matching message published before a matching
        // one would arrive first if the PUB did not filter it.
        publisher.send("news late", 0).expect("libzmq send");
        publisher.send("weather late", 0).expect("libzmq send");
        assert_eq!(
            sub.recv_message().expect("recv"),
            Message::from("weather late"),
            "{binder:?}"
        );

        sub.send_command(&Subscription::cancel("weather").to_command())
            .expect("cancel");
        sub.send_command(&Command::Subscribe(Bytes::from("sports")))
            .expect("subscribe");
        // Weather may still arrive until the PUB processes the CANCEL, which comes before the
        // new SUBSCRIBE: once sports arrives, weather is cancelled.
        let received = publish_until(&publisher, &mut sub, "weather", "sports");
        assert!(
            received.iter().all(|m| !m.frames()[0].starts_with(b"news")),
            "{binder:?}: {received:?}"
        );
        publisher
            .send("weather after cancel", 0)
            .expect("libzmq send");
        publisher
            .send("sports after cancel", 0)
            .expect("libzmq send");
        assert_eq!(
            sub.recv_message().expect("recv"),
            Message::from("sports after cancel"),
            "{binder:?}"
        );
    }
}

/// Waits until libzmq has finished its side of the handshake, then makes its socket process
/// commands, so that the new connection's pipe is attached.
///
/// libzmq attaches a bound socket's pipe (and so replays its subscriptions) only when the
/// application thread next touches the socket after the handshake; `HANDSHAKE_SUCCEEDED` is
/// reported after the attach request is queued.
fn settle(monitor: &Monitor, socket: &zmq::Socket) {
    let (event, before) = monitor
        .wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED, SocketEvent::DISCONNECTED])
        .expect("handshake outcome");
    assert!(
        event.is(SocketEvent::HANDSHAKE_SUCCEEDED),
        "{event:?} after {before:?}"
    );
    socket.get_events().expect("ZMQ_EVENTS");
}

/// Us as an XPUB-typed peer: a libzmq SUB sends its subscriptions (made before and after the
/// connection) as SUBSCRIBE and CANCEL commands, and filters what we send by them.
#[test]
fn libzmq_sub_subscriptions_reach_our_xpub() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let sub = libzmq_socket(&ctx, SocketType::Sub).expect("socket");
        let monitor = Monitor::new(&ctx, &sub).expect("monitor");
        sub.set_subscribe(b"topic").expect("subscribe");
        let (mut xpub, _) =
            establish_tcp(&sub, HandshakeConfig::new(SocketType::Xpub), binder).expect("handshake");
        settle(&monitor, &sub);

        assert_eq!(
            xpub.recv_command().expect("recv"),
            Command::Subscribe(Bytes::from("topic")),
            "{binder:?}"
        );
        sub.set_subscribe(b"more").expect("subscribe");
        assert_eq!(
            xpub.recv_command().expect("recv"),
            Command::Subscribe(Bytes::from("more")),
            "{binder:?}"
        );
        sub.set_unsubscribe(b"topic").expect("unsubscribe");
        let cancel = xpub.recv_command().expect("recv");
        assert_eq!(cancel, Command::Cancel(Bytes::from("topic")), "{binder:?}");
        assert_eq!(
            Subscription::from_command(&cancel),
            Some(Subscription::cancel("topic"))
        );
        // An empty subscription (everything) is a SUBSCRIBE with no topic.
        sub.set_subscribe(b"").expect("subscribe all");
        assert_eq!(
            xpub.recv_command().expect("recv"),
            Command::Subscribe(Bytes::new()),
            "{binder:?}"
        );
        sub.set_unsubscribe(b"").expect("unsubscribe all");
        assert_eq!(
            xpub.recv_command().expect("recv"),
            Command::Cancel(Bytes::new()),
            "{binder:?}"
        );

        // The wire carries whatever we send; the libzmq SUB filters on its side.
        for text in ["topic cancelled", "other", "more news"] {
            xpub.send(&Message::from(text)).expect("send");
        }
        assert_eq!(sub.recv_bytes(0).expect("libzmq recv"), b"more news");
    }
}

/// libzmq XSUB puts subscriptions on the wire in two forms to a ZMTP 3.1 peer: those it replays
/// when a connection is attached go out as SUBSCRIBE commands, while a `\x01topic` message its
/// application sends is forwarded as-is, as a message frame. Our XPUB-typed peer reads both with
/// `Subscription`.
#[test]
fn libzmq_xsub_sends_subscriptions_in_both_wire_forms() {
    for binder in Binder::BOTH {
        let ctx = zmq::Context::new();
        let xsub = libzmq_socket(&ctx, SocketType::Xsub).expect("socket");
        let monitor = Monitor::new(&ctx, &xsub).expect("monitor");
        // No connection yet: remembered, and replayed when one is attached.
        xsub.send(&b"\x01early"[..], 0).expect("libzmq send");
        let mut xpub =
            start_tcp(&xsub, HandshakeConfig::new(SocketType::Xpub), binder).expect("connect");
        xpub.handshake().expect("handshake");
        settle(&monitor, &xsub);
        xsub.send(&b"\x01late"[..], 0).expect("libzmq send");
        xsub.send(&b"\x00early"[..], 0).expect("libzmq send");

        let replayed = xpub.recv_command().expect("recv");
        assert_eq!(
            replayed,
            Command::Subscribe(Bytes::from("early")),
            "{binder:?}"
        );
        let live = xpub.recv_message().expect("recv");
        assert_eq!(live, Message::from(&b"\x01late"[..]), "{binder:?}");
        assert_eq!(
            Subscription::from_message_frame(&live.frames()[0]),
            Some(Subscription::subscribe("late"))
        );
        let cancel = xpub.recv_message().expect("recv");
        assert_eq!(
            Subscription::from_message_frame(&cancel.frames()[0]),
            Some(Subscription::cancel("early")),
            "{binder:?}"
        );
    }
}
