//! PUB, SUB, XPUB and XSUB (RFC 29) between monocoque sockets over TCP and IPC: prefix
//! filtering, counted subscriptions, replay on reconnection, dropping for slow subscribers,
//! subscription messages and a forwarding proxy.
//!
//! A subscription reaches the publisher asynchronously, so each test first publishes a probe
//! until the subscriber receives one ([`publish_until`]); from then on the publisher knows the
//! subscription, and each connection keeps its order.

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{IpcPath, TCP_ANY, WAIT, free_port, num, read_num, tcp_port, wait_until, within};
use monocoque::{Message, PubSocket, SocketOptions, SubSocket, XPubSocket, XSubSocket};

/// How long a subscriber waits for a probe before the publisher sends the next one.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// Publishes `probes` round after round until `sub` receives something, which it returns.
async fn publish_until_any(publisher: &PubSocket, sub: &SubSocket, probes: &[Message]) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        for probe in probes {
            // PUB never blocks: this only fails if the socket is broken.
            within("publish", publisher.send(probe.clone()))
                .await
                .expect("PUB sends");
        }
        if let Ok(received) = compio::time::timeout(PROBE_INTERVAL, sub.recv()).await {
            return received.expect("SUB receives");
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never reached the publisher"
        );
    }
}

/// [`publish_until_any`] with a single probe.
async fn publish_until(publisher: &PubSocket, sub: &SubSocket, probe: &Message) -> Message {
    publish_until_any(publisher, sub, std::slice::from_ref(probe)).await
}

/// The same for an XSUB subscriber.
async fn publish_until_xsub(publisher: &PubSocket, sub: &XSubSocket, probe: &Message) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        within("publish", publisher.send(probe.clone()))
            .await
            .expect("PUB sends");
        if let Ok(received) = compio::time::timeout(PROBE_INTERVAL, sub.recv()).await {
            return received.expect("XSUB receives");
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never reached the publisher"
        );
    }
}

/// Receives until `last`, leaving out the messages `skip` matches; returns what it kept.
async fn collect_until(
    sub: &SubSocket,
    last: &Message,
    skip: impl Fn(&Message) -> bool,
) -> Vec<Message> {
    let mut kept = Vec::new();
    for _ in 0..100_000 {
        let message = within("recv", sub.recv()).await.expect("SUB receives");
        if skip(&message) {
            continue;
        }
        let done = &message == last;
        kept.push(message);
        if done {
            return kept;
        }
    }
    panic!("no {last:?} among 100000 messages");
}

fn msg(topic: &str) -> Message {
    Message::from(topic)
}

/// Whether the message's first frame starts with `prefix`.
fn starts_with(message: &Message, prefix: &str) -> bool {
    message[0].starts_with(prefix.as_bytes())
}

/// A PUB bound on TCP and a SUB connected to it.
async fn pub_and_sub() -> (PubSocket, SubSocket) {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.expect("bind").to_string();
    let sub = SubSocket::new();
    sub.connect(&endpoint).expect("connect");
    (publisher, sub)
}

#[compio::test]
async fn sub_receives_only_messages_matching_its_prefix() {
    let (publisher, sub) = pub_and_sub().await;
    sub.subscribe("weather.");
    let probe = msg("weather.probe");
    assert_eq!(publish_until(&publisher, &sub, &probe).await, probe);

    for topic in [
        "weather.paris",
        "sports.f1",
        "weathe",
        "",
        "weather.",
        "WEATHER.x",
    ] {
        within("publish", publisher.send(Message::from(topic).with("body")))
            .await
            .unwrap();
    }
    within("publish", publisher.send(msg("weather.end")))
        .await
        .unwrap();
    let received = collect_until(&sub, &msg("weather.end"), |m| m == &probe).await;
    assert_eq!(
        received,
        [
            Message::from("weather.paris").with("body"),
            Message::from("weather.").with("body"),
            msg("weather.end"),
        ]
    );
}

