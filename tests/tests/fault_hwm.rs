//! High-water marks per pattern, as libzmq: PUSH, DEALER, REQ and PAIR block the sender (or fail
//! a non-blocking send with `WouldBlock`), PUB and ROUTER drop, and a receiver's limit pushes back
//! on the sender through TCP. The tests count: exactly `send_hwm` where no TCP buffer is in
//! between, and between the sum of both marks and that sum plus what the kernel and the driver
//! can hold in transit (kernel buffers pinned with `SO_SNDBUF`/`SO_RCVBUF`) where there is one.

mod common;
mod fault_common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TCP_ANY, WAIT, free_port, num, read_num, tcp_port, wait_until, within};
use fault_common::{KERNEL_BUFFER, Rx, Tx, bind_retry, in_transit_bound, poll_once};
use monocoque::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SendErrorKind, SocketOptions, SubSocket,
};

/// A high-water mark that no default or round number would give by accident.
const HWM: usize = 7;

/// How long a sender waits in the tests where it must stay blocked.
const BLOCKED: Duration = Duration::from_millis(50);

/// How long a send that makes no progress means the sender is blocked for good.
const STUCK: Duration = Duration::from_millis(500);

/// The payload of the large messages: 64 KiB, so that the kernel buffers hold only a few.
const BIG: usize = 64 * 1024;

/// The bytes a `[num, BIG payload]` message takes on the wire: a short frame of 4 bytes and a
/// long frame (9-byte header) of 64 KiB.
const BIG_WIRE: usize = (2 + 4) + (9 + BIG);

fn big_payload() -> Bytes {
    Bytes::from((0..BIG).map(|i| (i % 251) as u8).collect::<Vec<_>>())
}

/// Options of a connecting socket that retries quickly and gives up on a blocked send.
fn connecting(hwm: usize) -> SocketOptions {
    SocketOptions::new()
        .send_hwm(hwm)
        .reconnect_interval(Duration::from_millis(10))
        .send_timeout(Some(BLOCKED))
}

/// Options of either end of a connection whose contents a test bounds.
fn pinned_buffers() -> SocketOptions {
    SocketOptions::new()
        .send_buffer(KERNEL_BUFFER)
        .recv_buffer(KERNEL_BUFFER)
}

// ---------------------------------------------------------------------------------------------
// Exact counts: a connecting socket before its peer exists.

/// Fills the queue of a connecting socket whose peer does not exist yet, with `make(0..)`.
/// Exactly `hwm` messages are taken; the next non-blocking send fails with `WouldBlock` and hands
/// the message back; a blocking send waits for the whole send timeout, then fails the same way;
/// a blocking send cancelled by a timeout leaves nothing behind (checked by the receiving side).
async fn fill_before_peer(tx: &impl Tx, hwm: usize, make: impl Fn(u32) -> Message) -> u32 {
    let mut queued = 0u32;
    let refused = loop {
        match tx.try_send_msg(make(queued)) {
            Ok(()) => queued += 1,
            Err(error) => break error,
        }
        assert!(queued <= 100 * hwm as u32, "queued without limit");
    };
    assert_eq!(
        queued as usize, hwm,
        "messages queued before the peer exists"
    );
    assert_eq!(refused.kind, SendErrorKind::WouldBlock);
    assert_eq!(
        refused.message,
        make(queued),
        "the refused message comes back"
    );

    let started = Instant::now();
    let error = within("a send that times out", tx.send_msg(make(queued)))
        .await
        .expect_err("a send to a full queue must wait, then fail");
    assert!(
        started.elapsed() >= BLOCKED,
        "the send gave up after {:?}, before its send timeout",
        started.elapsed()
    );
    assert_eq!(error.kind, SendErrorKind::TimedOut);
    assert_eq!(error.message, make(queued));

    let cancelled = compio::time::timeout(BLOCKED / 2, tx.send_msg(make(queued))).await;
    assert!(cancelled.is_err(), "a send to a full queue completed");
    queued
}

