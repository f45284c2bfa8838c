//! Every compatible pairing of socket types between monocoque's sockets and libzmq 4.3: PAIR-PAIR,
//! PUB/XPUB-SUB/XSUB, PUSH-PULL, REQ-REP, REQ-ROUTER, DEALER-REP, DEALER-DEALER, DEALER-ROUTER
//! and ROUTER-ROUTER.
//!
//! One test per pairing runs its traffic script over eight combinations ([`Case::all`]):
//! monocoque playing either socket, either socket binding, over TCP and over IPC. The script
//! exchanges real traffic in every direction the pattern allows: multipart messages, empty frames
//! and messages made of empty frames, 4 MiB frames (PUSH-PULL, DEALER-ROUTER, REQ-REP), bursts
//! whose order is checked, routing by id, REQ/REP envelopes, and subscriptions with filtering.
//! A failure names its combination; all failing combinations of a pairing are reported together.

mod sockets_common;

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use monocoque::{Message, SocketType};
use sockets_common::{
    LARGE, Opts, Pairing, Peer, ROUND, Role, WAIT, matrix, msg, pattern, prefixed, starts_with,
};

// ---------------------------------------------------------------------------------------------
// PAIR-PAIR and DEALER-DEALER: symmetric, both ways.

/// Round trips started by `a`, then a burst each way, then messages of empty frames.
async fn symmetric(p: Rc<Pairing>) {
    let (a, b) = (&p.a, &p.b);
    for round in 0..5 {
        let ping = msg([format!("ping {round}"), String::new(), "from a".to_owned()]);
        a.send(ping.clone()).await;
        b.expect(ping).await;
        let pong = msg([format!("pong {round}")]);
        b.send(pong.clone()).await;
        a.expect(pong).await;
    }
    // b starts too: nothing in the pattern makes a the only one to speak first.
    b.send(msg(["b first"])).await;
    a.expect(msg(["b first"])).await;

    for i in 0..100 {
        a.send(msg([format!("a->b {i}")])).await;
        b.send(msg([format!("b->a {i}"), String::new()])).await;
    }
    for i in 0..100 {
        b.expect(msg([format!("a->b {i}")])).await;
        a.expect(msg([format!("b->a {i}"), String::new()])).await;
    }

    for empty in [msg([""]), msg(["", "", ""]), msg(["", "middle", ""])] {
        a.send(empty.clone()).await;
        b.expect(empty.clone()).await;
        b.send(empty.clone()).await;
        a.expect(empty).await;
    }
    a.expect_nothing_within(ROUND).await;
    b.expect_nothing_within(ROUND).await;
}

/// PAIR-PAIR, both ways.
#[compio::test]
async fn sockets_pair_pair() {
    matrix(
        SocketType::Pair,
        SocketType::Pair,
        [Opts::NONE; 2],
        symmetric,
    )
    .await;
}