#[compio::test]
async fn an_empty_subscription_receives_everything() {
    let (publisher, sub) = pub_and_sub().await;
    sub.subscribe("");
    let probe = msg("probe");
    assert_eq!(publish_until(&publisher, &sub, &probe).await, probe);

    let sent = [
        msg("a"),
        msg(""),
        Message::from_iter(["", "empty topic, two frames"]),
        Message::from_iter(["x", "", "y"]),
        Message::single(Bytes::from_static(&[0, 1, 255])),
        msg("end"),
    ];
    for message in &sent {
        within("publish", publisher.send(message.clone()))
            .await
            .unwrap();
    }
    assert_eq!(
        collect_until(&sub, &msg("end"), |m| m == &probe).await,
        sent
    );
}

#[compio::test]
async fn a_sub_without_subscriptions_receives_nothing() {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let (listening, silent) = (SubSocket::new(), SubSocket::new());
    listening.subscribe("");
    listening.connect(&endpoint).unwrap();
    silent.connect(&endpoint).unwrap();
    wait_until("both subscribers are connected", || {
        publisher.connected_peers() == 2 && silent.connected_peers() == 1
    })
    .await;
    let probe = msg("probe");
    assert_eq!(publish_until(&publisher, &listening, &probe).await, probe);

    for i in 0..100 {
        within("publish", publisher.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    let received = collect_until(&listening, &Message::single(num(99)), |m| m == &probe).await;
    assert_eq!(received.len(), 100);
    assert!(silent.try_recv().is_err());
    // Now the silent SUB subscribes to a marker: the first thing it receives must be the marker,
    // so none of the 100 messages was sent to it.
    silent.subscribe("marker");
    let first = publish_until_any(
        &publisher,
        &silent,
        &[Message::single(num(7)), msg("marker")],
    )
    .await;
    assert_eq!(first, msg("marker"));
}

#[compio::test]
async fn unsubscribe_stops_delivery() {
    let (publisher, sub) = pub_and_sub().await;
    sub.subscribe("a");
    let probe = msg("a-probe");
    assert_eq!(publish_until(&publisher, &sub, &probe).await, probe);

    sub.unsubscribe("a");
    sub.subscribe("m");
    // The cancel reaches the publisher before the new subscription (one connection, in order):
    // once "m" arrives, no "a" may follow.
    let mut first = publish_until_any(&publisher, &sub, &[msg("a-late"), msg("m")]).await;
    while first != msg("m") {
        assert!(starts_with(&first, "a"), "unexpected {first:?}");
        first = within("recv", sub.recv()).await.unwrap();
    }
    for _ in 0..50 {
        within("publish", publisher.send(msg("a-after")))
            .await
            .unwrap();
    }
    within("publish", publisher.send(msg("m-end")))
        .await
        .unwrap();
    let received = collect_until(&sub, &msg("m-end"), |m| m == &msg("m")).await;
    assert_eq!(received, [msg("m-end")], "delivered after unsubscribe");
}

#[compio::test]
async fn subscriptions_are_counted() {
    let (publisher, sub) = pub_and_sub().await;
    sub.subscribe("a");
    sub.subscribe("a");
    sub.unsubscribe("a");
    sub.subscribe("m");
    let first = publish_until(&publisher, &sub, &msg("m")).await;
    assert_eq!(first, msg("m"));
    for i in 0..10 {
        within("publish", publisher.send(Message::from("a").with(num(i))))
            .await
            .unwrap();
    }
    within("publish", publisher.send(msg("m-end")))
        .await
        .unwrap();
    let received = collect_until(&sub, &msg("m-end"), |m| m == &msg("m")).await;
    assert_eq!(
        received.len(),
        11,
        "one unsubscribe of two cancelled the topic"
    );
    for (i, message) in (0..10).zip(&received) {
        assert_eq!(message, &Message::from("a").with(num(i)));
    }

    // The second unsubscribe cancels it.
    sub.unsubscribe("a");
    sub.subscribe("n");
    let mut first = publish_until_any(&publisher, &sub, &[msg("a"), msg("n")]).await;
    while first != msg("n") {
        first = within("recv", sub.recv()).await.unwrap();
    }
    within("publish", publisher.send(msg("a"))).await.unwrap();
    within("publish", publisher.send(msg("n-end")))
        .await
        .unwrap();
    let received = collect_until(&sub, &msg("n-end"), |m| m == &msg("n")).await;
    assert_eq!(received, [msg("n-end")]);
}

#[compio::test]
async fn several_subs_with_different_topics() {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let topics = ["A", "B", ""];
    let subs: Vec<SubSocket> = topics
        .iter()
        .map(|topic| {
            let sub = SubSocket::new();
            sub.subscribe(*topic);
            sub.connect(&endpoint).unwrap();
            sub
        })
        .collect();
    let is_probe = |m: &Message| m[0].ends_with(b"-probe");
    for (topic, sub) in topics.iter().zip(&subs) {
        let probe = msg(&format!("{topic}-probe"));
        let first = publish_until(&publisher, sub, &probe).await;
        assert!(is_probe(&first));
    }

    for topic in ["A1", "B1", "C1", "A2", "B2", "A-end", "B-end", "Z-end"] {
        within("publish", publisher.send(msg(topic))).await.unwrap();
    }
    let expected = [
        vec![msg("A1"), msg("A2"), msg("A-end")],
        vec![msg("B1"), msg("B2"), msg("B-end")],
        ["A1", "B1", "C1", "A2", "B2", "A-end", "B-end", "Z-end"]
            .map(msg)
            .to_vec(),
    ];
    for ((sub, last), expected) in subs.iter().zip(["A-end", "B-end", "Z-end"]).zip(expected) {
        assert_eq!(collect_until(sub, &msg(last), is_probe).await, expected);
    }
}

#[compio::test]
async fn a_sub_connecting_before_the_pub_binds_gets_its_subscription_replayed() {
    let port = free_port();
    let sub =
        SubSocket::with_options(SocketOptions::new().reconnect_interval(Duration::from_millis(10)))
            .unwrap();
    sub.subscribe("t");
    sub.connect(&tcp_port(port)).unwrap();
    assert_eq!(sub.connected_peers(), 0);

    let publisher = PubSocket::new();
    publisher.bind(&tcp_port(port)).await.unwrap();
    let first = publish_until_any(&publisher, &sub, &[msg("t-1"), msg("x")]).await;
    assert_eq!(first, msg("t-1"));

    // The publisher goes away and a new one binds the same port: the SUB reconnects and
    // subscribes again by itself.
    drop(publisher);
    wait_until("the SUB sees the PUB gone", || sub.connected_peers() == 0).await;
    let publisher = PubSocket::new();
    publisher.bind(&tcp_port(port)).await.unwrap();
    let mut first = publish_until_any(&publisher, &sub, &[msg("x"), msg("t-2")]).await;
    // A leftover of the first publisher may still be queued.
    while first == msg("t-1") {
        first = within("recv", sub.recv()).await.unwrap();
    }
    assert_eq!(first, msg("t-2"));
}

#[compio::test]
async fn pub_drops_for_a_slow_subscriber_instead_of_blocking() {
    const COUNT: u32 = 20_000;
    let publisher = PubSocket::with_options(SocketOptions::new().send_hwm(10)).unwrap();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let sub = SubSocket::with_options(SocketOptions::new().recv_hwm(10)).unwrap();
    sub.subscribe("");
    sub.connect(&endpoint).unwrap();
    let probe = msg("probe");
    assert_eq!(publish_until(&publisher, &sub, &probe).await, probe);

    // 20 MB to a subscriber that does not read: far more than the queues and the kernel hold.
    // Every send returns at once.
    let payload = Bytes::from(vec![3u8; 1024]);
    let started = Instant::now();
    for i in 0..COUNT {
        publisher
            .try_send(Message::from_iter([num(i), payload.clone()]))
            .unwrap_or_else(|e| panic!("publishing message {i} failed: {e}"));
        if i % 1000 == 0 {
            // Let the writer run, as a real publisher would between bursts.
            compio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(
        started.elapsed() < WAIT,
        "publishing took {:?}",
        started.elapsed()
    );

    // Now the subscriber reads; the publisher sends an end marker until it gets through.
    let end = msg("end");
    let mut received = 0u32;
    let mut last = None;
    let deadline = Instant::now() + WAIT;
    loop {
        match compio::time::timeout(PROBE_INTERVAL, sub.recv()).await {
            Ok(message) => {
                let message = message.unwrap();
                if message == end {
                    break;
                }
                if message == probe {
                    continue;
                }
                let i = read_num(&message[0]);
                assert!(last.is_none_or(|l| i > l), "{i} after {last:?}");
                last = Some(i);
                received += 1;
            }
            Err(_) => publisher.try_send(end.clone()).unwrap(),
        }
        assert!(Instant::now() < deadline, "the end marker never arrived");
    }
    assert!(received > 0, "nothing arrived");
    assert!(
        received < COUNT,
        "all {COUNT} messages arrived: nothing was dropped"
    );
}

#[compio::test]
async fn xpub_receives_first_subscriptions_and_last_cancels() {
    let xpub = XPubSocket::new();
    let endpoint = xpub.bind(TCP_ANY).await.unwrap().to_string();
    let (one, two) = (SubSocket::new(), SubSocket::new());
    one.connect(&endpoint).unwrap();
    two.connect(&endpoint).unwrap();
    wait_until("both subscribers are connected", || {
        xpub.connected_peers() == 2 && one.connected_peers() == 1 && two.connected_peers() == 1
    })
    .await;
    let next = || within("xpub recv", xpub.recv());
    let frame = |bytes: &[u8]| Message::single(Bytes::copy_from_slice(bytes));

    one.subscribe("news");
    assert_eq!(next().await.unwrap(), frame(b"\x01news"));
    // A second subscriber of the same topic is not reported; the marker after it is.
    two.subscribe("news");
    two.subscribe("m1");
    assert_eq!(next().await.unwrap(), frame(b"\x01m1"));
    // Neither is the first of two cancels.
    one.unsubscribe("news");
    one.subscribe("m2");
    assert_eq!(next().await.unwrap(), frame(b"\x01m2"));
    two.unsubscribe("news");
    assert_eq!(next().await.unwrap(), frame(b"\x00news"));
    // The empty topic too.
    one.subscribe("");
    assert_eq!(next().await.unwrap(), frame(b"\x01"));
    // A subscriber going away cancels what only it subscribed to.
    two.subscribe("solo");
    assert_eq!(next().await.unwrap(), frame(b"\x01solo"));
    drop(two);
    let mut cancels = vec![next().await.unwrap(), next().await.unwrap()];
    cancels.sort_by(|a, b| a[0].cmp(&b[0]));
    assert_eq!(cancels, [frame(b"\x00m1"), frame(b"\x00solo")]);
    assert!(xpub.try_recv().is_err());
}

#[compio::test]
async fn xsub_subscribes_by_sending_a_message() {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let xsub = XSubSocket::new();
    xsub.connect(&endpoint).unwrap();
    within(
        "subscribe",
        xsub.send(Message::single(Bytes::from_static(b"\x01a"))),
    )
    .await
    .unwrap();
    let first = publish_until_xsub(&publisher, &xsub, &msg("a-probe")).await;
    assert_eq!(first, msg("a-probe"));
    for topic in ["a1", "b1", "a2", "a-end"] {
        within("publish", publisher.send(msg(topic))).await.unwrap();
    }
    let mut received = Vec::new();
    while received.last() != Some(&msg("a-end")) {
        let message = within("recv", xsub.recv()).await.unwrap();
        if message != msg("a-probe") {
            received.push(message);
        }
    }
    assert_eq!(received, [msg("a1"), msg("a2"), msg("a-end")]);

    // A cancel message stops it again.
    within(
        "cancel",
        xsub.send(Message::single(Bytes::from_static(b"\x00a"))),
    )
    .await
    .unwrap();
    within(
        "subscribe",
        xsub.send(Message::single(Bytes::from_static(b"\x01z"))),
    )
    .await
    .unwrap();
    let mut first = publish_until_xsub(&publisher, &xsub, &msg("z")).await;
    while first != msg("z") {
        assert!(starts_with(&first, "a"), "unexpected {first:?}");
        first = within("recv", xsub.recv()).await.unwrap();
    }
    within("publish", publisher.send(msg("a3"))).await.unwrap();
    within("publish", publisher.send(msg("z-end")))
        .await
        .unwrap();
    let mut next = within("recv", xsub.recv()).await.unwrap();
    while next == msg("z") {
        next = within("recv", xsub.recv()).await.unwrap();
    }
    assert_eq!(next, msg("z-end"), "delivered after the cancel");
}

#[compio::test]
async fn an_xpub_xsub_proxy_forwards_between_a_pub_and_a_sub() {
    let path = IpcPath::new("proxy-frontend");
    let publisher = PubSocket::new();
    publisher.bind(&path.endpoint()).await.unwrap();
    let (xsub, xpub) = (Rc::new(XSubSocket::new()), Rc::new(XPubSocket::new()));
    xsub.connect(&path.endpoint()).unwrap();
    let backend = xpub.bind(TCP_ANY).await.unwrap().to_string();
    // The proxy: subscriptions upstream, messages downstream.
    let _upstream = compio::runtime::spawn({
        let (xsub, xpub) = (xsub.clone(), xpub.clone());
        async move {
            loop {
                let subscription = xpub.recv().await.unwrap();
                xsub.send(subscription).await.unwrap();
            }
        }
    });
    let _downstream = compio::runtime::spawn({
        let (xsub, xpub) = (xsub.clone(), xpub.clone());
        async move {
            loop {
                let message = xsub.recv().await.unwrap();
                xpub.send(message).await.unwrap();
            }
        }
    });

    let sub = SubSocket::new();
    sub.subscribe("topic");
    sub.connect(&backend).unwrap();
    let probe = msg("topic-probe");
    assert_eq!(publish_until(&publisher, &sub, &probe).await, probe);
    for message in [
        Message::from("topic-1").with("payload"),
        msg("other"),
        msg("topic-2"),
        msg("topic-end"),
    ] {
        within("publish", publisher.send(message)).await.unwrap();
    }
    assert_eq!(
        collect_until(&sub, &msg("topic-end"), |m| m == &probe).await,
        [
            Message::from("topic-1").with("payload"),
            msg("topic-2"),
            msg("topic-end")
        ]
    );
}

/// The slow-joiner aid: a PUB can wait until a subscriber is there before it publishes.
#[compio::test]
async fn a_pub_waits_until_a_subscriber_is_connected() {
    let publisher = PubSocket::new();
    assert_eq!(publisher.socket_type(), monocoque::SocketType::Pub);
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    assert!(
        !publisher
            .wait_connected(Some(Duration::from_millis(20)))
            .await,
        "no subscriber yet"
    );
    let subscriber = SubSocket::new();
    subscriber.connect(&endpoint).unwrap();
    assert!(
        within("a subscriber", publisher.wait_connected(None)).await,
        "a subscriber connected"
    );
    assert_eq!(publisher.connected_peers(), 1);
}