/// Receives exactly `queued` messages, `0..queued` in order, then the marker the sender sends
/// once they are read: nothing refused or cancelled was queued after all.
async fn expect_exactly(
    rx: &impl Rx,
    tx: &impl Tx,
    queued: u32,
    make: impl Fn(u32) -> Message,
    number: impl Fn(&Message) -> u32,
) {
    for i in 0..queued {
        let message = within("a queued message", rx.recv_msg())
            .await
            .expect("recv");
        assert_eq!(number(&message), i, "queued messages out of order");
        assert_eq!(message, make(i));
    }
    within("the marker", tx.send_msg(make(1_000_000)))
        .await
        .expect("send");
    let next = within("the marker", rx.recv_msg()).await.expect("recv");
    assert_eq!(
        number(&next),
        1_000_000,
        "a message beyond the high-water mark was queued"
    );
    assert!(rx.try_recv_msg().is_err(), "more than was queued arrived");
}

fn single(i: u32) -> Message {
    Message::single(num(i))
}

fn first_number(message: &Message) -> u32 {
    read_num(&message[0])
}

#[compio::test]
async fn a_connecting_push_queues_exactly_send_hwm_before_its_peer_exists() {
    let port = free_port();
    let push = PushSocket::with_options(connecting(HWM)).unwrap();
    push.connect(&tcp_port(port)).unwrap();
    let queued = fill_before_peer(&push, HWM, single).await;

    let pull = PullSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("PULL", || pull.bind(&endpoint)).await;
    expect_exactly(&pull, &push, queued, single, first_number).await;
}

#[compio::test]
async fn a_connecting_dealer_queues_exactly_send_hwm_before_its_peer_exists() {
    let port = free_port();
    let dealer = DealerSocket::with_options(connecting(HWM)).unwrap();
    dealer.connect(&tcp_port(port)).unwrap();
    let queued = fill_before_peer(&dealer, HWM, single).await;

    let peer = DealerSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("DEALER", || peer.bind(&endpoint)).await;
    expect_exactly(&peer, &dealer, queued, single, first_number).await;
}

#[compio::test]
async fn a_connecting_pair_queues_exactly_send_hwm_before_its_peer_exists() {
    let port = free_port();
    let pair = PairSocket::with_options(connecting(HWM)).unwrap();
    pair.connect(&tcp_port(port)).unwrap();
    let queued = fill_before_peer(&pair, HWM, single).await;

    let peer = PairSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("PAIR", || peer.bind(&endpoint)).await;
    expect_exactly(&peer, &pair, queued, single, first_number).await;
}

/// A strict REQ has one request in flight, so its high-water mark shows with `req_relaxed`,
/// which lets requests follow each other without replies (and `req_correlate`, so that the
/// replies to the abandoned requests are told from the last one's).
#[compio::test]
async fn a_connecting_relaxed_req_queues_exactly_send_hwm_before_its_peer_exists() {
    let port = free_port();
    let req =
        ReqSocket::with_options(connecting(HWM).req_relaxed(true).req_correlate(true)).unwrap();
    req.connect(&tcp_port(port)).unwrap();
    let queued = fill_before_peer(&req, HWM, single).await;

    // A strict REQ refuses a second request before any peer is there: it is a state error, not
    // a queue. (No linger: dropped, it must not deliver its request to the REP below.)
    let strict = ReqSocket::with_options(connecting(HWM).linger(Some(Duration::ZERO))).unwrap();
    strict.connect(&tcp_port(port)).unwrap();
    strict.try_send(single(0)).unwrap();
    assert_eq!(
        strict.try_send(single(1)).unwrap_err().kind,
        SendErrorKind::InvalidState
    );
    drop(strict);

    let rep = RepSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("REP", || rep.bind(&endpoint)).await;
    for i in 0..queued {
        let request = within("a queued request", rep.recv()).await.unwrap();
        assert_eq!(request, single(i), "queued requests out of order");
        within("reply", rep.send("ok")).await.unwrap();
    }
    within("the last request", req.send(single(1_000_000)))
        .await
        .unwrap();
    let request = within("the last request", rep.recv()).await.unwrap();
    assert_eq!(
        request,
        single(1_000_000),
        "a request beyond the high-water mark was queued"
    );
    within("reply", rep.send("last")).await.unwrap();
    assert_eq!(
        within("the reply", req.recv()).await.unwrap(),
        Message::from("last")
    );
}

// ---------------------------------------------------------------------------------------------
// Receive-side limits push back on a blocking sender through TCP.