/// DEALER-DEALER, both ways.
#[compio::test]
async fn sockets_dealer_dealer() {
    matrix(
        SocketType::Dealer,
        SocketType::Dealer,
        [Opts::id("dealer-a"), Opts::id("dealer-b")],
        symmetric,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// PUSH-PULL.

/// Singles, multipart with empty frames, all-empty messages, 4 MiB frames, then a numbered burst
/// whose order the PULL side checks.
async fn push_pull(p: Rc<Pairing>) {
    let (push, pull) = (&p.a, &p.b);
    let messages = [
        msg(["one"]),
        msg(["", "two", ""]),
        msg([""]),
        msg(["", "", ""]),
        msg([Bytes::from("big"), pattern(LARGE, 1), Bytes::new()]),
        msg([pattern(LARGE, 2)]),
        msg(["after the big ones"]),
    ];
    for message in &messages {
        push.send(message.clone()).await;
    }
    for i in 0..200 {
        push.send(msg([format!("task {i}"), i.to_string()])).await;
    }
    for message in messages {
        pull.expect(message).await;
    }
    for i in 0..200 {
        pull.expect(msg([format!("task {i}"), i.to_string()])).await;
    }
    pull.expect_nothing_within(ROUND).await;
}

/// PUSH-PULL: monocoque pushing to libzmq and libzmq pushing to monocoque.
#[compio::test]
async fn sockets_push_pull() {
    matrix(
        SocketType::Push,
        SocketType::Pull,
        [Opts::NONE; 2],
        push_pull,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// REQ-REP, REQ-ROUTER, DEALER-REP.

/// Lock-step round trips; the REQ envelope must be invisible to both applications, including
/// for requests and replies that start with an empty frame, and for a 4 MiB request and reply.
async fn req_rep(p: Rc<Pairing>) {
    let (req, rep) = (&p.a, &p.b);
    for round in 0..8 {
        let (request, reply) = match round {
            0 => (msg(["", "leading empty frame"]), msg(["", "", "two empty"])),
            1 => (
                msg([Bytes::from("large request"), pattern(LARGE, 5)]),
                msg([pattern(LARGE, 6), Bytes::from("large reply")]),
            ),
            _ => (
                msg([format!("request {round}"), String::new(), "tail".to_owned()]),
                msg([format!("reply {round}")]),
            ),
        };
        req.send(request.clone()).await;
        rep.expect(request).await;
        rep.send(reply.clone()).await;
        req.expect(reply).await;
    }
}

/// REQ-REP.
#[compio::test]
async fn sockets_req_rep() {
    matrix(SocketType::Req, SocketType::Rep, [Opts::NONE; 2], req_rep).await;
}

/// The REQ has no routing id: the ROUTER sees the id it generated (five bytes, the first zero, the
/// same for every request), the empty delimiter and the request, and replies by that id.
///
/// monocoque's REQ also drops a reply without the delimiter and keeps waiting for a well-formed
/// one (RFC 28). libzmq's REQ is not put to that test: its session treats a malformed reply as a
/// protocol error and drops the connection, losing the well-formed reply sent after it.
async fn req_router(p: Rc<Pairing>) {
    let (req, router) = (&p.a, &p.b);
    let mut known: Option<Bytes> = None;
    for round in 0..8 {
        let request = msg([format!("request {round}"), String::new()]);
        req.send(request.clone()).await;
        let got = router.recv().await;
        let frames = got.frames();
        assert!(
            frames.len() == request.len() + 2
                && frames[1].is_empty()
                && frames[2..] == *request.frames(),
            "{}: {} received {got:?} for request {request:?} (expected [routing id, \"\", request])",
            p.case,
            router.name
        );
        let id = frames[0].clone();
        assert!(
            id.len() == 5 && id[0] == 0,
            "{}: {} gave the REQ the routing id {id:?}, expected a generated one (0 + 4 bytes)",
            p.case,
            router.name
        );
        if let Some(known) = &known {
            assert_eq!(
                known, &id,
                "{}: the REQ's routing id changed between requests",
                p.case
            );
        }
        known = Some(id.clone());

        if round % 2 == 0 && req.is_mono() {
            router
                .send(msg([
                    id.clone(),
                    Bytes::from("no delimiter: the REQ drops this"),
                ]))
                .await;
        }
        let reply = msg([format!("reply {round}"), String::new(), "end".to_owned()]);
        let mut routed = msg([id, Bytes::new()]);
        routed.extend(reply.clone());
        router.send(routed).await;
        req.expect(reply).await;
    }
}

/// REQ-ROUTER.
#[compio::test]
async fn sockets_req_router() {
    matrix(
        SocketType::Req,
        SocketType::Router,
        [Opts::NONE; 2],
        req_router,
    )
    .await;
}

/// The DEALER speaks REQ's envelope itself: a request without the empty delimiter is dropped by
/// the REP, pipelined requests are answered in order, each reply with the delimiter in front.
async fn dealer_rep(p: Rc<Pairing>) {
    let (dealer, rep) = (&p.a, &p.b);
    dealer.send(msg(["no delimiter: the REP drops this"])).await;
    for i in 0..5 {
        dealer
            .send(msg([String::new(), format!("request {i}"), String::new()]))
            .await;
    }
    for i in 0..5 {
        rep.expect(msg([format!("request {i}"), String::new()]))
            .await;
        rep.send(msg([format!("reply {i}")])).await;
    }
    for i in 0..5 {
        dealer
            .expect(msg([String::new(), format!("reply {i}")]))
            .await;
    }
}

/// DEALER-REP.
#[compio::test]
async fn sockets_dealer_rep() {
    matrix(
        SocketType::Dealer,
        SocketType::Rep,
        [Opts::NONE; 2],
        dealer_rep,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// DEALER-ROUTER, ROUTER-ROUTER.

const DEALER_ID: &str = "dealer-1";

fn routed(id: &str, message: &Message) -> Message {
    let mut routed = msg([id.to_owned()]);
    routed.extend(message.iter().cloned());
    routed
}

/// The DEALER's routing id fronts what the ROUTER receives and routes what it sends: multipart,
/// empty frames and 4 MiB frames both ways, then a burst from the ROUTER.
async fn dealer_router(p: Rc<Pairing>) {
    let (dealer, router) = (&p.a, &p.b);
    let to_router = [
        msg(["hello"]),
        msg(["", "empty first", ""]),
        msg([""]),
        msg([Bytes::from("big"), pattern(LARGE, 3), Bytes::new()]),
        msg(["after the big one"]),
    ];
    for message in &to_router {
        dealer.send(message.clone()).await;
    }
    for message in &to_router {
        router.expect(routed(DEALER_ID, message)).await;
    }

    let to_dealer = [
        msg(["welcome"]),
        msg(["", "", "x"]),
        msg([""]),
        msg([pattern(LARGE, 4), Bytes::from("tail")]),
        msg(["after the big one"]),
    ];
    for message in &to_dealer {
        router.send(routed(DEALER_ID, message)).await;
    }
    for message in to_dealer {
        dealer.expect(message).await;
    }

    for i in 0..100 {
        router
            .send(routed(DEALER_ID, &msg([format!("push {i}")])))
            .await;
    }
    for i in 0..100 {
        dealer.expect(msg([format!("push {i}")])).await;
    }
    dealer.expect_nothing_within(ROUND).await;
    router.expect_nothing_within(ROUND).await;
}

/// DEALER-ROUTER.
#[compio::test]
async fn sockets_dealer_router() {
    matrix(
        SocketType::Dealer,
        SocketType::Router,
        [Opts::id(DEALER_ID), Opts::NONE],
        dealer_router,
    )
    .await;
}

fn router_id(role: Role) -> &'static str {
    match role {
        Role::A => "router-a",
        Role::B => "router-b",
    }
}

/// Both ROUTERs have routing ids and mandatory routing. The connecting one addresses the binding
/// one by id as soon as it is routable; then each addresses the other.
async fn router_router(p: Rc<Pairing>) {
    let binder_id = router_id(p.case.binder);
    let connector_id = router_id(match p.case.binder {
        Role::A => Role::B,
        Role::B => Role::A,
    });
    let (binder, connector) = (p.binder(), p.connector());

    let hello = msg(["hello", ""]);
    connector
        .send_when_routable(routed(binder_id, &hello))
        .await;
    binder.expect(routed(connector_id, &hello)).await;
    let welcome = msg(["welcome"]);
    binder.send(routed(connector_id, &welcome)).await;
    connector.expect(routed(binder_id, &welcome)).await;

    for i in 0..20 {
        let down = msg([format!("down {i}"), String::new()]);
        let up = msg([format!("up {i}")]);
        binder.send(routed(connector_id, &down)).await;
        connector.send(routed(binder_id, &up)).await;
        connector.expect(routed(binder_id, &down)).await;
        binder.expect(routed(connector_id, &up)).await;
    }
    connector.expect_nothing_within(ROUND).await;
    binder.expect_nothing_within(ROUND).await;
}

/// ROUTER-ROUTER.
#[compio::test]
async fn sockets_router_router() {
    matrix(
        SocketType::Router,
        SocketType::Router,
        [
            Opts::mandatory_router(router_id(Role::A)),
            Opts::mandatory_router(router_id(Role::B)),
        ],
        router_router,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// PUB/XPUB - SUB/XSUB.

/// Publishes `noise` and `probe` messages (numbered) until `probe` reaches the subscriber: the
/// slow joiner. Each round waits [`ROUND`] for the subscriber; bounded by [`WAIT`]. Anything but a
/// probe arriving is a filtering failure.
async fn publish_until_received(publisher: &Peer, subscriber: &Peer, noise: &str, probe: &str) {
    let deadline = Instant::now() + WAIT;
    for round in 0.. {
        assert!(
            Instant::now() < deadline,
            "{}: no {probe:?} reached {} after {round} rounds",
            subscriber.case,
            subscriber.name
        );
        publisher.send(msg([format!("{noise} {round}")])).await;
        publisher.send(msg([format!("{probe} {round}")])).await;
        if let Some(message) = subscriber.recv_within(ROUND).await {
            assert!(
                starts_with(&message, probe),
                "{}: {} received {message:?} while only {probe:?} matches",
                subscriber.case,
                subscriber.name
            );
            return;
        }
    }
}

/// Publishes `cancelled` and `probe` messages (numbered) until a round where the probe arrives
/// without the cancelled topic before it: the cancel has reached the publisher by then.
async fn publish_until_cancelled(
    publisher: &Peer,
    subscriber: &Peer,
    cancelled: &str,
    probe: &str,
) {
    let deadline = Instant::now() + WAIT;
    for round in 0.. {
        assert!(
            Instant::now() < deadline,
            "{}: {} still receives {cancelled:?} after {round} rounds",
            subscriber.case,
            subscriber.name
        );
        let this_cancelled = msg([format!("{cancelled} {round}")]);
        let this_probe = msg([format!("{probe} {round}")]);
        publisher.send(this_cancelled.clone()).await;
        publisher.send(this_probe.clone()).await;
        let mut leaked = false;
        while let Some(message) = subscriber.recv_within(ROUND).await {
            if message == this_probe {
                if !leaked {
                    return;
                }
                break;
            }
            if message == this_cancelled {
                leaked = true;
            } else {
                // Only earlier rounds' messages may still arrive.
                assert!(
                    starts_with(&message, cancelled) || starts_with(&message, probe),
                    "{}: {} received {message:?}",
                    subscriber.case,
                    subscriber.name
                );
            }
        }
    }
}

/// Subscriptions (by socket option for SUB, by `\x01topic` message for XSUB) reach the publisher
/// (an XPUB hands them to its application), filter what arrives (prefix match on the first frame,
/// multipart and empty frames intact), and a cancel stops a topic (an XPUB sees `\x00topic`). An
/// XSUB's other messages reach an XPUB upstream.
async fn pub_sub(p: Rc<Pairing>) {
    let (publisher, subscriber) = (&p.a, &p.b);
    let xpub = p.case.a == SocketType::Xpub;
    let xsub = p.case.b == SocketType::Xsub;

    subscriber.subscribe("weather.").await;
    subscriber.subscribe("news.").await;
    if xpub {
        // A subscriber that binds replays both when the connection is attached, in its own order.
        let mut seen = vec![publisher.recv().await, publisher.recv().await];
        seen.sort_by(|x, y| x.frames().cmp(y.frames()));
        assert_eq!(
            seen,
            [prefixed(1, "news."), prefixed(1, "weather.")],
            "{}: what {} received as subscriptions",
            p.case,
            publisher.name
        );
    }
    // The subscriptions travel in order: once news. is in force, weather. is too.
    publish_until_received(publisher, subscriber, "sports.sync", "news.sync").await;

    let published = [
        msg(["sports.f1", "filtered out"]),
        msg(["weather.paris", "sunny"]),
        msg(["weatherman"]),
        msg(["news.", "", "empty frames", ""]),
        msg(["", "empty topic: filtered out"]),
        msg(["NEWS.caps: filtered out"]),
        msg([Bytes::from("weather.big"), pattern(64 * 1024, 7)]),
        msg(["news.end"]),
    ];
    for message in &published {
        publisher.send(message.clone()).await;
    }
    for index in [1, 3, 6, 7] {
        let got = subscriber.recv_skipping("news.sync").await;
        assert!(
            got == published[index],
            "{}: {} received {got:?}, expected {:?}",
            p.case,
            subscriber.name,
            published[index]
        );
    }

    if xsub && xpub {
        let upstream = msg(["upstream", "", "from the xsub"]);
        subscriber.send(upstream.clone()).await;
        publisher.expect(upstream).await;
    }

    subscriber.unsubscribe("weather.").await;
    if xpub {
        publisher.expect(prefixed(0, "weather.")).await;
    }
    publish_until_cancelled(publisher, subscriber, "weather.after", "news.probe").await;
    publisher.send(msg(["weather.final"])).await;
    publisher.send(msg(["news.final"])).await;
    subscriber.expect(msg(["news.final"])).await;
}

/// PUB-SUB.
#[compio::test]
async fn sockets_pub_sub() {
    matrix(SocketType::Pub, SocketType::Sub, [Opts::NONE; 2], pub_sub).await;
}

/// PUB-XSUB.
#[compio::test]
async fn sockets_pub_xsub() {
    matrix(SocketType::Pub, SocketType::Xsub, [Opts::NONE; 2], pub_sub).await;
}

/// XPUB-SUB.
#[compio::test]
async fn sockets_xpub_sub() {
    matrix(SocketType::Xpub, SocketType::Sub, [Opts::NONE; 2], pub_sub).await;
}

/// XPUB-XSUB.
#[compio::test]
async fn sockets_xpub_xsub() {
    matrix(SocketType::Xpub, SocketType::Xsub, [Opts::NONE; 2], pub_sub).await;
}