/// Sends `make(0..)` from `tx` to `rx`, which does not read, until the sender has made no
/// progress for [`STUCK`]. The count must reach both queues full (`lower`) and never exceed
/// them plus what is in transit (`upper`). Then everything arrives, in order, whole, once.
async fn pushback(
    what: &str,
    tx: &impl Tx,
    rx: &impl Rx,
    (lower, upper): (usize, usize),
    make: impl Fn(u32) -> Message,
    number: impl Fn(&Message) -> u32,
) {
    let deadline = Instant::now() + WAIT;
    let mut sent = 0u32;
    loop {
        match tx.try_send_msg(make(sent)) {
            Ok(()) => sent += 1,
            Err(error) => {
                assert_eq!(error.kind, SendErrorKind::WouldBlock, "{what}");
                assert_eq!(number(&error.message), sent, "{what}: the refused message");
                match compio::time::timeout(STUCK, tx.send_msg(error.message)).await {
                    Ok(result) => {
                        result.expect("send");
                        sent += 1;
                    }
                    Err(_) if sent as usize >= lower => break,
                    Err(_) => assert!(
                        Instant::now() < deadline,
                        "{what}: blocked after {sent} messages, before both queues \
                         ({lower} messages) were full"
                    ),
                }
            }
        }
        assert!(
            sent as usize <= upper,
            "{what}: {sent} messages accepted while the receiver does not read; at most \
             {upper} fit in both queues and in transit"
        );
    }
    println!("{what}: the sender blocked after {sent} messages (bounds {lower}..={upper})");

    for i in 0..sent {
        let message = within("drain", rx.recv_msg()).await.expect("recv");
        assert_eq!(number(&message), i, "{what}: out of order");
        assert!(message == make(i), "{what}: message {i} altered");
    }
    // The send cancelled by the timeout left nothing: the next message is the one sent now.
    within("a send after draining", tx.send_msg(make(sent)))
        .await
        .expect("send");
    let message = within("recv", rx.recv_msg()).await.expect("recv");
    assert_eq!(
        number(&message),
        sent,
        "{what}: a cancelled send was queued"
    );
    assert!(
        rx.try_recv_msg().is_err(),
        "{what}: a message arrived twice"
    );
}

fn big(i: u32) -> Message {
    Message::from_iter([num(i), big_payload()])
}

/// Both ends full, and nothing more can be accepted than what is in transit.
fn pushback_bounds(send_hwm: usize, recv_hwm: usize) -> (usize, usize) {
    let lower = send_hwm + recv_hwm;
    (lower, lower + in_transit_bound(BIG_WIRE))
}

const SEND_HWM: usize = 8;
const RECV_HWM: usize = 5;

#[compio::test]
async fn a_pull_that_does_not_read_blocks_the_push_within_both_marks_plus_transit() {
    let pull = PullSocket::with_options(pinned_buffers().recv_hwm(RECV_HWM)).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(pinned_buffers().send_hwm(SEND_HWM)).unwrap();
    push.connect(&endpoint).unwrap();
    wait_until("connected", || {
        push.connected_peers() == 1 && pull.connected_peers() == 1
    })
    .await;
    let bounds = pushback_bounds(SEND_HWM, RECV_HWM);
    pushback("PUSH to PULL", &push, &pull, bounds, big, first_number).await;
}

#[compio::test]
async fn a_dealer_that_does_not_read_blocks_the_dealer_within_both_marks_plus_transit() {
    let receiver = DealerSocket::with_options(pinned_buffers().recv_hwm(RECV_HWM)).unwrap();
    let endpoint = receiver.bind(TCP_ANY).await.unwrap().to_string();
    let sender = DealerSocket::with_options(pinned_buffers().send_hwm(SEND_HWM)).unwrap();
    sender.connect(&endpoint).unwrap();
    wait_until("connected", || {
        sender.connected_peers() == 1 && receiver.connected_peers() == 1
    })
    .await;
    let bounds = pushback_bounds(SEND_HWM, RECV_HWM);
    pushback(
        "DEALER to DEALER",
        &sender,
        &receiver,
        bounds,
        big,
        first_number,
    )
    .await;
}

#[compio::test]
async fn a_pair_that_does_not_read_blocks_the_pair_within_both_marks_plus_transit() {
    let receiver = PairSocket::with_options(pinned_buffers().recv_hwm(RECV_HWM)).unwrap();
    let endpoint = receiver.bind(TCP_ANY).await.unwrap().to_string();
    let sender = PairSocket::with_options(pinned_buffers().send_hwm(SEND_HWM)).unwrap();
    sender.connect(&endpoint).unwrap();
    wait_until("connected", || {
        sender.connected_peers() == 1 && receiver.connected_peers() == 1
    })
    .await;
    let bounds = pushback_bounds(SEND_HWM, RECV_HWM);
    pushback(
        "PAIR to PAIR",
        &sender,
        &receiver,
        bounds,
        big,
        first_number,
    )
    .await;
}

/// A ROUTER with `router_mandatory` does not drop for a full peer: it blocks like a PUSH.
#[compio::test]
async fn a_mandatory_router_blocks_on_a_dealer_that_does_not_read() {
    let router =
        RouterSocket::with_options(pinned_buffers().send_hwm(SEND_HWM).router_mandatory(true))
            .unwrap();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealer =
        DealerSocket::with_options(pinned_buffers().recv_hwm(RECV_HWM).routing_id("d")).unwrap();
    dealer.connect(&endpoint).unwrap();
    within("hello", dealer.send("hello")).await.unwrap();
    assert_eq!(
        within("hello", router.recv()).await.unwrap(),
        Message::from("d").with("hello")
    );
    let bounds = pushback_bounds(SEND_HWM, RECV_HWM);
    let to_dealer = |i| Message::from_iter([Bytes::from_static(b"d"), num(i), big_payload()]);
    // The ROUTER hands back what it refused with the routing id; the DEALER gets it without.
    let number = |m: &Message| read_num(&m[m.len() - 2]);
    pushback(
        "mandatory ROUTER to DEALER",
        &router,
        &RoutedRx(&dealer),
        bounds,
        to_dealer,
        number,
    )
    .await;
}

/// The DEALER end of a ROUTER stream, seen with the routing id the ROUTER sent, so that what
/// the ROUTER sends and what the DEALER receives compare equal.
struct RoutedRx<'a>(&'a DealerSocket);

impl Rx for RoutedRx<'_> {
    fn try_recv_msg(&self) -> Result<Message, monocoque::RecvError> {
        self.0.try_recv().map(|mut m| {
            m.push_front(Bytes::from_static(b"d"));
            m
        })
    }
    async fn recv_msg(&self) -> Result<Message, monocoque::RecvError> {
        self.0.recv().await.map(|mut m| {
            m.push_front(Bytes::from_static(b"d"));
            m
        })
    }
}

// ---------------------------------------------------------------------------------------------
// PUB drops.

/// A PUB and a SUB subscribed to everything, connected, and with the subscription in force: the
/// SUB has received a message, and the PUB's queue for it is empty.
async fn pub_sub(pub_options: SocketOptions, sub_options: SocketOptions) -> (PubSocket, SubSocket) {
    let publisher = PubSocket::with_options(pub_options).expect("options accepted");
    let endpoint = publisher.bind(TCP_ANY).await.expect("bind").to_string();
    let subscriber = SubSocket::with_options(sub_options).expect("options accepted");
    subscriber.subscribe("");
    subscriber.connect(&endpoint).expect("connect");
    // The subscription reaches the PUB asynchronously: publish until something arrives.
    let deadline = Instant::now() + WAIT;
    loop {
        publisher
            .try_send("sync")
            .expect("a PUB or ROUTER send never fails");
        let round = Duration::from_millis(10);
        if let Ok(message) = compio::time::timeout(round, subscriber.recv()).await {
            assert_eq!(message.expect("recv"), Message::from("sync"));
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never arrived");
    }
    await_pub_fence(&publisher, &subscriber, "fence-0", |m| {
        assert_eq!(
            m,
            &Message::from("sync"),
            "only sync messages before the fence"
        );
    })
    .await;
    (publisher, subscriber)
}

/// Sends a fence with `send_fence` until `rx` receives one, handing `before` everything that
/// comes first. A fence sent while the receiver's queue is full is dropped like anything else,
/// hence the repetition; once one arrived, everything sent before it has been read.
async fn await_fence(
    send_fence: impl Fn(),
    rx: &impl Rx,
    fence: &Message,
    mut before: impl FnMut(&Message),
) {
    let deadline = Instant::now() + WAIT;
    loop {
        send_fence();
        loop {
            let round = Duration::from_millis(10);
            match compio::time::timeout(round, rx.recv_msg()).await {
                Ok(message) => {
                    let message = message.expect("recv");
                    if message == *fence {
                        // Later copies of this fence may still come: the caller moves on to
                        // another one.
                        return;
                    }
                    before(&message);
                }
                Err(_) => break,
            }
        }
        assert!(Instant::now() < deadline, "{fence:?} never arrived");
    }
}

/// [`await_fence`] from a PUB.
async fn await_pub_fence(
    publisher: &PubSocket,
    subscriber: &SubSocket,
    fence: &str,
    before: impl FnMut(&Message),
) {
    let send = || {
        publisher
            .try_send(fence)
            .expect("a PUB or ROUTER send never fails")
    };
    await_fence(send, subscriber, &Message::from(fence), before).await;
}

/// Without giving the writer a turn, a PUB takes exactly `send_hwm` messages for a subscriber
/// and drops the rest; every send succeeds at once.
#[compio::test]
async fn a_pub_queues_exactly_send_hwm_for_a_subscriber_and_drops_the_rest() {
    const SENT: u32 = 10 * HWM as u32;
    let (publisher, subscriber) =
        pub_sub(SocketOptions::new().send_hwm(HWM), SocketOptions::new()).await;
    for i in 0..SENT {
        // Never blocks: the async send is ready at its first poll, as the non-blocking one.
        if i % 2 == 0 {
            publisher.try_send(single(i)).unwrap();
        } else {
            poll_once(publisher.send(single(i)))
                .await
                .expect("a PUB send waited")
                .unwrap();
        }
    }
    let mut received = Vec::new();
    await_pub_fence(&publisher, &subscriber, "fence-1", |m| {
        received.push(first_number(m));
    })
    .await;
    let expected: Vec<u32> = (0..HWM as u32).collect();
    assert_eq!(
        received, expected,
        "of {SENT} messages published at once, exactly the first send_hwm = {HWM} are delivered"
    );
}

/// A subscriber that does not read: the PUB never blocks, and the subscriber ends up with an
/// ordered subset (gaps only) of at least both queues' worth and at most that plus what is in
/// transit.
#[compio::test]
async fn a_pub_never_blocks_on_a_subscriber_that_does_not_read_which_gets_a_bounded_subset() {
    const PUB_HWM: usize = 6;
    const SUB_HWM: usize = 4;
    const SENT: u32 = 300;
    let (publisher, subscriber) = pub_sub(
        pinned_buffers().send_hwm(PUB_HWM),
        pinned_buffers().recv_hwm(SUB_HWM),
    )
    .await;
    let started = Instant::now();
    for i in 0..SENT {
        if i % 2 == 0 {
            publisher.try_send(big(i)).unwrap();
        } else {
            poll_once(publisher.send(big(i)))
                .await
                .expect("a PUB send waited")
                .unwrap();
        }
        // Give the writer and the subscriber's reader time to move what they can.
        compio::time::sleep(Duration::from_micros(200)).await;
    }
    let publishing = started.elapsed();
    let mut received: Vec<u32> = Vec::new();
    await_pub_fence(&publisher, &subscriber, "fence-2", |m| {
        assert!(*m == big(first_number(m)), "a message was altered");
        received.push(first_number(m));
    })
    .await;
    let gaps = received
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .count();
    println!(
        "PUB to a SUB that does not read: {} of {SENT} delivered in {publishing:?} of \
         publishing, {gaps} gaps, first {:?}, last {:?}",
        received.len(),
        received.first(),
        received.last()
    );
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "reordered or duplicated: {received:?}"
    );
    let lower = PUB_HWM + SUB_HWM;
    let upper = lower + in_transit_bound(BIG_WIRE);
    assert!(
        (lower..=upper).contains(&received.len()),
        "{} delivered, expected {lower}..={upper}: {received:?}",
        received.len()
    );
}

// ---------------------------------------------------------------------------------------------
// ROUTER drops.

/// A ROUTER with a DEALER peer known as "d".
async fn router_dealer(
    router_options: SocketOptions,
    dealer_options: SocketOptions,
) -> (RouterSocket, DealerSocket) {
    let router = RouterSocket::with_options(router_options).expect("options accepted");
    let endpoint = router.bind(TCP_ANY).await.expect("bind").to_string();
    let dealer =
        DealerSocket::with_options(dealer_options.routing_id("d")).expect("options accepted");
    dealer.connect(&endpoint).expect("connect");
    within("hello", dealer.send("hello")).await.expect("send");
    assert_eq!(
        within("hello", router.recv()).await.expect("recv"),
        Message::from("d").with("hello")
    );
    (router, dealer)
}

fn routed(i: u32) -> Message {
    Message::from_iter([Bytes::from_static(b"d"), num(i)])
}

/// Without giving the writer a turn, a ROUTER takes exactly `send_hwm` messages for a peer and
/// drops the rest; with `router_mandatory` the next send fails with `WouldBlock` instead (that a
/// blocking one then waits is `a_mandatory_router_blocks_on_a_dealer_that_does_not_read`).
#[compio::test]
async fn a_router_queues_exactly_send_hwm_for_a_peer_then_drops_or_would_block() {
    const SENT: u32 = 10 * HWM as u32;
    let (router, dealer) =
        router_dealer(SocketOptions::new().send_hwm(HWM), SocketOptions::new()).await;
    for i in 0..SENT {
        router.try_send(routed(i)).unwrap();
    }
    for i in 0..HWM as u32 {
        let message = within("a queued message", dealer.recv()).await.unwrap();
        assert_eq!(message, single(i));
    }
    within("marker", router.send(routed(1_000_000)))
        .await
        .unwrap();
    assert_eq!(
        within("marker", dealer.recv()).await.unwrap(),
        single(1_000_000),
        "of {SENT} messages routed at once, more than send_hwm = {HWM} were delivered"
    );

    router.set_options(|o| o.router_mandatory(true)).unwrap();
    for i in 0..HWM as u32 {
        router.try_send(routed(i)).unwrap();
    }
    let refused = router.try_send(routed(HWM as u32)).unwrap_err();
    assert_eq!(refused.kind, SendErrorKind::WouldBlock);
    assert_eq!(refused.message, routed(HWM as u32), "handed back whole");
    for i in 0..HWM as u32 {
        let message = within("a queued message", dealer.recv()).await.unwrap();
        assert_eq!(message, single(i));
    }
    within("marker", router.send(routed(2_000_000)))
        .await
        .unwrap();
    assert_eq!(
        within("marker", dealer.recv()).await.unwrap(),
        single(2_000_000),
        "a refused mandatory send was queued"
    );
}

/// A DEALER that does not read: the ROUTER never blocks, and the DEALER ends up with an ordered
/// subset of at least both queues' worth and at most that plus what is in transit.
#[compio::test]
async fn a_router_never_blocks_on_a_peer_that_does_not_read_which_gets_a_bounded_subset() {
    const ROUTER_HWM: usize = 6;
    const DEALER_HWM: usize = 4;
    const SENT: u32 = 300;
    let (router, dealer) = router_dealer(
        pinned_buffers().send_hwm(ROUTER_HWM),
        pinned_buffers().recv_hwm(DEALER_HWM),
    )
    .await;
    let to_dealer = |i| Message::from_iter([Bytes::from_static(b"d"), num(i), big_payload()]);
    for i in 0..SENT {
        if i % 2 == 0 {
            router.try_send(to_dealer(i)).unwrap();
        } else {
            poll_once(router.send(to_dealer(i)))
                .await
                .expect("a ROUTER send waited")
                .unwrap();
        }
        compio::time::sleep(Duration::from_micros(200)).await;
    }
    let mut received: Vec<u32> = Vec::new();
    let end = || router.try_send(Message::from("d").with("end")).unwrap();
    await_fence(end, &dealer, &Message::from("end"), |m| {
        assert!(*m == big(first_number(m)), "a message was altered");
        received.push(first_number(m));
    })
    .await;
    let gaps = received
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .count();
    println!(
        "ROUTER to a DEALER that does not read: {} of {SENT} delivered, {gaps} gaps, \
         last {:?}",
        received.len(),
        received.last()
    );
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "reordered or duplicated: {received:?}"
    );
    let lower = ROUTER_HWM + DEALER_HWM;
    let upper = lower + in_transit_bound(BIG_WIRE);
    assert!(
        (lower..=upper).contains(&received.len()),
        "{} delivered, expected {lower}..={upper}: {received:?}",
        received.len()
    );
}
